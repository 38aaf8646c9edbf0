#pragma once

// Runs the ATen and BLAS calls of a scope on the calling thread alone.
// Products too small to share (a few hundred thousand multiply-adds) cost
// less on one thread than OpenMP's fork and join: a 192x64 float32 gemv takes
// 0.6 us on one thread and 4.4 us on two here. The thread count is restored
// when the scope ends, also on exceptions. Internal to the SDK.

#include <cstdint>

#ifdef FAIRSEQ2_HAVE_OPENMP
#include <omp.h>
#endif

namespace fairseq2::nn::detail {

// Below this many multiply-adds, an operation runs on one thread.
inline constexpr std::int64_t serial_work_limit = std::int64_t{1} << 17;

class SerialSection {
public:
    // Serial only when `work` (multiply-adds) is below serial_work_limit.
#ifdef FAIRSEQ2_HAVE_OPENMP
    explicit SerialSection(std::int64_t work)
        : threads_{work < serial_work_limit && !omp_in_parallel() ? omp_get_max_threads() : 1}
    {
        if (threads_ > 1)
            omp_set_num_threads(1);
    }

    ~SerialSection()
    {
        if (threads_ > 1)
            omp_set_num_threads(threads_);
    }
#else
    explicit SerialSection(std::int64_t /*work*/) {}
#endif

    SerialSection(const SerialSection&) = delete;
    SerialSection& operator=(const SerialSection&) = delete;

private:
    [[maybe_unused]] int threads_ = 1;
};

}  // namespace fairseq2::nn::detail

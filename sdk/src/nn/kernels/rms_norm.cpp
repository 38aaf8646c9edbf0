#include "rms_norm.hpp"

#include <cmath>

#include "bfloat16.hpp"

namespace fairseq2::nn::detail {

namespace {

template <typename T>
inline __attribute__((always_inline)) void normalise_rows(const T* x, std::int64_t x_stride, const T* weight, float eps, T* y,
                                                          std::int64_t dim, std::int64_t first, std::int64_t last)
{
    for (std::int64_t row = first; row < last; ++row) {
        const T* in = x + row * x_stride;
        T* out = y + row * dim;
        // Partial sums per lane, so the compiler may vectorise the loop.
        float partial[8] = {};
        std::int64_t i = 0;
        for (; i + 8 <= dim; i += 8)
            for (int j = 0; j < 8; ++j) {
                const float value = widen(in[i + j]);
                partial[j] += value * value;
            }
        float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
        for (; i < dim; ++i)
            sum += widen(in[i]) * widen(in[i]);
        const float scale = 1.0f / std::sqrt(sum / static_cast<float>(dim) + eps);
        for (i = 0; i < dim; ++i)
            store(out + i, widen(in[i]) * scale * widen(weight[i]));
    }
}

}  // namespace

FAIRSEQ2_CLONES void rms_norm_rows(const float* x, std::int64_t x_stride, const float* weight, float eps, float* y, std::int64_t dim,
                                   std::int64_t first, std::int64_t last)
{
    normalise_rows(x, x_stride, weight, eps, y, dim, first, last);
}

FAIRSEQ2_CLONES void rms_norm_rows(const std::uint16_t* x, std::int64_t x_stride, const std::uint16_t* weight, float eps,
                                   std::uint16_t* y, std::int64_t dim, std::int64_t first, std::int64_t last)
{
    normalise_rows(x, x_stride, weight, eps, y, dim, first, last);
}

}  // namespace fairseq2::nn::detail

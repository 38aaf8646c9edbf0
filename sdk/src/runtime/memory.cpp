#include "fairseq2/runtime/memory.hpp"

#include <mutex>

#include "weight_allocations.hpp"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace fairseq2 {

namespace {

#ifdef __GLIBC__
constexpr int retained_mmap_threshold = 32 << 20;  // glibc's upper limit on 64-bit
constexpr int default_mmap_threshold = 128 << 10;  // glibc's initial value
constexpr int retained_trim_threshold = 256 << 20;
#endif

// The policy retain_freed_memory() set, and the weight allocation scopes
// open, under one lock so that the last scope to close restores the policy.
struct Policy {
    std::mutex mutex;
    bool retaining = false;
    int weight_scopes = 0;
};

Policy& policy()
{
    static Policy instance;
    return instance;
}

}  // namespace

bool retain_freed_memory()
{
#ifdef __GLIBC__
    // Setting either also stops glibc from adapting them, which is the
    // point: its adaptive thresholds follow the sizes freed so far and shrink
    // the heap whenever twice the largest of them is free at its top.
    Policy& state = policy();
    std::lock_guard lock(state.mutex);
    const int mmap_threshold = state.weight_scopes > 0 ? default_mmap_threshold : retained_mmap_threshold;
    state.retaining = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, retained_trim_threshold) == 1;
    return state.retaining;
#else
    return false;
#endif
}

void release_free_memory()
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

namespace detail {

MappedWeightAllocations::MappedWeightAllocations()
{
#ifdef __GLIBC__
    Policy& state = policy();
    std::lock_guard lock(state.mutex);
    if (state.weight_scopes++ == 0 && state.retaining)
        mallopt(M_MMAP_THRESHOLD, default_mmap_threshold);
#endif
}

MappedWeightAllocations::~MappedWeightAllocations()
{
#ifdef __GLIBC__
    Policy& state = policy();
    std::lock_guard lock(state.mutex);
    if (--state.weight_scopes == 0 && state.retaining)
        mallopt(M_MMAP_THRESHOLD, retained_mmap_threshold);
#endif
}

}  // namespace detail

}  // namespace fairseq2

#include "fairseq2/runtime/memory.hpp"

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace fairseq2 {

bool retain_freed_memory()
{
#ifdef __GLIBC__
    // Setting either also stops glibc from adapting them, which is the
    // point: its adaptive thresholds follow the sizes freed so far and shrink
    // the heap whenever twice the largest of them is free at its top.
    constexpr int mmap_threshold = 32 << 20;  // glibc's upper limit on 64-bit
    constexpr int trim_threshold = 256 << 20;
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
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

}  // namespace fairseq2

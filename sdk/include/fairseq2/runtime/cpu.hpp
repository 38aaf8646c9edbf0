#pragma once

// Facts about the machine's CPUs that defaults depend on.

#include "fairseq2/version.hpp"

namespace fairseq2 {

// Physical cores (not hardware threads) this process may run on: distinct
// (package, core) pairs of /proc/cpuinfo among the allowed CPUs, falling
// back to std::thread::hardware_concurrency(); at least 1.
FAIRSEQ2_API int physical_core_count();

}  // namespace fairseq2

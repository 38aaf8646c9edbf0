#pragma once

// Lays a module's weights out for decoding: one block of memory, in
// registration order, backed by transparent huge pages where the system
// offers them. Decoding one token reads every weight once; with 4 KiB pages
// that is a TLB miss every 4 KiB, which on a virtual machine (two-level page
// walks) cost a quarter of the read bandwidth here. Model handlers pack the
// models they create and load; applications that build modules themselves
// may call it.

#include <cstdint>

#include "fairseq2/version.hpp"

namespace torch::nn {
class Module;
}

namespace fairseq2::nn {

struct PackedParameters {
    std::int64_t tensors = 0;  // parameters and buffers moved
    std::int64_t bytes = 0;    // bytes moved
    bool huge_pages = false;   // whether the system took the huge-page advice
};

// Moves the CPU parameters and buffers of `module` (recursively) whose
// memory LibTorch's allocator owns into one new block, each storage copied
// once, back to back at 16-byte boundaries in registration order (so the
// parts of a fused projection, registered one after another, stay adjacent
// and fuse without a copy). Tensors sharing a storage (tied weights, views)
// keep sharing it. Memory the allocator does not own (a memory-mapped
// checkpoint) is left where it is, as are tensors of other devices. Each
// old storage is handed back to the system as it is copied, a few
// megabytes at a time, unless something outside the module still holds it:
// packing needs no memory beyond the weights. When the block cannot be
// mapped nothing changes.
// Not thread-safe against concurrent use of the module.
FAIRSEQ2_API PackedParameters pack_parameters(torch::nn::Module& module);

}  // namespace fairseq2::nn

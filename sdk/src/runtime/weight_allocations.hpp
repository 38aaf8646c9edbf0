#pragma once

// How the SDK allocates while it reads, builds and packs weights. Internal.

namespace fairseq2::detail {

// While one of these lives (in any thread), and only when the application
// has called retain_freed_memory(), blocks of 128 KiB or more (glibc's own
// default threshold) get memory mappings of their own, as they would
// without that policy.
//
// Why: a model's weights pass through the heap on their way to the block
// that pack_parameters() copies them into (the checkpoint reader's tensors,
// the uninitialised parameters they replace, random initial values). Under
// retain_freed_memory() they would be carved from the heap between small
// objects that outlive them, so once packed they leave a hole the size of
// the weights, or twice it. The hole is handed back to the system, but
// every later temporary placed in it faults its pages in again and keeps
// them: across prefills and batches of different sizes the resident heap
// grew by the union of all their placements (20 to 30 MB for a 125M
// llama in bfloat16, and without a bound but the hole in a long-lived
// service). Mapped on their own, the weights' way-stations go back to the
// system when freed and leave the heap compact.
//
// Other threads allocating meanwhile get the same treatment, which costs
// them speed, never correctness.
class MappedWeightAllocations {
public:
    MappedWeightAllocations();
    ~MappedWeightAllocations();
    MappedWeightAllocations(const MappedWeightAllocations&) = delete;
    MappedWeightAllocations& operator=(const MappedWeightAllocations&) = delete;
};

}  // namespace fairseq2::detail

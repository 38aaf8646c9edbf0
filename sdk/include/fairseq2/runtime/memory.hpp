#pragma once

// How the process gets memory for tensors from the C library, and gives it
// back.

#include "fairseq2/version.hpp"

namespace fairseq2 {

// Makes the C library keep memory that tensors free for the next tensors,
// instead of handing it back to the system and taking a page fault per 4 KiB
// to get it back. A forward pass allocates and frees the same large
// temporaries (attention scores, feed-forward activations) in every layer;
// with glibc's defaults many of them are fresh pages each time, and on a
// virtual machine the page faults cost more than the arithmetic: a 512-token
// prefill of a 125M-parameter bfloat16 llama ran 5 times faster with this
// policy.
//
// With glibc it raises the mmap threshold to its maximum (32 MiB: only larger
// blocks, such as embedding tables, are mapped on their own) and keeps up to
// 256 MiB of free memory at the top of the heap. While the SDK reads,
// creates and packs a model's weights it maps blocks of 128 KiB or more on
// their own (glibc's default), so that the weights' temporary copies go
// back to the system once packed instead of leaving a hole the size of the
// weights in the heap, whose pages later temporaries would fault in and
// keep. It is a process-wide choice, so the SDK never makes it on its own:
// the `fairseq2` program and the benchmarks call it first thing, and
// embedders may. Returns false (and changes nothing) with C libraries other
// than glibc.
FAIRSEQ2_API bool retain_freed_memory();

// Hands free memory inside the heap back to the system (glibc's
// malloc_trim). Memory freed once for good, such as the separate weights that
// fused projections replace, would otherwise stay resident under
// retain_freed_memory(); fusing calls this itself. Does nothing with other C
// libraries.
FAIRSEQ2_API void release_free_memory();

}  // namespace fairseq2

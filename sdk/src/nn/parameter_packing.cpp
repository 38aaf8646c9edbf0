#include "fairseq2/nn/parameter_packing.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>

#include "fairseq2/logging.hpp"
#include "fairseq2/runtime/memory.hpp"
#include "storage_origin.hpp"

namespace fairseq2::nn {

namespace {

constexpr std::size_t huge_page_size = std::size_t{2} << 20;
// Enough for every element type; more would put gaps between the parts of
// a fused projection whose sizes are not multiples of it. Matrices of the
// usual widths stay at 64-byte boundaries anyway: the block starts at one
// and their sizes are multiples of 64 bytes.
constexpr std::size_t tensor_alignment = 16;

std::size_t round_up(std::size_t value, std::size_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

// An anonymous mapping starting at a huge-page boundary; the deleter of the
// storage that owns it unmaps it.
struct Block {
    void* base = nullptr;
    std::size_t length = 0;
};

void unmap_block(void* context)
{
    auto* block = static_cast<Block*>(context);
    munmap(block->base, block->length);
    delete block;
}

// Maps `length` bytes (a multiple of the huge-page size) at a huge-page
// boundary and advises huge pages for them; null when mapping fails.
Block* map_block(std::size_t length, bool& huge_pages)
{
    // Over-map by one huge page, then cut the mapping to the aligned part.
    const std::size_t mapped = length + huge_page_size;
    void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return nullptr;
    auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = round_up(start, huge_page_size);
    if (aligned > start)
        munmap(raw, aligned - start);
    const std::uintptr_t end = start + mapped;
    if (end > aligned + length)
        munmap(reinterpret_cast<void*>(aligned + length), end - (aligned + length));
    auto* base = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
    huge_pages = madvise(base, length, MADV_HUGEPAGE) == 0;
#else
    huge_pages = false;
#endif
    return new Block{base, length};
}

// Copies `bytes` from `from` to `to` in slices, and when `discard` is set
// hands each slice's source pages back to the system once copied, so that
// copying a storage never holds it twice (an embedding table of a 1B llama
// is 1 GB in float32). Only pages wholly inside the source go back: the
// allocator's bookkeeping next to an allocation lives outside it, and the
// source is freed right after, so its contents are never read again.
void copy_and_discard(char* to, const char* from, std::size_t bytes, bool discard)
{
    constexpr std::size_t slice = std::size_t{8} << 20;
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto start = reinterpret_cast<std::uintptr_t>(from);
    std::uintptr_t discarded = (start + page - 1) / page * page;  // first page wholly inside
    for (std::size_t done = 0; done < bytes;) {
        const std::size_t length = std::min(slice, bytes - done);
        std::memcpy(to + done, from + done, length);
        done += length;
        const std::uintptr_t copied = (start + done) / page * page;
        if (discard && copied > discarded) {
            madvise(reinterpret_cast<void*>(discarded), copied - discarded, MADV_DONTNEED);
            discarded = copied;
        }
    }
}

// One storage to move and every tensor of the module that uses it.
struct Move {
    c10::Storage storage;
    std::vector<at::Tensor> tensors;
    std::size_t offset = 0;  // in the block, bytes
};

}  // namespace

PackedParameters pack_parameters(torch::nn::Module& module)
{
    // Matrices first, then vectors, each in registration order: the weights
    // of a fused projection's parts end up adjacent even when each part
    // also has a bias (registered between them), and so do the biases.
    // A tensor registered under several names (tied weights) is moved once.
    std::vector<at::Tensor> tensors;
    std::set<const void*> seen;
    auto add = [&](const at::Tensor& tensor, bool matrices) {
        if (tensor.defined() && (tensor.dim() >= 2) == matrices && seen.insert(tensor.unsafeGetTensorImpl()).second)
            tensors.push_back(tensor);
    };
    for (const bool matrices : {true, false}) {
        for (const auto& item : module.named_parameters(/*recurse=*/true))
            add(item.value(), matrices);
        for (const auto& item : module.named_buffers(/*recurse=*/true))
            add(item.value(), matrices);
    }

    std::vector<Move> moves;
    std::map<const void*, std::size_t> move_of_storage;
    std::size_t total = 0;
    for (const at::Tensor& tensor : tensors) {
        if (!tensor.device().is_cpu() || !tensor.has_storage() || tensor.storage().nbytes() == 0 ||
            !detail::allocated_by_torch(tensor))
            continue;
        const void* key = tensor.storage().unsafeGetStorageImpl();
        auto [it, inserted] = move_of_storage.try_emplace(key, moves.size());
        if (inserted) {
            Move move;
            move.storage = tensor.storage();
            move.offset = total;
            total += round_up(move.storage.nbytes(), tensor_alignment);
            moves.push_back(std::move(move));
        }
        moves[it->second].tensors.push_back(tensor);
    }

    PackedParameters packed;
    if (moves.empty())
        return packed;
    Block* block = map_block(round_up(total, huge_page_size), packed.huge_pages);
    if (block == nullptr) {
        log().warn("Could not map {} bytes to pack the weights in; they stay where they are.", total);
        return packed;
    }
    c10::DataPtr data{block->base, block, &unmap_block, c10::Device(c10::kCPU)};
    c10::Storage storage{c10::Storage::use_byte_size_t(), block->length, std::move(data), nullptr, /*resizable=*/false};
    auto* base = static_cast<char*>(block->base);

    at::NoGradGuard no_grad;
    for (Move& move : moves) {
        // The source may go back page by page only if nothing outside the
        // module holds it (here one reference per tensor moved, and ours)
        // and it comes from LibTorch's default allocator, whose bookkeeping
        // (the C library's) lies outside the allocation.
        const bool sole_owner = move.storage.use_count() == static_cast<std::size_t>(move.tensors.size()) + 1;
        const bool default_allocator = move.storage.data_ptr().get_deleter() == c10::GetDefaultCPUAllocator()->raw_deleter();
        copy_and_discard(base + move.offset, static_cast<const char*>(move.storage.data()), move.storage.nbytes(),
                         sole_owner && default_allocator);
        for (at::Tensor& tensor : move.tensors) {
            // Parameters created in inference mode are inference tensors and
            // take new data only there.
            c10::InferenceMode mode{tensor.is_inference()};
            const auto element = static_cast<std::int64_t>(tensor.element_size());
            at::Tensor view = at::empty({0}, tensor.options());
            view.set_(storage, static_cast<std::int64_t>(move.offset) / element + tensor.storage_offset(), tensor.sizes(),
                      tensor.strides());
            tensor.set_data(view);
            ++packed.tensors;
        }
        packed.bytes += static_cast<std::int64_t>(move.storage.nbytes());
        move.tensors.clear();
        move.storage = c10::Storage();
    }
    // Storages that others still held stay resident with them; what was
    // freed and not discarded goes back now.
    release_free_memory();
    log().debug("Packed {} weight tensors ({} bytes) into one block{}.", packed.tensors, packed.bytes,
                packed.huge_pages ? " on huge pages" : "");
    return packed;
}

}  // namespace fairseq2::nn

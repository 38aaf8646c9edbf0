#pragma once

// Where a tensor's memory comes from. Internal to the SDK.

#include <ATen/core/Tensor.h>
#include <c10/core/Allocator.h>

namespace fairseq2::nn::detail {

// Whether `tensor`'s memory was allocated by its device's LibTorch
// allocator, as opposed to memory it only borrows: a memory-mapped
// checkpoint, or the block pack_parameters() placed it in. Copying borrowed
// memory would leave the original resident beside the copy.
inline bool allocated_by_torch(const at::Tensor& tensor)
{
    const c10::Allocator* allocator = c10::GetAllocator(tensor.device().type());
    return allocator != nullptr && tensor.storage().data_ptr().get_deleter() == allocator->raw_deleter();
}

}  // namespace fairseq2::nn::detail

#pragma once

// When the SDK's own CPU kernels (kernels/) stand in for ATen: float32 or
// bfloat16 tensors on the CPU that autograd need not differentiate (under
// InferenceMode or NoGradGuard, or tensors without requires_grad). The
// kernels compute what the ATen expressions beside them compute, in one pass
// over raw memory. Internal to the SDK.

#include <algorithm>
#include <cstdint>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "serial_section.hpp"

namespace fairseq2::nn::detail {

inline bool kernel_ready(const at::Tensor& tensor)
{
    return tensor.defined() && tensor.device().is_cpu() &&
           (tensor.scalar_type() == at::kFloat || tensor.scalar_type() == at::kBFloat16) &&
           !(at::GradMode::is_enabled() && tensor.requires_grad());
}

// Runs f(first, last) over [0, count) items of `work_per_item`
// multiply-adds each, split between threads only when the whole is worth a
// fork and join (serial_work_limit). Splits between threads only in files
// compiled with OpenMP (see sdk/CMakeLists.txt).
template <typename F>
void for_each_chunk(std::int64_t count, std::int64_t work_per_item, const F& f)
{
    const std::int64_t grain = std::max<std::int64_t>(1, serial_work_limit / std::max<std::int64_t>(1, work_per_item));
    at::parallel_for(0, count, grain, f);
}

}  // namespace fairseq2::nn::detail

#pragma once

// Root-mean-square normalisation of rows in one pass over raw memory, for
// RMSNorm on the CPU: the ATen expression takes six operations, each with
// its own dispatch and temporary, which cost more than the arithmetic for
// the few rows of a decoding step. Internal to the SDK; torch-free.

#include <cstdint>

namespace fairseq2::nn::detail {

// Rows [first, last): y = x / sqrt(mean(x^2) + eps) * weight in float32
// (bfloat16 values widened, the result rounded once). Row r of `dim`
// contiguous values is at x + r * x_stride and y + r * dim.
void rms_norm_rows(const float* x, std::int64_t x_stride, const float* weight, float eps, float* y, std::int64_t dim,
                   std::int64_t first, std::int64_t last);
void rms_norm_rows(const std::uint16_t* x, std::int64_t x_stride, const std::uint16_t* weight, float eps, std::uint16_t* y,
                   std::int64_t dim, std::int64_t first, std::int64_t last);

}  // namespace fairseq2::nn::detail

#pragma once

// Rotary position encoding of one position's vectors over raw memory, for
// RotaryEncoder on the CPU (the ATen expression goes through complex
// tensors: a conversion, a product and two views per call). Internal to the
// SDK; torch-free.

#include <cstdint>

namespace fairseq2::nn::detail {

// Turns the consecutive pairs (x0, x1) of `count` vectors of `dim` values,
// one after another at x (and y), by `turns`, the (cos, sin) of each pair's
// angle at this position (dim / 2 pairs): (x0 cos - x1 sin, x0 sin + x1 cos)
// in float32, rounded once to the element type. x and y may be the same.
void rotate_pairs(const float* x, float* y, std::int64_t count, std::int64_t dim, const float* turns);
void rotate_pairs(const std::uint16_t* x, std::uint16_t* y, std::int64_t count, std::int64_t dim, const float* turns);

// The same for the halves layout (Hugging Face's rotate_half): element i
// and element i + dim / 2 turn together by turn i, (x0 cos - x1 sin, x1 cos
// + x0 sin).
void rotate_halves(const float* x, float* y, std::int64_t count, std::int64_t dim, const float* turns);
void rotate_halves(const std::uint16_t* x, std::uint16_t* y, std::int64_t count, std::int64_t dim, const float* turns);

}  // namespace fairseq2::nn::detail

#pragma once

// RotaryEncoder's implementation state: its frequencies and the table of
// turns e^(i * position * freq) for positions [0, P), computed once and
// grown by doubling as longer sequences arrive. Internal to the SDK (the
// modules' path and the fused decoding step read it).

#include <mutex>

#include <ATen/ATen.h>

#include "fairseq2/nn/position_encoder.hpp"

namespace fairseq2::nn {

struct RotaryEncoder::Table {
    at::Tensor freqs;  // (d/2) float32, CPU
    std::int64_t max_seq_len = 0;
    std::mutex mutex;
    at::Tensor rotations;

    // (P, d/2) complex64 on `device` with P >= num_positions; as (cos, sin)
    // float pairs: turn i of position p at 2 * (p * d/2 + i). The pointer
    // stays valid until a longer table is asked for.
    at::Tensor get(std::int64_t num_positions, const at::Device& device);
};

}  // namespace fairseq2::nn

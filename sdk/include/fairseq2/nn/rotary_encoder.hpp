#pragma once

// Rotary position encoding over consecutive pairs of the last dimension, as
// fairseq2's RotaryEncoder: pair i at position p turns by p * theta^(-2i/d).
// Frequencies are a non-persistent buffer: not in the state dict, computed
// from the options.

#include <cstdint>
#include <mutex>
#include <optional>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

// Llama 3.1 frequency scaling (use_scaled_rope).
struct RopeScaling {
    double factor = 8.0;
    double low_freq_factor = 1.0;
    double high_freq_factor = 4.0;
    std::int64_t original_context_length = 8192;
};

// The frequencies theta^(-2i/d) for i < d/2, float32, scaled when `scaling`
// is set.
FAIRSEQ2_API at::Tensor rotary_frequencies(std::int64_t encoding_dim, double theta, const std::optional<RopeScaling>& scaling);

class FAIRSEQ2_API RotaryEncoder : public torch::nn::Module {
public:
    RotaryEncoder(std::int64_t encoding_dim, std::int64_t max_seq_len, double theta, std::optional<RopeScaling> scaling);

    // `x`: (..., S, ..., d) with positions along `seq_dim` (by default -2,
    // (..., S, d)), starting at `start_step`. Computed in float32, returned
    // in x's dtype.
    at::Tensor forward(const at::Tensor& x, std::int64_t start_step, std::int64_t seq_dim = -2) const;

    // e^(i * position * freq) for positions [0, P) (P >= num_positions),
    // (P, d/2) complex64 on `device`. The encoder keeps the table and grows
    // it by doubling as longer sequences arrive, so it is computed once
    // rather than per step.
    at::Tensor rotations(std::int64_t num_positions, const at::Device& device) const;

    std::int64_t encoding_dim;
    std::int64_t max_seq_len;

private:

    at::Tensor freqs_;  // (d/2) float32, CPU
    mutable std::mutex mutex_;
    mutable at::Tensor rotations_;
};

}  // namespace fairseq2::nn

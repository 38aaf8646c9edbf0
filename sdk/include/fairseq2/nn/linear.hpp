#pragma once

// A linear projection y = x W^T (+ b) whose parameters are allocated but not
// initialised until reset_parameters(), so a model built to receive a
// checkpoint spends no time on random initialisation.

#include <cstdint>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

class FAIRSEQ2_API Linear : public torch::nn::Module {
public:
    // Parameters: `weight` (output_dim, input_dim) and, with `bias`, `bias`.
    Linear(std::int64_t input_dim, std::int64_t output_dim, bool bias, const at::TensorOptions& options);

    // Kaiming-uniform weight and uniform bias, as torch.nn.Linear.
    void reset_parameters();

    at::Tensor forward(const at::Tensor& x) const;

    at::Tensor weight;
    at::Tensor bias;  // undefined without bias
};

// A projection that reuses another module's weight (tied embeddings). It
// registers the shared tensor as its own `weight` too, so state dicts hold
// the key under both names, as PyTorch writes them.
class FAIRSEQ2_API TiedProjection : public torch::nn::Module {
public:
    explicit TiedProjection(at::Tensor weight);

    at::Tensor forward(const at::Tensor& x) const;

    at::Tensor weight;
};

}  // namespace fairseq2::nn

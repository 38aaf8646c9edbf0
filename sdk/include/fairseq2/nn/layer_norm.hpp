#pragma once

// Layer normalisation over the last dimension. Families choose between
// RMSNorm (llama, qwen, mistral) and the standard layer norm (the NLLB and
// wav2vec2 transformers) through the LayerNorm interface.

#include <cstdint>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

class FAIRSEQ2_API LayerNorm : public torch::nn::Module {
public:
    ~LayerNorm() override;

    // `x`: (..., normalized_dim()); the result has x's shape and dtype.
    virtual at::Tensor forward(const at::Tensor& x) const = 0;

    // Weight ones, bias zeros.
    virtual void reset_parameters() = 0;

    virtual std::int64_t normalized_dim() const noexcept = 0;
};

struct RMSNormOptions {
    std::int64_t dim = 0;
    double eps = 1e-5;
    // A learned `weight` (dim); without, the norm has no parameters.
    bool elementwise_affine = true;
    // A learned `bias` (dim) added after the weight.
    bool bias = false;
};

// x * rsqrt(mean(x^2) + eps) * weight (+ bias), computed in float32.
class FAIRSEQ2_API RMSNorm final : public LayerNorm {
public:
    RMSNorm(const RMSNormOptions& options, const at::TensorOptions& tensor_options);

    // RMSNorm({.dim = dim, .eps = eps}, tensor_options).
    RMSNorm(std::int64_t dim, double eps, const at::TensorOptions& tensor_options);

    at::Tensor forward(const at::Tensor& x) const override;
    void reset_parameters() override;
    std::int64_t normalized_dim() const noexcept override { return options.dim; }

    RMSNormOptions options;
    at::Tensor weight;  // undefined without elementwise_affine
    at::Tensor bias;    // undefined without bias
    double eps;
};

struct StandardLayerNormOptions {
    std::int64_t dim = 0;
    double eps = 1e-5;
    bool elementwise_affine = true;
    bool bias = true;  // only with elementwise_affine
};

// (x - mean(x)) / sqrt(var(x) + eps) * weight + bias, as torch.nn.LayerNorm.
class FAIRSEQ2_API StandardLayerNorm final : public LayerNorm {
public:
    StandardLayerNorm(const StandardLayerNormOptions& options, const at::TensorOptions& tensor_options);

    at::Tensor forward(const at::Tensor& x) const override;
    void reset_parameters() override;
    std::int64_t normalized_dim() const noexcept override { return options.dim; }

    StandardLayerNormOptions options;
    at::Tensor weight;  // undefined without elementwise_affine
    at::Tensor bias;    // undefined without bias
};

}  // namespace fairseq2::nn

#pragma once

// Feed-forward networks of transformer layers. Families choose between the
// gated linear unit network of llama-style decoders,
// output_proj(act(gate_proj(x)) * inner_proj(x)), and the standard two-layer
// network of the original transformer, output_proj(act(inner_proj(x))),
// through the FeedForwardNetwork interface.

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "fairseq2/nn/linear.hpp"

namespace fairseq2::nn {

enum class Activation { relu, gelu, silu };

// act(x) in x's dtype.
FAIRSEQ2_API at::Tensor apply_activation(Activation activation, const at::Tensor& x);

class FAIRSEQ2_API FeedForwardNetwork : public torch::nn::Module {
public:
    ~FeedForwardNetwork() override;

    // (..., model_dim) -> (..., model_dim).
    virtual at::Tensor forward(const at::Tensor& x) = 0;

    virtual void reset_parameters() = 0;
};

// The width fairseq2 gives the inner projections of a GLU network:
// int(inner_dim * scale) rounded up to a multiple of `to_multiple`.
FAIRSEQ2_API std::int64_t glu_inner_dim(std::int64_t inner_dim, double inner_dim_scale, std::int64_t to_multiple);

struct GLUFeedForwardNetworkOptions {
    std::int64_t model_dim = 0;
    // Before scaling and rounding (see glu_inner_dim()).
    std::int64_t inner_dim = 0;
    double inner_dim_scale = 2.0 / 3.0;
    std::int64_t inner_dim_to_multiple = 1;
    // Biases on all three projections.
    bool bias = false;
    Activation gate_activation = Activation::silu;
};

// Submodules `gate_proj`, `inner_proj` (model_dim -> inner_dim) and
// `output_proj`.
class FAIRSEQ2_API GLUFeedForwardNetwork final : public FeedForwardNetwork {
public:
    GLUFeedForwardNetwork(const GLUFeedForwardNetworkOptions& options, const at::TensorOptions& tensor_options);

    // A SiLU-gated network without biases.
    GLUFeedForwardNetwork(std::int64_t model_dim, std::int64_t inner_dim, double inner_dim_scale, std::int64_t to_multiple,
                          const at::TensorOptions& tensor_options);

    ~GLUFeedForwardNetwork() override;

    void reset_parameters() override;

    at::Tensor forward(const at::Tensor& x) override;

    GLUFeedForwardNetworkOptions options;
    std::int64_t inner_dim;  // the width after scaling and rounding
    std::shared_ptr<Linear> gate_proj;
    std::shared_ptr<Linear> inner_proj;
    std::shared_ptr<Linear> output_proj;

private:
    // gate_proj and inner_proj as one product.
    std::unique_ptr<FusedProjection> gate_inner_proj_;
};

struct StandardFeedForwardNetworkOptions {
    std::int64_t model_dim = 0;
    std::int64_t inner_dim = 0;
    bool bias = true;
    Activation activation = Activation::relu;
};

// Submodules `inner_proj` (model_dim -> inner_dim) and `output_proj`.
class FAIRSEQ2_API StandardFeedForwardNetwork final : public FeedForwardNetwork {
public:
    StandardFeedForwardNetwork(const StandardFeedForwardNetworkOptions& options, const at::TensorOptions& tensor_options);

    void reset_parameters() override;

    at::Tensor forward(const at::Tensor& x) override;

    StandardFeedForwardNetworkOptions options;
    std::shared_ptr<Linear> inner_proj;
    std::shared_ptr<Linear> output_proj;
};

}  // namespace fairseq2::nn

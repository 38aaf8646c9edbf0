#pragma once

// The gated linear unit feed-forward network of llama-style decoders:
// output_proj(silu(gate_proj(x)) * inner_proj(x)).

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "fairseq2/nn/linear.hpp"

namespace fairseq2::nn {

// The width fairseq2 gives the inner projections: int(inner_dim * scale)
// rounded up to a multiple of `to_multiple`.
FAIRSEQ2_API std::int64_t glu_inner_dim(std::int64_t inner_dim, double inner_dim_scale, std::int64_t to_multiple);

class FAIRSEQ2_API GLUFeedForwardNetwork : public torch::nn::Module {
public:
    // Submodules `gate_proj`, `inner_proj` (model_dim -> glu_inner_dim) and
    // `output_proj`, none with bias.
    GLUFeedForwardNetwork(std::int64_t model_dim, std::int64_t inner_dim, double inner_dim_scale, std::int64_t to_multiple,
                          const at::TensorOptions& options);

    void reset_parameters();

    at::Tensor forward(const at::Tensor& x);

    std::int64_t inner_dim;
    std::shared_ptr<Linear> gate_proj;
    std::shared_ptr<Linear> inner_proj;
    std::shared_ptr<Linear> output_proj;

private:
    // gate_proj and inner_proj as one product.
    std::unique_ptr<FusedProjection> gate_inner_proj_;
};

}  // namespace fairseq2::nn

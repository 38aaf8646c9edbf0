#pragma once

// Multi-head attention with grouped-query heads, rotary positions and a
// key/value cache kept in the incremental state bag.

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "fairseq2/nn/linear.hpp"
#include "fairseq2/nn/rotary_encoder.hpp"

namespace fairseq2::nn {

class IncrementalStateBag;
class PaddingMask;

struct MultiheadAttentionOptions {
    std::int64_t model_dim = 0;
    std::int64_t num_heads = 0;
    // Defaults to num_heads; must divide it.
    std::int64_t num_key_value_heads = 0;
    // Each query attends to keys at its own position or before.
    bool causal = true;
    bool bias = false;
};

// Submodules (fairseq2 names): q_proj, k_proj, v_proj, output_proj and the
// optional pos_encoder (not in the state dict).
class FAIRSEQ2_API MultiheadAttention : public torch::nn::Module {
public:
    MultiheadAttention(const MultiheadAttentionOptions& options, std::shared_ptr<RotaryEncoder> pos_encoder,
                       const at::TensorOptions& tensor_options);

    void reset_parameters();

    // `x`: (N, S, model_dim). With a state bag, keys and values of earlier
    // steps come from (and the new ones go to) this module's cache, and
    // positions start at the bag's step number. `padding_mask` masks keys
    // (its length must equal the total key length).
    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag);

    MultiheadAttentionOptions options;
    std::int64_t head_dim;
    std::shared_ptr<Linear> q_proj;
    std::shared_ptr<Linear> k_proj;
    std::shared_ptr<Linear> v_proj;
    std::shared_ptr<Linear> output_proj;
    std::shared_ptr<RotaryEncoder> pos_encoder;

private:
    // q_proj, k_proj and v_proj as one product.
    std::unique_ptr<FusedProjection> qkv_proj_;
};

}  // namespace fairseq2::nn

#pragma once

// Transformer encoder layers and the encoder stack: self-attention over the
// whole (padded) sequence, then the feed-forward network, pre- or post-norm.

#include <memory>
#include <vector>

#include <torch/nn/module.h>

#include "fairseq2/nn/transformer_decoder.hpp"

namespace fairseq2::nn {

// Submodules (fairseq2 names): self_attn_layer_norm, self_attn,
// ffn_layer_norm, ffn. The attention should not be causal.
class FAIRSEQ2_API StandardTransformerEncoderLayer final : public torch::nn::Module {
public:
    StandardTransformerEncoderLayer(std::shared_ptr<MultiheadAttention> self_attn, std::shared_ptr<LayerNorm> self_attn_layer_norm,
                                    std::shared_ptr<FeedForwardNetwork> ffn, std::shared_ptr<LayerNorm> ffn_layer_norm,
                                    TransformerNormOrder norm_order = TransformerNormOrder::pre);

    void reset_parameters();

    // `x`: (N, S, dim); `padding_mask` (or null) marks the real positions.
    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask);

    TransformerNormOrder norm_order;
    std::shared_ptr<LayerNorm> self_attn_layer_norm;
    std::shared_ptr<MultiheadAttention> self_attn;
    std::shared_ptr<LayerNorm> ffn_layer_norm;
    std::shared_ptr<FeedForwardNetwork> ffn;
};

// Submodules: `layers` and the optional final `layer_norm`.
class FAIRSEQ2_API StandardTransformerEncoder final : public torch::nn::Module {
public:
    StandardTransformerEncoder(std::vector<std::shared_ptr<StandardTransformerEncoderLayer>> layers, std::shared_ptr<LayerNorm> layer_norm);

    void reset_parameters();

    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask);

    std::vector<std::shared_ptr<StandardTransformerEncoderLayer>> layers;
    std::shared_ptr<LayerNorm> layer_norm;  // null without
};

}  // namespace fairseq2::nn

#pragma once

// Pre-norm transformer decoder layers and the decoder stack.

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "fairseq2/nn/feed_forward.hpp"
#include "fairseq2/nn/multihead_attention.hpp"
#include "fairseq2/nn/rms_norm.hpp"

namespace fairseq2::nn {

// h = x + self_attn(self_attn_layer_norm(x)); y = h + ffn(ffn_layer_norm(h)).
class FAIRSEQ2_API StandardTransformerDecoderLayer : public torch::nn::Module {
public:
    StandardTransformerDecoderLayer(std::shared_ptr<MultiheadAttention> self_attn, std::shared_ptr<RMSNorm> self_attn_layer_norm,
                                    std::shared_ptr<GLUFeedForwardNetwork> ffn, std::shared_ptr<RMSNorm> ffn_layer_norm);

    void reset_parameters();

    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag);

    std::shared_ptr<RMSNorm> self_attn_layer_norm;
    std::shared_ptr<MultiheadAttention> self_attn;
    std::shared_ptr<RMSNorm> ffn_layer_norm;
    std::shared_ptr<GLUFeedForwardNetwork> ffn;
};

// Submodules: `layers` (0 ... L-1) and the final `layer_norm`.
class FAIRSEQ2_API StandardTransformerDecoder : public torch::nn::Module {
public:
    StandardTransformerDecoder(std::vector<std::shared_ptr<StandardTransformerDecoderLayer>> layers,
                               std::shared_ptr<RMSNorm> layer_norm);

    void reset_parameters();

    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag);

    std::vector<std::shared_ptr<StandardTransformerDecoderLayer>> layers;
    std::shared_ptr<RMSNorm> layer_norm;
};

}  // namespace fairseq2::nn

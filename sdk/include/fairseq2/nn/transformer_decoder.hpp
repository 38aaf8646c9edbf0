#pragma once

// Transformer decoder layers and the decoder stack, built from the SDK's
// interfaces: any LayerNorm, any FeedForwardNetwork, pre- or post-norm, and
// an optional encoder-decoder attention sublayer.

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/nn/module.h>

#include "fairseq2/nn/feed_forward.hpp"
#include "fairseq2/nn/layer_norm.hpp"
#include "fairseq2/nn/multihead_attention.hpp"

namespace fairseq2::nn {

// Where a sublayer normalises: pre-norm, y = x + f(norm(x)) (llama, NLLB),
// or post-norm, y = norm(x + f(x)) (the original transformer).
enum class TransformerNormOrder { pre, post };

// Self-attention, then (with an encoder) encoder-decoder attention, then the
// feed-forward network, each a residual sublayer with its norm. Submodules
// (fairseq2 names): self_attn_layer_norm, self_attn, encoder_decoder_attn,
// encoder_decoder_attn_layer_norm, ffn_layer_norm, ffn.
class FAIRSEQ2_API StandardTransformerDecoderLayer final : public torch::nn::Module {
public:
    StandardTransformerDecoderLayer(std::shared_ptr<MultiheadAttention> self_attn, std::shared_ptr<LayerNorm> self_attn_layer_norm,
                                    std::shared_ptr<FeedForwardNetwork> ffn, std::shared_ptr<LayerNorm> ffn_layer_norm,
                                    TransformerNormOrder norm_order = TransformerNormOrder::pre,
                                    std::shared_ptr<MultiheadAttention> encoder_decoder_attn = nullptr,
                                    std::shared_ptr<LayerNorm> encoder_decoder_attn_layer_norm = nullptr);

    void reset_parameters();

    // Decoder-only; throws InvalidArgumentError for a layer with an
    // encoder-decoder attention.
    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag);

    // With the encoder's output (N, T, dim) and its padding mask (or null).
    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, const at::Tensor& encoder_output,
                       const PaddingMask* encoder_padding_mask, IncrementalStateBag* state_bag);

    TransformerNormOrder norm_order;
    std::shared_ptr<LayerNorm> self_attn_layer_norm;
    std::shared_ptr<MultiheadAttention> self_attn;
    std::shared_ptr<LayerNorm> encoder_decoder_attn_layer_norm;  // null without
    std::shared_ptr<MultiheadAttention> encoder_decoder_attn;    // null without
    std::shared_ptr<LayerNorm> ffn_layer_norm;
    std::shared_ptr<FeedForwardNetwork> ffn;
};

// Submodules: `layers` (0 ... L-1) and the final `layer_norm` (pre-norm
// stacks have one, post-norm stacks usually none).
class FAIRSEQ2_API StandardTransformerDecoder final : public torch::nn::Module {
public:
    StandardTransformerDecoder(std::vector<std::shared_ptr<StandardTransformerDecoderLayer>> layers, std::shared_ptr<LayerNorm> layer_norm);

    void reset_parameters();

    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag);

    at::Tensor forward(const at::Tensor& x, const PaddingMask* padding_mask, const at::Tensor& encoder_output,
                       const PaddingMask* encoder_padding_mask, IncrementalStateBag* state_bag);

    std::vector<std::shared_ptr<StandardTransformerDecoderLayer>> layers;
    std::shared_ptr<LayerNorm> layer_norm;  // null without
};

}  // namespace fairseq2::nn

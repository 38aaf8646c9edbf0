#include "fairseq2/nn/transformer_decoder.hpp"

#include <ATen/ATen.h>

namespace fairseq2::nn {

StandardTransformerDecoderLayer::StandardTransformerDecoderLayer(std::shared_ptr<MultiheadAttention> self_attn,
                                                                 std::shared_ptr<RMSNorm> self_attn_layer_norm,
                                                                 std::shared_ptr<GLUFeedForwardNetwork> ffn,
                                                                 std::shared_ptr<RMSNorm> ffn_layer_norm)
{
    this->self_attn_layer_norm = register_module("self_attn_layer_norm", std::move(self_attn_layer_norm));
    this->self_attn = register_module("self_attn", std::move(self_attn));
    this->ffn_layer_norm = register_module("ffn_layer_norm", std::move(ffn_layer_norm));
    this->ffn = register_module("ffn", std::move(ffn));
}

void StandardTransformerDecoderLayer::reset_parameters()
{
    self_attn_layer_norm->reset_parameters();
    self_attn->reset_parameters();
    ffn_layer_norm->reset_parameters();
    ffn->reset_parameters();
}

at::Tensor StandardTransformerDecoderLayer::forward(const at::Tensor& x, const PaddingMask* padding_mask,
                                                    IncrementalStateBag* state_bag)
{
    at::Tensor h = x + self_attn->forward(self_attn_layer_norm->forward(x), padding_mask, state_bag);
    // Not h.add_(): the norm saved h for its backward pass, and changing h in
    // place would make that saved tensor reach itself through its new grad_fn
    // (a reference cycle that leaks the whole graph, caught by LeakSanitizer).
    return h + ffn->forward(ffn_layer_norm->forward(h));
}

StandardTransformerDecoder::StandardTransformerDecoder(std::vector<std::shared_ptr<StandardTransformerDecoderLayer>> layers,
                                                       std::shared_ptr<RMSNorm> layer_norm)
    : layers{std::move(layers)}
{
    torch::nn::ModuleList list;
    for (const auto& layer : this->layers)
        list->push_back(layer);
    register_module("layers", list);
    this->layer_norm = register_module("layer_norm", std::move(layer_norm));
}

void StandardTransformerDecoder::reset_parameters()
{
    for (const auto& layer : layers)
        layer->reset_parameters();
    layer_norm->reset_parameters();
}

at::Tensor StandardTransformerDecoder::forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag)
{
    at::Tensor h = x;
    for (const auto& layer : layers)
        h = layer->forward(h, padding_mask, state_bag);
    return layer_norm->forward(h);
}

}  // namespace fairseq2::nn

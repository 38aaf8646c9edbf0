#include "fairseq2/nn/transformer_decoder.hpp"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "fairseq2/error.hpp"
#include "fairseq2/nn/transformer_encoder.hpp"

namespace fairseq2::nn {

namespace {

// One residual sublayer in the layer's norm order. Not h.add_(): a norm may
// have saved its input for the backward pass, and changing it in place would
// make that saved tensor reach itself through its new grad_fn (a reference
// cycle that leaks the whole graph, caught by LeakSanitizer).
template <typename F>
at::Tensor residual(TransformerNormOrder order, const LayerNorm& norm, const at::Tensor& x, const F& sublayer)
{
    if (order == TransformerNormOrder::pre)
        return x + sublayer(norm.forward(x));
    return norm.forward(x + sublayer(x));
}

template <typename T>
std::shared_ptr<T> require(std::shared_ptr<T> module, const char* what)
{
    if (!module)
        throw InvalidArgumentError(std::string("A transformer layer needs its ") + what + ".");
    return module;
}

template <typename Layer>
void register_layers(torch::nn::Module& stack, const std::vector<std::shared_ptr<Layer>>& layers)
{
    torch::nn::ModuleList list;
    for (const auto& layer : layers)
        list->push_back(require(layer, "layers"));
    stack.register_module("layers", list);
}

}  // namespace

StandardTransformerDecoderLayer::StandardTransformerDecoderLayer(std::shared_ptr<MultiheadAttention> self_attn,
                                                                 std::shared_ptr<LayerNorm> self_attn_layer_norm,
                                                                 std::shared_ptr<FeedForwardNetwork> ffn,
                                                                 std::shared_ptr<LayerNorm> ffn_layer_norm, TransformerNormOrder norm_order,
                                                                 std::shared_ptr<MultiheadAttention> encoder_decoder_attn,
                                                                 std::shared_ptr<LayerNorm> encoder_decoder_attn_layer_norm)
    : norm_order{norm_order}
{
    this->self_attn_layer_norm = register_module("self_attn_layer_norm", require(std::move(self_attn_layer_norm), "self_attn_layer_norm"));
    this->self_attn = register_module("self_attn", require(std::move(self_attn), "self_attn"));
    if (encoder_decoder_attn || encoder_decoder_attn_layer_norm) {
        this->encoder_decoder_attn_layer_norm = register_module(
            "encoder_decoder_attn_layer_norm", require(std::move(encoder_decoder_attn_layer_norm), "encoder_decoder_attn_layer_norm"));
        this->encoder_decoder_attn = register_module("encoder_decoder_attn", require(std::move(encoder_decoder_attn), "encoder_decoder_attn"));
    }
    this->ffn_layer_norm = register_module("ffn_layer_norm", require(std::move(ffn_layer_norm), "ffn_layer_norm"));
    this->ffn = register_module("ffn", require(std::move(ffn), "ffn"));
}

void StandardTransformerDecoderLayer::reset_parameters()
{
    self_attn_layer_norm->reset_parameters();
    self_attn->reset_parameters();
    if (encoder_decoder_attn) {
        encoder_decoder_attn_layer_norm->reset_parameters();
        encoder_decoder_attn->reset_parameters();
    }
    ffn_layer_norm->reset_parameters();
    ffn->reset_parameters();
}

at::Tensor StandardTransformerDecoderLayer::forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag)
{
    if (encoder_decoder_attn)
        throw InvalidArgumentError("This decoder layer attends to an encoder's output, but none was given.");
    return forward(x, padding_mask, at::Tensor(), nullptr, state_bag);
}

at::Tensor StandardTransformerDecoderLayer::forward(const at::Tensor& x, const PaddingMask* padding_mask, const at::Tensor& encoder_output,
                                                    const PaddingMask* encoder_padding_mask, IncrementalStateBag* state_bag)
{
    at::Tensor h = residual(norm_order, *self_attn_layer_norm, x,
                            [&](const at::Tensor& in) { return self_attn->forward(in, padding_mask, state_bag); });
    if (encoder_decoder_attn) {
        if (!encoder_output.defined())
            throw InvalidArgumentError("This decoder layer attends to an encoder's output, but none was given.");
        h = residual(norm_order, *encoder_decoder_attn_layer_norm, h, [&](const at::Tensor& in) {
            return encoder_decoder_attn->forward(in, encoder_output, encoder_padding_mask, state_bag);
        });
    }
    return residual(norm_order, *ffn_layer_norm, h, [&](const at::Tensor& in) { return ffn->forward(in); });
}

StandardTransformerDecoder::StandardTransformerDecoder(std::vector<std::shared_ptr<StandardTransformerDecoderLayer>> layers,
                                                       std::shared_ptr<LayerNorm> layer_norm)
    : layers{std::move(layers)}
{
    register_layers(*this, this->layers);
    if (layer_norm)
        this->layer_norm = register_module("layer_norm", std::move(layer_norm));
}

void StandardTransformerDecoder::reset_parameters()
{
    for (const auto& layer : layers)
        layer->reset_parameters();
    if (layer_norm)
        layer_norm->reset_parameters();
}

at::Tensor StandardTransformerDecoder::forward(const at::Tensor& x, const PaddingMask* padding_mask, IncrementalStateBag* state_bag)
{
    at::Tensor h = x;
    for (const auto& layer : layers)
        h = layer->forward(h, padding_mask, state_bag);
    return layer_norm ? layer_norm->forward(h) : h;
}

at::Tensor StandardTransformerDecoder::forward(const at::Tensor& x, const PaddingMask* padding_mask, const at::Tensor& encoder_output,
                                               const PaddingMask* encoder_padding_mask, IncrementalStateBag* state_bag)
{
    at::Tensor h = x;
    for (const auto& layer : layers)
        h = layer->forward(h, padding_mask, encoder_output, encoder_padding_mask, state_bag);
    return layer_norm ? layer_norm->forward(h) : h;
}

StandardTransformerEncoderLayer::StandardTransformerEncoderLayer(std::shared_ptr<MultiheadAttention> self_attn,
                                                                 std::shared_ptr<LayerNorm> self_attn_layer_norm,
                                                                 std::shared_ptr<FeedForwardNetwork> ffn,
                                                                 std::shared_ptr<LayerNorm> ffn_layer_norm, TransformerNormOrder norm_order)
    : norm_order{norm_order}
{
    this->self_attn_layer_norm = register_module("self_attn_layer_norm", require(std::move(self_attn_layer_norm), "self_attn_layer_norm"));
    this->self_attn = register_module("self_attn", require(std::move(self_attn), "self_attn"));
    this->ffn_layer_norm = register_module("ffn_layer_norm", require(std::move(ffn_layer_norm), "ffn_layer_norm"));
    this->ffn = register_module("ffn", require(std::move(ffn), "ffn"));
}

void StandardTransformerEncoderLayer::reset_parameters()
{
    self_attn_layer_norm->reset_parameters();
    self_attn->reset_parameters();
    ffn_layer_norm->reset_parameters();
    ffn->reset_parameters();
}

at::Tensor StandardTransformerEncoderLayer::forward(const at::Tensor& x, const PaddingMask* padding_mask)
{
    at::Tensor h = residual(norm_order, *self_attn_layer_norm, x,
                            [&](const at::Tensor& in) { return self_attn->forward(in, padding_mask, nullptr); });
    return residual(norm_order, *ffn_layer_norm, h, [&](const at::Tensor& in) { return ffn->forward(in); });
}

StandardTransformerEncoder::StandardTransformerEncoder(std::vector<std::shared_ptr<StandardTransformerEncoderLayer>> layers,
                                                       std::shared_ptr<LayerNorm> layer_norm)
    : layers{std::move(layers)}
{
    register_layers(*this, this->layers);
    if (layer_norm)
        this->layer_norm = register_module("layer_norm", std::move(layer_norm));
}

void StandardTransformerEncoder::reset_parameters()
{
    for (const auto& layer : layers)
        layer->reset_parameters();
    if (layer_norm)
        layer_norm->reset_parameters();
}

at::Tensor StandardTransformerEncoder::forward(const at::Tensor& x, const PaddingMask* padding_mask)
{
    at::Tensor h = x;
    for (const auto& layer : layers)
        h = layer->forward(h, padding_mask);
    return layer_norm ? layer_norm->forward(h) : h;
}

}  // namespace fairseq2::nn

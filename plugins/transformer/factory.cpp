#include "factory.hpp"

#include <cmath>

#include <ATen/ATen.h>

namespace fairseq2::models::transformer {

namespace {

// fairseq's padding index, by which its sinusoidal positions are offset
// (fairseq2's _legacy_pad_idx): the first token is at position 2.
constexpr std::int64_t legacy_pad_idx = 1;

nn::TransformerNormOrder norm_order(const TransformerConfig& config)
{
    return config.pre_norm() ? nn::TransformerNormOrder::pre : nn::TransformerNormOrder::post;
}

}  // namespace

VocabularyInfo source_vocab_info(const TransformerConfig& config)
{
    VocabularyInfo info = config.vocab_info;
    info.size = config.source_vocab();
    return info;
}

TransformerFactory::TransformerFactory(TransformerConfig config, at::TensorOptions options) : config_{std::move(config)}, options_{options}
{
}

std::shared_ptr<TransformerModel> TransformerFactory::create_model() const
{
    auto encoder_embed = create_embedding(config_.source_vocab());
    auto decoder_embed = config_.shared_embeddings ? encoder_embed : create_embedding(config_.vocab_info.size);
    std::shared_ptr<torch::nn::Module> final_proj;
    if (config_.tied_final_proj)
        final_proj = std::make_shared<nn::TiedProjection>(decoder_embed->weight);
    else
        final_proj = std::make_shared<nn::Linear>(config_.model_dim, config_.vocab_info.size, false, options_);
    return std::make_shared<TransformerModel>(create_frontend(encoder_embed), create_encoder(), create_frontend(decoder_embed),
                                              create_decoder(), std::move(final_proj), config_.max_seq_len, source_vocab_info(config_),
                                              config_.vocab_info);
}

std::shared_ptr<nn::StandardEmbedding> TransformerFactory::create_embedding(std::int64_t vocab_size) const
{
    return std::make_shared<nn::StandardEmbedding>(vocab_size, config_.model_dim, config_.vocab_info.pad_idx, options_);
}

std::shared_ptr<nn::TransformerEmbeddingFrontend> TransformerFactory::create_frontend(std::shared_ptr<nn::StandardEmbedding> embed) const
{
    nn::SinusoidalPositionEncoderOptions positions;
    positions.encoding_dim = config_.model_dim;
    positions.max_seq_len = config_.max_seq_len;
    positions.legacy_pad_idx = legacy_pad_idx;
    nn::TransformerEmbeddingFrontendOptions options;
    options.scale = std::sqrt(static_cast<double>(config_.model_dim));
    return std::make_shared<nn::TransformerEmbeddingFrontend>(std::move(embed), std::make_shared<nn::SinusoidalPositionEncoder>(positions),
                                                              nullptr, options);
}

std::shared_ptr<nn::StandardTransformerEncoder> TransformerFactory::create_encoder() const
{
    std::vector<std::shared_ptr<nn::StandardTransformerEncoderLayer>> layers;
    for (std::int64_t i = 0; i < config_.num_encoder_layers; ++i)
        layers.push_back(std::make_shared<nn::StandardTransformerEncoderLayer>(
            create_attention(config_.num_encoder_attn_heads, false), create_layer_norm(), create_ffn(), create_layer_norm(),
            norm_order(config_)));
    return std::make_shared<nn::StandardTransformerEncoder>(std::move(layers), config_.pre_norm() ? create_layer_norm() : nullptr);
}

std::shared_ptr<nn::StandardTransformerDecoder> TransformerFactory::create_decoder() const
{
    std::vector<std::shared_ptr<nn::StandardTransformerDecoderLayer>> layers;
    for (std::int64_t i = 0; i < config_.num_decoder_layers; ++i)
        layers.push_back(std::make_shared<nn::StandardTransformerDecoderLayer>(
            create_attention(config_.num_decoder_attn_heads, true), create_layer_norm(), create_ffn(), create_layer_norm(),
            norm_order(config_), create_attention(config_.num_decoder_attn_heads, false), create_layer_norm()));
    return std::make_shared<nn::StandardTransformerDecoder>(std::move(layers), config_.pre_norm() ? create_layer_norm() : nullptr);
}

std::shared_ptr<nn::MultiheadAttention> TransformerFactory::create_attention(std::int64_t num_heads, bool causal) const
{
    nn::MultiheadAttentionOptions options;
    options.model_dim = config_.model_dim;
    options.num_heads = num_heads;
    options.causal = causal;
    options.qkv_bias = true;
    options.output_bias = true;
    return std::make_shared<nn::MultiheadAttention>(options, nullptr, options_);
}

std::shared_ptr<nn::StandardFeedForwardNetwork> TransformerFactory::create_ffn() const
{
    nn::StandardFeedForwardNetworkOptions options;
    options.model_dim = config_.model_dim;
    options.inner_dim = config_.ffn_inner_dim;
    options.bias = true;
    options.activation = nn::Activation::relu;
    return std::make_shared<nn::StandardFeedForwardNetwork>(options, options_);
}

std::shared_ptr<nn::StandardLayerNorm> TransformerFactory::create_layer_norm() const
{
    nn::StandardLayerNormOptions options;
    options.dim = config_.model_dim;
    options.eps = 1e-5;
    return std::make_shared<nn::StandardLayerNorm>(options, options_);
}

}  // namespace fairseq2::models::transformer

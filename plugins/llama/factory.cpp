#include "factory.hpp"

#include <ATen/ATen.h>


namespace fairseq2::models::llama {

namespace {

constexpr double rms_norm_eps = 1e-5;

}  // namespace

LLaMAFactory::LLaMAFactory(LLaMAConfig config, at::TensorOptions options) : config_{std::move(config)}, options_{options} {}

std::shared_ptr<LLaMAModel> LLaMAFactory::create_model() const
{
    auto frontend = create_decoder_frontend();
    auto final_proj = create_final_projection(*frontend);
    return std::make_shared<LLaMAModel>(frontend, create_decoder(), final_proj, config_.max_seq_len, config_.vocab_info);
}

std::shared_ptr<nn::TransformerEmbeddingFrontend> LLaMAFactory::create_decoder_frontend() const
{
    auto embed = std::make_shared<nn::StandardEmbedding>(config_.vocab_info.size, config_.model_dim, config_.vocab_info.pad_idx, options_);
    return std::make_shared<nn::TransformerEmbeddingFrontend>(std::move(embed));
}

std::shared_ptr<nn::StandardTransformerDecoder> LLaMAFactory::create_decoder() const
{
    std::vector<std::shared_ptr<nn::StandardTransformerDecoderLayer>> layers;
    layers.reserve(static_cast<std::size_t>(config_.num_layers));
    for (std::int64_t i = 0; i < config_.num_layers; ++i)
        layers.push_back(create_decoder_layer());
    return std::make_shared<nn::StandardTransformerDecoder>(std::move(layers), create_layer_norm());
}

std::shared_ptr<nn::StandardTransformerDecoderLayer> LLaMAFactory::create_decoder_layer() const
{
    return std::make_shared<nn::StandardTransformerDecoderLayer>(create_attention(), create_layer_norm(), create_ffn(),
                                                                 create_layer_norm());
}

std::shared_ptr<nn::MultiheadAttention> LLaMAFactory::create_attention() const
{
    nn::MultiheadAttentionOptions options;
    options.model_dim = config_.model_dim;
    options.num_heads = config_.num_attn_heads;
    options.num_key_value_heads = config_.num_key_value_heads;
    options.causal = true;
    options.bias = false;
    return std::make_shared<nn::MultiheadAttention>(options, create_position_encoder(), options_);
}

std::shared_ptr<nn::RotaryEncoder> LLaMAFactory::create_position_encoder() const
{
    std::optional<nn::RopeScaling> scaling;
    if (config_.use_scaled_rope)
        scaling = nn::RopeScaling{config_.rope_scaling.factor, config_.rope_scaling.frequency_factors[0],
                                  config_.rope_scaling.frequency_factors[1], config_.rope_scaling.original_context_length};
    return std::make_shared<nn::RotaryEncoder>(config_.model_dim / config_.num_attn_heads, config_.max_seq_len, config_.rope_theta,
                                               scaling);
}

std::shared_ptr<nn::GLUFeedForwardNetwork> LLaMAFactory::create_ffn() const
{
    auto inner_dim = static_cast<std::int64_t>(static_cast<double>(config_.ffn_inner_dim) * config_.ffn_inner_dim_multiplier);
    return std::make_shared<nn::GLUFeedForwardNetwork>(config_.model_dim, inner_dim, config_.ffn_inner_dim_scale,
                                                       config_.ffn_inner_dim_to_multiple, options_);
}

std::shared_ptr<nn::RMSNorm> LLaMAFactory::create_layer_norm() const
{
    return std::make_shared<nn::RMSNorm>(config_.model_dim, rms_norm_eps, options_);
}

std::shared_ptr<torch::nn::Module> LLaMAFactory::create_final_projection(const nn::TransformerEmbeddingFrontend& frontend) const
{
    if (config_.tied_embeddings)
        return std::make_shared<nn::TiedProjection>(frontend.embed->weight);
    return std::make_shared<nn::Linear>(config_.model_dim, config_.vocab_info.size, false, options_);
}

}  // namespace fairseq2::models::llama

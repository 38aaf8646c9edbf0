#include "factory.hpp"

#include <ATen/ATen.h>

namespace your_model {

YourModelFactory::YourModelFactory(YourModelConfig config, at::TensorOptions options) : config_{std::move(config)}, options_{options} {}

std::shared_ptr<YourModel> YourModelFactory::create_model() const
{
    return std::make_shared<YourModel>(create_embedding(), create_decoder(), create_final_projection(), config_.max_seq_len,
                                       config_.vocab_info, config_.scale_embeddings);
}

std::shared_ptr<fairseq2::nn::StandardEmbedding> YourModelFactory::create_embedding() const
{
    return std::make_shared<fairseq2::nn::StandardEmbedding>(config_.vocab_info.size, config_.model_dim, config_.vocab_info.pad_idx,
                                                             options_);
}

std::shared_ptr<fairseq2::nn::StandardTransformerDecoder> YourModelFactory::create_decoder() const
{
    std::vector<std::shared_ptr<fairseq2::nn::StandardTransformerDecoderLayer>> layers;
    for (std::int64_t i = 0; i < config_.num_layers; ++i)
        layers.push_back(create_decoder_layer());
    return std::make_shared<fairseq2::nn::StandardTransformerDecoder>(std::move(layers), create_layer_norm());
}

std::shared_ptr<fairseq2::nn::StandardTransformerDecoderLayer> YourModelFactory::create_decoder_layer() const
{
    return std::make_shared<fairseq2::nn::StandardTransformerDecoderLayer>(create_attention(), create_layer_norm(), create_ffn(),
                                                                           create_layer_norm());
}

std::shared_ptr<fairseq2::nn::MultiheadAttention> YourModelFactory::create_attention() const
{
    fairseq2::nn::MultiheadAttentionOptions options;
    options.model_dim = config_.model_dim;
    options.num_heads = config_.num_attn_heads;
    options.num_key_value_heads = config_.num_key_value_heads;
    options.causal = true;
    auto rope = std::make_shared<fairseq2::nn::RotaryEncoder>(config_.model_dim / config_.num_attn_heads, config_.max_seq_len,
                                                              config_.rope_theta);
    return std::make_shared<fairseq2::nn::MultiheadAttention>(options, std::move(rope), options_);
}

std::shared_ptr<fairseq2::nn::GLUFeedForwardNetwork> YourModelFactory::create_ffn() const
{
    return std::make_shared<fairseq2::nn::GLUFeedForwardNetwork>(config_.model_dim, config_.ffn_inner_dim, 2.0 / 3.0, 256, options_);
}

std::shared_ptr<fairseq2::nn::RMSNorm> YourModelFactory::create_layer_norm() const
{
    return std::make_shared<fairseq2::nn::RMSNorm>(config_.model_dim, 1e-6, options_);
}

std::shared_ptr<fairseq2::nn::Linear> YourModelFactory::create_final_projection() const
{
    return std::make_shared<fairseq2::nn::Linear>(config_.model_dim, config_.vocab_info.size, false, options_);
}

}  // namespace your_model

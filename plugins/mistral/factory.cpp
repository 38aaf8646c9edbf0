#include "factory.hpp"

#include <ATen/ATen.h>

namespace fairseq2::models::mistral {

VocabularyInfo mistral_vocab_info(const MistralConfig& config)
{
    return VocabularyInfo{config.vocab_size, 0, config.bos_idx, config.eos_idx, config.pad_idx};
}

MistralFactory::MistralFactory(MistralConfig config, at::TensorOptions options) : config_{std::move(config)}, options_{options} {}

std::shared_ptr<MistralModel> MistralFactory::create_model() const
{
    return std::make_shared<MistralModel>(create_decoder_frontend(), create_decoder(), create_final_projection(), config_.max_seq_len,
                                          mistral_vocab_info(config_));
}

std::shared_ptr<nn::TransformerEmbeddingFrontend> MistralFactory::create_decoder_frontend() const
{
    auto embed = std::make_shared<nn::StandardEmbedding>(config_.vocab_size, config_.model_dim, config_.pad_idx, options_);
    return std::make_shared<nn::TransformerEmbeddingFrontend>(std::move(embed));
}

std::shared_ptr<nn::StandardTransformerDecoder> MistralFactory::create_decoder() const
{
    std::vector<std::shared_ptr<nn::StandardTransformerDecoderLayer>> layers;
    layers.reserve(static_cast<std::size_t>(config_.num_layers));
    for (std::int64_t i = 0; i < config_.num_layers; ++i)
        layers.push_back(create_decoder_layer());
    return std::make_shared<nn::StandardTransformerDecoder>(std::move(layers), create_layer_norm());
}

std::shared_ptr<nn::StandardTransformerDecoderLayer> MistralFactory::create_decoder_layer() const
{
    return std::make_shared<nn::StandardTransformerDecoderLayer>(create_attention(), create_layer_norm(), create_ffn(),
                                                                 create_layer_norm());
}

std::shared_ptr<nn::MultiheadAttention> MistralFactory::create_attention() const
{
    nn::MultiheadAttentionOptions options;
    options.model_dim = config_.model_dim;
    options.num_heads = config_.num_attn_heads;
    options.num_key_value_heads = config_.num_key_value_heads;
    options.head_dim = config_.attention_head_dim();
    options.causal = true;
    options.sliding_window = config_.attn_window_len.value_or(0);
    options.qkv_bias = false;
    options.output_bias = false;
    return std::make_shared<nn::MultiheadAttention>(options, create_position_encoder(), options_);
}

std::shared_ptr<nn::RotaryEncoder> MistralFactory::create_position_encoder() const
{
    // fairseq2's RotaryEncoder: consecutive pairs (Hugging Face checkpoints
    // are permuted on import).
    nn::RotaryEncoderOptions options;
    options.encoding_dim = config_.attention_head_dim();
    options.max_seq_len = config_.max_seq_len;
    options.theta = config_.rope_theta;
    options.layout = nn::RotaryLayout::consecutive_pairs;
    return std::make_shared<nn::RotaryEncoder>(options);
}

std::shared_ptr<nn::GLUFeedForwardNetwork> MistralFactory::create_ffn() const
{
    nn::GLUFeedForwardNetworkOptions options;
    options.model_dim = config_.model_dim;
    options.inner_dim = config_.ffn_inner_dim;
    options.inner_dim_scale = 1.0;
    options.inner_dim_to_multiple = 1;
    options.bias = false;
    options.gate_activation = nn::Activation::silu;
    return std::make_shared<nn::GLUFeedForwardNetwork>(options, options_);
}

std::shared_ptr<nn::RMSNorm> MistralFactory::create_layer_norm() const
{
    return std::make_shared<nn::RMSNorm>(config_.model_dim, config_.rms_norm_eps, options_);
}

std::shared_ptr<nn::Linear> MistralFactory::create_final_projection() const
{
    return std::make_shared<nn::Linear>(config_.model_dim, config_.vocab_size, false, options_);
}

}  // namespace fairseq2::models::mistral

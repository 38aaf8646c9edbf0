#include "factory.hpp"

#include <ATen/ATen.h>

namespace fairseq2::models::qwen {

VocabularyInfo qwen_vocab_info(const QwenConfig& config)
{
    return VocabularyInfo{config.vocab_size, std::nullopt, std::nullopt, config.eos_idx, std::nullopt};
}

QwenFactory::QwenFactory(QwenConfig config, at::TensorOptions options) : config_{std::move(config)}, options_{options} {}

std::shared_ptr<QwenModel> QwenFactory::create_model() const
{
    auto frontend = create_decoder_frontend();
    auto final_proj = create_final_projection(*frontend);
    return std::make_shared<QwenModel>(frontend, create_decoder(), final_proj, config_.max_seq_len, qwen_vocab_info(config_));
}

std::shared_ptr<nn::TransformerEmbeddingFrontend> QwenFactory::create_decoder_frontend() const
{
    auto embed = std::make_shared<nn::StandardEmbedding>(config_.vocab_size, config_.model_dim, std::nullopt, options_);
    return std::make_shared<nn::TransformerEmbeddingFrontend>(std::move(embed));
}

std::shared_ptr<nn::StandardTransformerDecoder> QwenFactory::create_decoder() const
{
    std::vector<std::shared_ptr<nn::StandardTransformerDecoderLayer>> layers;
    layers.reserve(static_cast<std::size_t>(config_.num_layers));
    for (std::int64_t i = 0; i < config_.num_layers; ++i)
        layers.push_back(create_decoder_layer());
    return std::make_shared<nn::StandardTransformerDecoder>(std::move(layers), create_layer_norm());
}

std::shared_ptr<nn::StandardTransformerDecoderLayer> QwenFactory::create_decoder_layer() const
{
    return std::make_shared<nn::StandardTransformerDecoderLayer>(create_attention(), create_layer_norm(), create_ffn(),
                                                                 create_layer_norm());
}

std::shared_ptr<nn::MultiheadAttention> QwenFactory::create_attention() const
{
    nn::MultiheadAttentionOptions options;
    options.model_dim = config_.model_dim;
    options.num_heads = config_.num_attn_heads;
    options.num_key_value_heads = config_.num_key_value_heads;
    options.head_dim = config_.attention_head_dim();
    options.causal = true;
    options.qkv_bias = config_.qkv_proj_bias;
    options.output_bias = false;
    std::shared_ptr<nn::LayerNorm> q_norm;
    std::shared_ptr<nn::LayerNorm> k_norm;
    if (config_.q_norm)
        q_norm = create_head_norm();
    if (config_.k_norm)
        k_norm = create_head_norm();
    return std::make_shared<nn::MultiheadAttention>(options, create_position_encoder(), options_, std::move(q_norm), std::move(k_norm));
}

std::shared_ptr<nn::RotaryEncoder> QwenFactory::create_position_encoder() const
{
    // fairseq2's ReferenceRotaryEncoder: Hugging Face's rotate-half layout,
    // so Qwen checkpoints need no q/k permutation.
    nn::RotaryEncoderOptions options;
    options.encoding_dim = config_.attention_head_dim();
    options.max_seq_len = config_.max_seq_len;
    options.theta = config_.rope_theta;
    options.layout = nn::RotaryLayout::halves;
    return std::make_shared<nn::RotaryEncoder>(options);
}

std::shared_ptr<nn::GLUFeedForwardNetwork> QwenFactory::create_ffn() const
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

std::shared_ptr<nn::RMSNorm> QwenFactory::create_layer_norm() const
{
    return std::make_shared<nn::RMSNorm>(config_.model_dim, config_.rms_norm_eps, options_);
}

std::shared_ptr<nn::RMSNorm> QwenFactory::create_head_norm() const
{
    return std::make_shared<nn::RMSNorm>(config_.attention_head_dim(), config_.rms_norm_eps, options_);
}

std::shared_ptr<torch::nn::Module> QwenFactory::create_final_projection(const nn::TransformerEmbeddingFrontend& frontend) const
{
    if (config_.tied_embeddings)
        return std::make_shared<nn::TiedProjection>(frontend.embed->weight);
    return std::make_shared<nn::Linear>(config_.model_dim, config_.vocab_size, false, options_);
}

}  // namespace fairseq2::models::qwen

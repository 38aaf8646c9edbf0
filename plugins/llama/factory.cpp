#include "factory.hpp"

#include <numbers>

#include <ATen/ATen.h>


namespace fairseq2::models::llama {

std::function<double(double)> llama3_frequency_scaler(const LLaMARopeScalingConfig& scaling)
{
    return [scaling](double freq) {
        const double original = static_cast<double>(scaling.original_context_length);
        const double low = scaling.frequency_factors[0];
        const double high = scaling.frequency_factors[1];
        const double wavelen = 2.0 * std::numbers::pi / freq;
        if (wavelen < original / high)
            return freq;
        if (wavelen > original / low)
            return freq / scaling.factor;
        const double smooth = (original / wavelen - low) / (high - low);
        return (1.0 - smooth) * freq / scaling.factor + smooth * freq;
    };
}

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
    options.head_dim = config_.attention_head_dim();
    options.causal = true;
    options.qkv_bias = config_.attention_bias;
    options.output_bias = config_.attention_bias;
    return std::make_shared<nn::MultiheadAttention>(options, create_position_encoder(), options_);
}

std::shared_ptr<nn::RotaryEncoder> LLaMAFactory::create_position_encoder() const
{
    nn::RotaryEncoderOptions options;
    options.encoding_dim = config_.attention_head_dim();
    options.max_seq_len = config_.max_seq_len;
    options.theta = config_.rope_theta;
    if (config_.use_scaled_rope)
        options.frequency_scaler = llama3_frequency_scaler(config_.rope_scaling);
    return std::make_shared<nn::RotaryEncoder>(options);
}

std::shared_ptr<nn::GLUFeedForwardNetwork> LLaMAFactory::create_ffn() const
{
    auto inner_dim = static_cast<std::int64_t>(static_cast<double>(config_.ffn_inner_dim) * config_.ffn_inner_dim_multiplier);
    nn::GLUFeedForwardNetworkOptions options;
    options.model_dim = config_.model_dim;
    options.inner_dim = inner_dim;
    options.inner_dim_scale = config_.ffn_inner_dim_scale;
    options.inner_dim_to_multiple = config_.ffn_inner_dim_to_multiple;
    options.bias = config_.mlp_bias;
    return std::make_shared<nn::GLUFeedForwardNetwork>(options, options_);
}

std::shared_ptr<nn::RMSNorm> LLaMAFactory::create_layer_norm() const
{
    return std::make_shared<nn::RMSNorm>(config_.model_dim, config_.rms_norm_eps, options_);
}

std::shared_ptr<torch::nn::Module> LLaMAFactory::create_final_projection(const nn::TransformerEmbeddingFrontend& frontend) const
{
    if (config_.tied_embeddings)
        return std::make_shared<nn::TiedProjection>(frontend.embed->weight);
    return std::make_shared<nn::Linear>(config_.model_dim, config_.vocab_info.size, false, options_);
}

}  // namespace fairseq2::models::llama

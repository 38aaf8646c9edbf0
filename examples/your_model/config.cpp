#include "config.hpp"

#include <string>

#include "fairseq2/error.hpp"

namespace your_model {

namespace {

void require(bool condition, const std::string& field, const std::string& expectation)
{
    if (!condition)
        throw fairseq2::ConfigError("The field '" + field + "' of the your_model config is invalid: " + expectation + ".");
}

}  // namespace

void YourModelConfig::validate() const
{
    require(model_dim > 0, "model_dim", "it must be positive, but is " + std::to_string(model_dim));
    require(max_seq_len > 0, "max_seq_len", "it must be positive, but is " + std::to_string(max_seq_len));
    require(vocab_info.size > 0, "vocab_info.size", "it must be positive, but is " + std::to_string(vocab_info.size));
    require(num_layers > 0, "num_layers", "it must be positive, but is " + std::to_string(num_layers));
    require(num_attn_heads > 0 && model_dim % num_attn_heads == 0, "num_attn_heads",
            "it must divide model_dim (" + std::to_string(model_dim) + "), but is " + std::to_string(num_attn_heads));
    require((model_dim / num_attn_heads) % 2 == 0, "num_attn_heads", "model_dim / num_attn_heads must be even for rotary encoding");
    require(num_key_value_heads > 0 && num_attn_heads % num_key_value_heads == 0, "num_key_value_heads",
            "it must divide num_attn_heads (" + std::to_string(num_attn_heads) + "), but is " + std::to_string(num_key_value_heads));
    require(ffn_inner_dim > 0, "ffn_inner_dim", "it must be positive, but is " + std::to_string(ffn_inner_dim));
    require(rope_theta > 0.0, "rope_theta", "it must be positive, but is " + std::to_string(rope_theta));
}

void register_your_model_configs(fairseq2::ConfigRegistry<YourModelConfig> registry)
{
    // Small enough to run anywhere: for tests and demos.
    YourModelConfig tiny;
    tiny.model_dim = 64;
    tiny.max_seq_len = 256;
    tiny.vocab_info = fairseq2::VocabularyInfo{256, 0, 1, 2, std::nullopt};
    tiny.num_layers = 2;
    tiny.num_attn_heads = 4;
    tiny.num_key_value_heads = 2;
    tiny.ffn_inner_dim = 256;
    registry.register_("tiny", tiny);

    registry.register_("base", YourModelConfig{});

    YourModelConfig large;
    large.model_dim = 1024;
    large.num_layers = 24;
    large.num_attn_heads = 16;
    large.num_key_value_heads = 4;
    large.ffn_inner_dim = 4096;
    registry.register_("large", large);
}

}  // namespace your_model

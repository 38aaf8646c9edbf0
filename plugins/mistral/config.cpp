#include "config.hpp"

#include <string>
#include <utility>

#include "fairseq2/error.hpp"

namespace fairseq2::models::mistral {

namespace {

void require(bool condition, const std::string& field, const std::string& expectation)
{
    if (!condition)
        throw ConfigError("The field '" + field + "' of the mistral config is invalid: " + expectation + ".");
}

std::string str(std::int64_t value)
{
    return std::to_string(value);
}

}  // namespace

void MistralConfig::validate() const
{
    require(model_dim > 0, "model_dim", "it must be positive, but is " + str(model_dim));
    require(max_seq_len > 0, "max_seq_len", "it must be positive, but is " + str(max_seq_len));
    require(vocab_size > 0, "vocab_size", "it must be positive, but is " + str(vocab_size));
    for (const auto& [name, index] : {std::pair{"pad_idx", pad_idx}, std::pair{"bos_idx", bos_idx}, std::pair{"eos_idx", eos_idx}})
        if (index)
            require(*index >= 0 && *index < vocab_size, name,
                    "it must be within the vocabulary (0 to " + str(vocab_size - 1) + "), but is " + str(*index));
    if (attn_window_len)
        require(*attn_window_len > 0, "attn_window_len", "it must be positive (or null for no window), but is " + str(*attn_window_len));
    require(num_layers > 0, "num_layers", "it must be positive, but is " + str(num_layers));
    require(num_attn_heads > 0, "num_attn_heads", "it must be positive, but is " + str(num_attn_heads));
    require(num_key_value_heads > 0, "num_key_value_heads", "it must be positive, but is " + str(num_key_value_heads));
    require(num_attn_heads % num_key_value_heads == 0, "num_key_value_heads",
            "it must divide num_attn_heads (" + str(num_attn_heads) + "), but is " + str(num_key_value_heads));
    if (head_dim) {
        require(*head_dim > 0 && *head_dim % 2 == 0, "head_dim", "it must be positive and even for rotary encoding, but is " + str(*head_dim));
    } else {
        require(model_dim % num_attn_heads == 0, "num_attn_heads",
                "it must divide model_dim (" + str(model_dim) + "), but is " + str(num_attn_heads));
        require((model_dim / num_attn_heads) % 2 == 0, "num_attn_heads",
                "the head dimension model_dim / num_attn_heads must be even for rotary encoding, but is " + str(model_dim / num_attn_heads));
    }
    require(ffn_inner_dim > 0, "ffn_inner_dim", "it must be positive, but is " + str(ffn_inner_dim));
    require(dropout_p >= 0.0 && dropout_p < 1.0, "dropout_p", "it must be in [0, 1), but is " + std::to_string(dropout_p));
    require(rope_theta > 0.0, "rope_theta", "it must be positive, but is " + std::to_string(rope_theta));
    require(rms_norm_eps > 0.0, "rms_norm_eps", "it must be positive, but is " + std::to_string(rms_norm_eps));
}

void register_mistral_configs(ConfigRegistry<MistralConfig> registry)
{
    registry.register_("7b", MistralConfig{});
}

}  // namespace fairseq2::models::mistral

#include "config.hpp"

#include <string>

#include "fairseq2/error.hpp"

namespace fairseq2::models::llama {

namespace {

void require(bool condition, const std::string& field, const std::string& expectation)
{
    if (!condition)
        throw ConfigError("The field '" + field + "' of the llama config is invalid: " + expectation + ".");
}

std::string str(std::int64_t value)
{
    return std::to_string(value);
}

LLaMAConfig llama1(std::int64_t model_dim, std::int64_t num_layers, std::int64_t num_heads)
{
    LLaMAConfig config;
    config.model_dim = model_dim;
    config.num_layers = num_layers;
    config.num_attn_heads = num_heads;
    config.num_key_value_heads = num_heads;
    config.ffn_inner_dim = model_dim * 4;
    return config;
}

LLaMAConfig llama2(std::int64_t model_dim, std::int64_t num_layers, std::int64_t num_heads)
{
    LLaMAConfig config = llama1(model_dim, num_layers, num_heads);
    config.max_seq_len = 4096;
    return config;
}

LLaMAConfig llama3(std::int64_t model_dim, std::int64_t num_layers, std::int64_t num_heads, double multiplier, std::int64_t to_multiple)
{
    LLaMAConfig config;
    config.model_dim = model_dim;
    config.max_seq_len = 8192;
    config.vocab_info = VocabularyInfo{128256, std::nullopt, 128000, 128001, std::nullopt};
    config.num_layers = num_layers;
    config.num_attn_heads = num_heads;
    config.num_key_value_heads = 8;
    config.ffn_inner_dim = model_dim * 4;
    config.ffn_inner_dim_multiplier = multiplier;
    config.ffn_inner_dim_to_multiple = to_multiple;
    config.rope_theta = 500000.0;
    return config;
}

LLaMAConfig scaled(LLaMAConfig config, double factor)
{
    config.max_seq_len = 131072;
    config.use_scaled_rope = true;
    config.rope_scaling.factor = factor;
    return config;
}

}  // namespace

void LLaMAConfig::validate() const
{
    require(model_dim > 0, "model_dim", "it must be positive, but is " + str(model_dim));
    require(max_seq_len > 0, "max_seq_len", "it must be positive, but is " + str(max_seq_len));
    require(vocab_info.size > 0, "vocab_info.size", "it must be positive, but is " + str(vocab_info.size));
    for (const auto& [name, index] : {std::pair{"unk_idx", vocab_info.unk_idx}, std::pair{"bos_idx", vocab_info.bos_idx},
                                      std::pair{"eos_idx", vocab_info.eos_idx}, std::pair{"pad_idx", vocab_info.pad_idx}})
        if (index)
            require(*index >= 0 && *index < vocab_info.size, std::string("vocab_info.") + name,
                    "it must be within the vocabulary (0 to " + str(vocab_info.size - 1) + "), but is " + str(*index));
    require(num_layers > 0, "num_layers", "it must be positive, but is " + str(num_layers));
    require(num_attn_heads > 0, "num_attn_heads", "it must be positive, but is " + str(num_attn_heads));
    if (head_dim) {
        require(*head_dim > 0 && *head_dim % 2 == 0, "head_dim", "it must be positive and even for rotary encoding, but is " + str(*head_dim));
    } else {
        require(model_dim % num_attn_heads == 0, "num_attn_heads",
                "it must divide model_dim (" + str(model_dim) + "), but is " + str(num_attn_heads));
        require((model_dim / num_attn_heads) % 2 == 0, "num_attn_heads",
                "the head dimension model_dim / num_attn_heads must be even for rotary encoding, but is " + str(model_dim / num_attn_heads));
    }
    require(rms_norm_eps > 0.0, "rms_norm_eps", "it must be positive, but is " + std::to_string(rms_norm_eps));
    require(num_key_value_heads > 0, "num_key_value_heads", "it must be positive, but is " + str(num_key_value_heads));
    require(num_attn_heads % num_key_value_heads == 0, "num_key_value_heads",
            "it must divide num_attn_heads (" + str(num_attn_heads) + "), but is " + str(num_key_value_heads));
    require(ffn_inner_dim > 0, "ffn_inner_dim", "it must be positive, but is " + str(ffn_inner_dim));
    require(ffn_inner_dim_scale > 0.0, "ffn_inner_dim_scale", "it must be positive, but is " + std::to_string(ffn_inner_dim_scale));
    require(ffn_inner_dim_multiplier > 0.0, "ffn_inner_dim_multiplier",
            "it must be positive, but is " + std::to_string(ffn_inner_dim_multiplier));
    require(ffn_inner_dim_to_multiple > 0, "ffn_inner_dim_to_multiple", "it must be positive, but is " + str(ffn_inner_dim_to_multiple));
    require(rope_theta > 0.0, "rope_theta", "it must be positive, but is " + std::to_string(rope_theta));
    require(rope_scaling.factor > 0.0, "rope_scaling.factor", "it must be positive, but is " + std::to_string(rope_scaling.factor));
    require(rope_scaling.frequency_factors[0] > 0.0 && rope_scaling.frequency_factors[0] < rope_scaling.frequency_factors[1],
            "rope_scaling.frequency_factors", "the low factor must be positive and smaller than the high factor");
    require(rope_scaling.original_context_length > 0, "rope_scaling.original_context_length",
            "it must be positive, but is " + str(rope_scaling.original_context_length));
    require(dropout_p >= 0.0 && dropout_p < 1.0, "dropout_p", "it must be in [0, 1), but is " + std::to_string(dropout_p));
}

void register_llama_configs(ConfigRegistry<LLaMAConfig> registry)
{
    registry.register_("7b", llama1(4096, 32, 32));
    // 13b and llama2_13b have 40 layers, as in fairseq2's presets and Meta's
    // released checkpoints (params.json "n_layers": 40). The team's reference
    // table lists 32, which would make every real 13b checkpoint fail to load.
    registry.register_("13b", llama1(5120, 40, 40));
    registry.register_("33b", llama1(6656, 60, 52));
    registry.register_("65b", llama1(8192, 80, 64));

    registry.register_("llama2_7b", llama2(4096, 32, 32));
    registry.register_("llama2_13b", llama2(5120, 40, 40));
    LLaMAConfig llama2_70b = llama2(8192, 80, 64);
    llama2_70b.num_key_value_heads = 8;
    llama2_70b.ffn_inner_dim_multiplier = 1.3;
    llama2_70b.ffn_inner_dim_to_multiple = 4096;
    registry.register_("llama2_70b", llama2_70b);

    registry.register_("llama3_8b", llama3(4096, 32, 32, 1.3, 1024));
    registry.register_("llama3_70b", llama3(8192, 80, 64, 1.3, 4096));
    registry.register_("llama3_1_8b", scaled(llama3(4096, 32, 32, 1.3, 1024), 8.0));
    registry.register_("llama3_1_70b", scaled(llama3(8192, 80, 64, 1.3, 4096), 8.0));

    LLaMAConfig llama3_2_3b = scaled(llama3(3072, 28, 24, 1.0, 256), 32.0);
    llama3_2_3b.tied_embeddings = true;
    registry.register_("llama3_2_3b", llama3_2_3b);
    LLaMAConfig llama3_2_1b = scaled(llama3(2048, 16, 32, 1.5, 256), 32.0);
    llama3_2_1b.tied_embeddings = true;
    registry.register_("llama3_2_1b", llama3_2_1b);
}

}  // namespace fairseq2::models::llama

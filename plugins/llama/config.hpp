#pragma once

// The llama family's config (fairseq2's LLaMAConfig) and its named presets.

#include <array>
#include <cstdint>
#include <optional>

#include <boost/describe/class.hpp>

#include "fairseq2/data/vocabulary_info.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::models::llama {

inline constexpr const char* family_name = "llama";

// Llama 3.1 RoPE frequency scaling.
struct LLaMARopeScalingConfig {
    double factor = 8.0;
    // (low_freq_factor, high_freq_factor)
    std::array<double, 2> frequency_factors{1.0, 4.0};
    std::int64_t original_context_length = 8192;
};

BOOST_DESCRIBE_STRUCT(LLaMARopeScalingConfig, (), (factor, frequency_factors, original_context_length))

struct LLaMAConfig {
    std::int64_t model_dim = 4096;
    std::int64_t max_seq_len = 2048;
    VocabularyInfo vocab_info{32000, 0, 1, 2, std::nullopt};
    std::int64_t num_layers = 32;
    std::int64_t num_attn_heads = 32;
    std::int64_t num_key_value_heads = 32;
    std::int64_t ffn_inner_dim = 4096 * 4;
    double ffn_inner_dim_scale = 2.0 / 3.0;
    double ffn_inner_dim_multiplier = 1.0;
    std::int64_t ffn_inner_dim_to_multiple = 256;
    double rope_theta = 10000.0;
    bool use_scaled_rope = false;
    LLaMARopeScalingConfig rope_scaling{};
    double dropout_p = 0.1;
    // Whether the final projection shares the embedding weight.
    bool tied_embeddings = false;
    // Fields of Hugging Face checkpoints (config.json) beyond fairseq2's
    // LLaMAConfig, so that every such checkpoint computes what it was
    // trained to compute.
    double rms_norm_eps = 1e-5;
    // The attention head dimension; null: model_dim / num_attn_heads.
    std::optional<std::int64_t> head_dim;
    // Biases of the q/k/v and output projections, and of the GLU's.
    bool attention_bias = false;
    bool mlp_bias = false;

    // head_dim, or model_dim / num_attn_heads.
    std::int64_t attention_head_dim() const { return head_dim.value_or(model_dim / num_attn_heads); }

    // Throws ConfigError naming the first invalid field.
    void validate() const;
};

BOOST_DESCRIBE_STRUCT(LLaMAConfig, (),
                      (model_dim, max_seq_len, vocab_info, num_layers, num_attn_heads, num_key_value_heads, ffn_inner_dim,
                       ffn_inner_dim_scale, ffn_inner_dim_multiplier, ffn_inner_dim_to_multiple, rope_theta, use_scaled_rope,
                       rope_scaling, dropout_p, tied_embeddings, rms_norm_eps, head_dim, attention_bias, mlp_bias))

// The arch used when none is given.
inline constexpr const char* default_llama_arch = "llama3_1_8b";

// Registers the 13 presets of fairseq2 (7b ... llama3_2_1b).
void register_llama_configs(ConfigRegistry<LLaMAConfig> registry);

}  // namespace fairseq2::models::llama

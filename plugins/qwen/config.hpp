#pragma once

// The qwen family's config (fairseq2's QwenConfig, Qwen 2.5 and Qwen 3) and
// its named presets.

#include <cstdint>
#include <optional>

#include <boost/describe/class.hpp>

#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::models::qwen {

inline constexpr const char* family_name = "qwen";

// The defaults are those of qwen25_7b.
struct QwenConfig {
    std::int64_t model_dim = 3584;
    std::int64_t max_seq_len = 32768;
    std::int64_t vocab_size = 152064;
    // Whether the final projection shares the embedding weight.
    bool tied_embeddings = false;
    std::int64_t num_layers = 28;
    std::int64_t num_attn_heads = 28;
    std::int64_t num_key_value_heads = 4;
    // The attention head dimension; null: model_dim / num_attn_heads.
    std::optional<std::int64_t> head_dim;
    // Biases of the q/k/v projections (Qwen 2.5); the output projection has none.
    bool qkv_proj_bias = true;
    // Per-head RMSNorm of queries and keys before RoPE (Qwen 3).
    bool q_norm = false;
    bool k_norm = false;
    std::int64_t ffn_inner_dim = 18944;
    double rope_theta = 1'000'000.0;
    double dropout_p = 0.0;
    // Fields of Hugging Face checkpoints beyond fairseq2's QwenConfig:
    // config.json's rms_norm_eps (fairseq2 hard-codes 1e-6) and its
    // eos_token_id (null: the vocabulary has no known EOS; the tokenizer
    // brings it).
    double rms_norm_eps = 1e-6;
    std::optional<std::int64_t> eos_idx;

    // head_dim, or model_dim / num_attn_heads.
    std::int64_t attention_head_dim() const { return head_dim.value_or(model_dim / num_attn_heads); }

    // Throws ConfigError naming the first invalid field.
    void validate() const;
};

BOOST_DESCRIBE_STRUCT(QwenConfig, (),
                      (model_dim, max_seq_len, vocab_size, tied_embeddings, num_layers, num_attn_heads, num_key_value_heads, head_dim,
                       qkv_proj_bias, q_norm, k_norm, ffn_inner_dim, rope_theta, dropout_p, rms_norm_eps, eos_idx))

// The arch used when none is given.
inline constexpr const char* default_qwen_arch = "qwen25_7b";

// Registers the 11 presets of fairseq2 (qwen25_1_5b ... qwen3_32b).
void register_qwen_configs(ConfigRegistry<QwenConfig> registry);

}  // namespace fairseq2::models::qwen

#pragma once

// The mistral family's config (fairseq2's MistralConfig) and its named
// preset.

#include <cstdint>
#include <optional>

#include <boost/describe/class.hpp>

#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::models::mistral {

inline constexpr const char* family_name = "mistral";

// The defaults are those of Mistral 7B (the "7b" preset).
struct MistralConfig {
    std::int64_t model_dim = 4096;
    std::int64_t max_seq_len = 8192;
    std::int64_t vocab_size = 32000;
    std::optional<std::int64_t> pad_idx;
    // Each query attends to at most this many keys (itself and those
    // before it); null: no window (Hugging Face's sliding_window null).
    std::optional<std::int64_t> attn_window_len = 4096;
    std::int64_t num_layers = 32;
    std::int64_t num_attn_heads = 32;
    std::int64_t num_key_value_heads = 8;
    std::int64_t ffn_inner_dim = 14336;
    double dropout_p = 0.0;
    // Fields of Hugging Face checkpoints (config.json) beyond fairseq2's
    // MistralConfig, so that every such checkpoint computes what it was
    // trained to compute.
    // The attention head dimension; null: model_dim / num_attn_heads.
    std::optional<std::int64_t> head_dim;
    double rope_theta = 10000.0;
    double rms_norm_eps = 1e-5;
    // Mistral's SentencePiece vocabulary: <unk> 0, <s> 1, </s> 2.
    std::optional<std::int64_t> bos_idx = 1;
    std::optional<std::int64_t> eos_idx = 2;

    // head_dim, or model_dim / num_attn_heads.
    std::int64_t attention_head_dim() const { return head_dim.value_or(model_dim / num_attn_heads); }

    // Throws ConfigError naming the first invalid field.
    void validate() const;
};

BOOST_DESCRIBE_STRUCT(MistralConfig, (),
                      (model_dim, max_seq_len, vocab_size, pad_idx, attn_window_len, num_layers, num_attn_heads, num_key_value_heads,
                       ffn_inner_dim, dropout_p, head_dim, rope_theta, rms_norm_eps, bos_idx, eos_idx))

// The arch used when none is given.
inline constexpr const char* default_mistral_arch = "7b";

// Registers fairseq2's preset "7b".
void register_mistral_configs(ConfigRegistry<MistralConfig> registry);

}  // namespace fairseq2::models::mistral

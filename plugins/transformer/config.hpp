#pragma once

// The transformer family's config (fairseq2 v0.4.5's TransformerConfig:
// the encoder-decoder transformer of "Attention Is All You Need" and the
// dense NLLB models) and its named presets.
//
// The family is named "transformer", as in fairseq2 v0.4.5, rather than
// "nllb" (fairseq2's later name): it covers the original base and big
// architectures and fairseq (v1) translation checkpoints as well as NLLB.

#include <cstdint>
#include <optional>
#include <string>

#include <boost/describe/class.hpp>

#include "fairseq2/data/vocabulary_info.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::models::transformer {

inline constexpr const char* family_name = "transformer";

// The defaults are those of the base architecture.
struct TransformerConfig {
    std::int64_t model_dim = 512;
    // Source and target positions (fairseq's max_source_positions and
    // max_target_positions).
    std::int64_t max_seq_len = 1024;
    // The target vocabulary (and the source one unless source_vocab_size is
    // given).
    VocabularyInfo vocab_info{32768, std::nullopt, std::nullopt, 1, 0};
    // A source vocabulary of its own size (fairseq models with separate
    // dictionaries); null: the target's. Needs shared_embeddings false.
    std::optional<std::int64_t> source_vocab_size;
    std::int64_t num_encoder_layers = 6;
    std::int64_t num_decoder_layers = 6;
    std::int64_t num_encoder_attn_heads = 8;
    std::int64_t num_decoder_attn_heads = 8;
    std::int64_t ffn_inner_dim = 2048;
    // "post" (the original transformer: y = norm(x + f(x)), no final norm)
    // or "pre" (NLLB: y = x + f(norm(x)), a final norm per stack).
    std::string norm_order = "post";
    double dropout_p = 0.1;
    // One embedding for the encoder and the decoder (fairseq2's shared
    // frontend, fairseq's share_all_embeddings).
    bool shared_embeddings = true;
    // The final projection is the decoder embedding's weight.
    bool tied_final_proj = true;

    bool pre_norm() const { return norm_order == "pre"; }
    std::int64_t source_vocab() const { return source_vocab_size.value_or(vocab_info.size); }

    // Throws ConfigError naming the first invalid field.
    void validate() const;
};

BOOST_DESCRIBE_STRUCT(TransformerConfig, (),
                      (model_dim, max_seq_len, vocab_info, source_vocab_size, num_encoder_layers, num_decoder_layers,
                       num_encoder_attn_heads, num_decoder_attn_heads, ffn_inner_dim, norm_order, dropout_p, shared_embeddings,
                       tied_final_proj))

// The arch used when none is given.
inline constexpr const char* default_transformer_arch = "base";

// Registers fairseq2's presets: base, big, and nllb_dense_300m, _600m, _1b,
// _3b.
void register_transformer_configs(ConfigRegistry<TransformerConfig> registry);

}  // namespace fairseq2::models::transformer

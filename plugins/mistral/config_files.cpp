// Configs from the files that describe a checkpoint: outside input, parsed
// field by field with errors that name the file and the field. No torch
// here: the config fuzzer (tests/fuzz/config_fuzzer.cpp) compiles this file
// without LibTorch.

#include "config_files.hpp"

#include <string>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/config_fields.hpp"

namespace fairseq2::models::mistral {

MistralConfig mistral_config_from_hf(const boost::json::value& json, const std::filesystem::path& file)
{
    hf::ConfigFields fields(json, file, family_name);
    const std::optional<std::string> type = fields.optional_string("model_type");
    if (type != "mistral")
        fields.fail("model_type", "is '" + type.value_or("(none)") + "', but the mistral family loads only model_type 'mistral'");

    fields.require_absent_or("hidden_act", "silu");
    fields.require_absent_or("tie_word_embeddings", false);
    fields.require_absent_or("attention_bias", false);
    if (const boost::json::value* scaling = fields.find("rope_scaling"))
        fields.fail("rope_scaling", "is " + boost::json::serialize(*scaling) + ", but mistral models support no RoPE scaling");

    const hf::CausalLmShape shape = hf::read_causal_lm_shape(fields);
    MistralConfig config;
    config.model_dim = shape.model_dim;
    config.num_layers = shape.num_layers;
    config.num_attn_heads = shape.num_attn_heads;
    config.num_key_value_heads = shape.num_key_value_heads;
    config.head_dim = shape.head_dim;
    config.ffn_inner_dim = shape.ffn_inner_dim;
    config.vocab_size = shape.vocab_size;
    config.max_seq_len = fields.optional_int("max_position_embeddings").value_or(32768);
    config.rope_theta = fields.optional_double("rope_theta").value_or(10000.0);
    config.rms_norm_eps = fields.optional_double("rms_norm_eps").value_or(1e-6);
    // null: every key is attended (Mistral v0.2 and later).
    config.attn_window_len = fields.optional_int("sliding_window");
    config.pad_idx = std::nullopt;
    // Hugging Face's defaults are Mistral's SentencePiece ids.
    config.bos_idx = fields.optional_token_id("bos_token_id", "bos_idx").value_or(1);
    config.eos_idx = fields.optional_token_id("eos_token_id", "eos_idx").value_or(2);
    config.dropout_p = 0.0;
    return config;
}

}  // namespace fairseq2::models::mistral

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

    MistralConfig config;
    config.model_dim = fields.required_int("hidden_size");
    config.num_layers = fields.required_int("num_hidden_layers");
    config.num_attn_heads = fields.required_int("num_attention_heads");
    config.num_key_value_heads = fields.optional_int("num_key_value_heads").value_or(config.num_attn_heads);
    config.head_dim = fields.optional_int("head_dim");
    if (config.head_dim && *config.head_dim * config.num_attn_heads == config.model_dim)
        config.head_dim = std::nullopt;  // the default
    config.ffn_inner_dim = fields.required_int("intermediate_size");
    config.vocab_size = fields.required_int("vocab_size");
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

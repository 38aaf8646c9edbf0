// Configs from the files that describe a checkpoint: outside input, parsed
// field by field with errors that name the file and the field. No torch
// here: the config fuzzer (tests/fuzz/config_fuzzer.cpp) compiles this file
// without LibTorch.

#include "config_files.hpp"

#include <string>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/config_fields.hpp"

namespace fairseq2::models::llama {

namespace {

[[noreturn]] void fail_unsupported(const hf::ConfigFields& fields, const char* key, const std::string& value, const std::string& supported)
{
    fields.fail(key, "is " + value + ", but llama models support only " + supported);
}

}  // namespace

LLaMAConfig llama_config_from_hf(const boost::json::value& json, const std::filesystem::path& file)
{
    hf::ConfigFields fields(json, file, "llama");
    if (auto type = fields.optional_string("model_type"); type != "llama")
        throw ConfigError("The file '" + file.string() + "' describes a '" + type.value_or("(no model_type)") +
                          "' model, but the llama family loads only model_type 'llama'.");
    if (auto act = fields.optional_string("hidden_act"); act && *act != "silu")
        fail_unsupported(fields, "hidden_act", "'" + *act + "'", "'silu'");
    const hf::CausalLmShape shape = hf::read_causal_lm_shape(fields);
    LLaMAConfig config;
    config.model_dim = shape.model_dim;
    config.num_layers = shape.num_layers;
    config.num_attn_heads = shape.num_attn_heads;
    config.num_key_value_heads = shape.num_key_value_heads;
    config.head_dim = shape.head_dim;
    config.attention_bias = fields.optional_bool("attention_bias").value_or(false);
    config.mlp_bias = fields.optional_bool("mlp_bias").value_or(false);
    config.rms_norm_eps = fields.optional_double("rms_norm_eps").value_or(1e-6);
    // intermediate_size is the final GLU width: no scaling, no rounding.
    config.ffn_inner_dim = shape.ffn_inner_dim;
    config.ffn_inner_dim_scale = 1.0;
    config.ffn_inner_dim_multiplier = 1.0;
    config.ffn_inner_dim_to_multiple = 1;
    config.max_seq_len = fields.optional_int("max_position_embeddings").value_or(2048);
    config.rope_theta = fields.optional_double("rope_theta").value_or(10000.0);
    config.tied_embeddings = fields.optional_bool("tie_word_embeddings").value_or(false);

    config.vocab_info.size = shape.vocab_size;
    config.vocab_info.unk_idx = std::nullopt;
    config.vocab_info.bos_idx = fields.optional_token_id("bos_token_id", "vocab_info.bos_idx");
    config.vocab_info.eos_idx = fields.optional_token_id("eos_token_id", "vocab_info.eos_idx");
    config.vocab_info.pad_idx = fields.optional_token_id("pad_token_id", "vocab_info.pad_idx");

    if (const boost::json::value* scaling = fields.find("rope_scaling")) {
        hf::ConfigFields rope(*scaling, file, "llama");
        std::optional<std::string> type = rope.optional_string("rope_type");
        if (!type)
            type = rope.optional_string("type");
        if (type != "llama3")
            fields.fail("rope_scaling", "has the type '" + type.value_or("(none)") + "', but llama models support only 'llama3' scaling");
        config.use_scaled_rope = true;
        config.rope_scaling.factor = rope.optional_double("factor").value_or(config.rope_scaling.factor);
        config.rope_scaling.frequency_factors = {rope.optional_double("low_freq_factor").value_or(config.rope_scaling.frequency_factors[0]),
                                                 rope.optional_double("high_freq_factor").value_or(config.rope_scaling.frequency_factors[1])};
        config.rope_scaling.original_context_length =
            rope.optional_int("original_max_position_embeddings").value_or(config.rope_scaling.original_context_length);
    }

    return config;
}

LLaMAConfig llama_config_from_meta(const boost::json::value& json, const std::filesystem::path& file)
{
    hf::ConfigFields fields(json, file, "llama");
    LLaMAConfig config;
    config.model_dim = fields.required_int("dim");
    config.num_layers = fields.required_int("n_layers");
    config.num_attn_heads = fields.required_int("n_heads");
    config.num_key_value_heads = fields.optional_int("n_kv_heads").value_or(config.num_attn_heads);

    const std::int64_t vocab_size = fields.required_int("vocab_size");
    if (vocab_size <= 0)
        fields.fail("vocab_size", "is " + std::to_string(vocab_size) +
                                      ", so the vocabulary size is unknown; give it with --set vocab_info.size=N (32000 for LLaMA 1)");
    const bool llama3_vocab = vocab_size >= 128000;
    if (llama3_vocab)
        config.vocab_info = VocabularyInfo{vocab_size, std::nullopt, 128000, 128001, std::nullopt};
    else
        config.vocab_info = VocabularyInfo{vocab_size, 0, 1, 2, std::nullopt};

    // The GLU width of Meta's reference FeedForward.
    const std::int64_t multiple_of = fields.optional_int("multiple_of").value_or(256);
    if (multiple_of <= 0)
        fields.fail("multiple_of", "is " + std::to_string(multiple_of) + "; expected a positive integer");
    auto hidden = static_cast<std::int64_t>(2 * (4 * config.model_dim) / 3);
    if (auto multiplier = fields.optional_double("ffn_dim_multiplier")) {
        if (!(*multiplier > 0.0 && *multiplier <= 1000.0))
            fail_unsupported(fields, "ffn_dim_multiplier", boost::json::serialize(boost::json::value(*multiplier)), "positive factors up to 1000");
        hidden = static_cast<std::int64_t>(*multiplier * static_cast<double>(hidden));
    }
    hidden = multiple_of * ((hidden + multiple_of - 1) / multiple_of);
    config.ffn_inner_dim = hidden;
    config.ffn_inner_dim_scale = 1.0;
    config.ffn_inner_dim_multiplier = 1.0;
    config.ffn_inner_dim_to_multiple = 1;

    config.rope_theta = fields.optional_double("rope_theta").value_or(10000.0);
    config.use_scaled_rope = fields.optional_bool("use_scaled_rope").value_or(false);
    config.rope_scaling.factor = fields.optional_double("rope_scaling_factor").value_or(8.0);
    config.max_seq_len = fields.optional_int("max_seq_len").value_or(config.use_scaled_rope ? 131072 : llama3_vocab ? 8192 : 4096);

    // Meta's reference RMSNorm default.
    config.rms_norm_eps = fields.optional_double("norm_eps").value_or(1e-5);
    return config;
}

}  // namespace fairseq2::models::llama

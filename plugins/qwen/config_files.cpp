// Configs from the files that describe a checkpoint: outside input, parsed
// field by field with errors that name the file and the field. No torch
// here: the config fuzzer (tests/fuzz/config_fuzzer.cpp) compiles this file
// without LibTorch.

#include "config_files.hpp"

#include <string>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/config_fields.hpp"

namespace fairseq2::models::qwen {

bool is_qwen_model_type(const std::string& model_type)
{
    return model_type == "qwen2" || model_type == "qwen3";
}

QwenConfig qwen_config_from_hf(const boost::json::value& json, const std::filesystem::path& file)
{
    hf::ConfigFields fields(json, file, family_name);
    const std::optional<std::string> type = fields.optional_string("model_type");
    if (!type || !is_qwen_model_type(*type))
        fields.fail("model_type", "is '" + type.value_or("(none)") + "', but the qwen family loads only model_type 'qwen2' or 'qwen3'");
    const bool qwen3 = *type == "qwen3";

    fields.require_absent_or("hidden_act", "silu");
    fields.require_absent_or("use_sliding_window", false);
    fields.require_absent_or("mlp_bias", false);
    if (const boost::json::value* scaling = fields.find("rope_scaling"))
        fields.fail("rope_scaling", "is " + boost::json::serialize(*scaling) + ", but qwen models support no RoPE scaling");

    const hf::CausalLmShape shape = hf::read_causal_lm_shape(fields);
    QwenConfig config;
    config.model_dim = shape.model_dim;
    config.num_layers = shape.num_layers;
    config.num_attn_heads = shape.num_attn_heads;
    config.num_key_value_heads = shape.num_key_value_heads;
    config.head_dim = shape.head_dim;
    config.ffn_inner_dim = shape.ffn_inner_dim;
    config.vocab_size = shape.vocab_size;
    config.max_seq_len = fields.optional_int("max_position_embeddings").value_or(32768);
    config.rope_theta = fields.optional_double("rope_theta").value_or(1'000'000.0);
    config.rms_norm_eps = fields.optional_double("rms_norm_eps").value_or(1e-6);
    config.tied_embeddings = fields.optional_bool("tie_word_embeddings").value_or(false);
    config.eos_idx = fields.optional_token_id("eos_token_id", "eos_idx");
    // Qwen2ForCausalLM always has q/k/v biases (it reads no attention_bias);
    // Qwen3ForCausalLM has them when attention_bias says so, and always has
    // q/k norms.
    config.qkv_proj_bias = qwen3 ? fields.optional_bool("attention_bias").value_or(false) : true;
    config.q_norm = qwen3;
    config.k_norm = qwen3;
    config.dropout_p = 0.0;
    return config;
}

}  // namespace fairseq2::models::qwen

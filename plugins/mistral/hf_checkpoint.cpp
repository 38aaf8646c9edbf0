#include "hf_checkpoint.hpp"

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/hugging_face.hpp"

namespace fairseq2::models::mistral {

namespace {

boost::json::value id_or_null(const std::optional<std::int64_t>& value)
{
    if (value)
        return *value;
    return nullptr;
}

hf::QueryKeyShape query_key_shape(const MistralConfig& config)
{
    return {.num_heads = config.num_attn_heads, .num_key_value_heads = config.num_key_value_heads, .head_dim = config.attention_head_dim()};
}

}  // namespace

checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict, const MistralConfig& config)
{
    std::erase_if(state_dict, [](const auto& item) { return item.first.ends_with("rotary_emb.inv_freq"); });
    hf::query_key_rows_to_pairs(state_dict, query_key_shape(config));
    return checkpoint::convert_state_dict(std::move(state_dict), hf::causal_lm_key_map());
}

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

boost::json::object hf_config_from_mistral(const MistralConfig& config)
{
    return boost::json::object{
        {"architectures", boost::json::array{"MistralForCausalLM"}},
        {"model_type", "mistral"},
        {"hidden_act", "silu"},
        {"hidden_size", config.model_dim},
        {"intermediate_size", config.ffn_inner_dim},
        {"num_hidden_layers", config.num_layers},
        {"num_attention_heads", config.num_attn_heads},
        {"num_key_value_heads", config.num_key_value_heads},
        {"head_dim", config.attention_head_dim()},
        {"vocab_size", config.vocab_size},
        {"max_position_embeddings", config.max_seq_len},
        {"rms_norm_eps", config.rms_norm_eps},
        {"rope_theta", config.rope_theta},
        {"rope_scaling", nullptr},
        {"sliding_window", id_or_null(config.attn_window_len)},
        {"tie_word_embeddings", false},
        {"bos_token_id", id_or_null(config.bos_idx)},
        {"eos_token_id", id_or_null(config.eos_idx)},
    };
}

void export_hf_checkpoint(const MistralModel& model, const MistralConfig& config, const std::filesystem::path& dir)
{
    checkpoint::StateDict state_dict = checkpoint::module_state_dict(model);
    hf::query_key_rows_to_rotate_half(state_dict, query_key_shape(config));
    hf::export_checkpoint(dir, std::move(state_dict), hf::causal_lm_key_map(), hf_config_from_mistral(config));
}

}  // namespace fairseq2::models::mistral

#include "hf_checkpoint.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/checkpoint/atomic_file.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/nn/feed_forward.hpp"
#include "fairseq2/models/hugging_face.hpp"

namespace fairseq2::models::llama {

namespace {

[[noreturn]] void fail_unsupported(const hf::ConfigFields& fields, const char* key, const std::string& value, const std::string& supported)
{
    fields.fail(key, "is " + value + ", but llama models support only " + supported);
}

hf::QueryKeyShape query_key_shape(const LLaMAConfig& config)
{
    return {.num_heads = config.num_attn_heads, .num_key_value_heads = config.num_key_value_heads, .head_dim = config.attention_head_dim()};
}

}  // namespace

checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict, const LLaMAConfig& config)
{
    std::erase_if(state_dict, [](const auto& item) { return item.first.ends_with("rotary_emb.inv_freq"); });
    hf::query_key_rows_to_pairs(state_dict, query_key_shape(config));
    state_dict = checkpoint::convert_state_dict(std::move(state_dict), hf::causal_lm_key_map());
    // Checkpoints with tied embeddings (Llama 3.2) have no lm_head.weight.
    if (!config.tied_embeddings && !state_dict.contains("final_proj.weight") && state_dict.contains("decoder_frontend.embed.weight"))
        state_dict.emplace("final_proj.weight", state_dict.at("decoder_frontend.embed.weight"));
    return state_dict;
}

LLaMAConfig llama_config_from_hf(const boost::json::value& json, const std::filesystem::path& file)
{
    hf::ConfigFields fields(json, file, "llama");
    if (auto type = fields.optional_string("model_type"); type != "llama")
        throw ConfigError("The file '" + file.string() + "' describes a '" + type.value_or("(no model_type)") +
                          "' model, but the llama family loads only model_type 'llama'.");
    if (auto act = fields.optional_string("hidden_act"); act && *act != "silu")
        fail_unsupported(fields, "hidden_act", "'" + *act + "'", "'silu'");
    LLaMAConfig config;
    config.model_dim = fields.required_int("hidden_size");
    config.num_layers = fields.required_int("num_hidden_layers");
    config.num_attn_heads = fields.required_int("num_attention_heads");
    config.num_key_value_heads = fields.optional_int("num_key_value_heads").value_or(config.num_attn_heads);
    config.head_dim = fields.optional_int("head_dim");
    if (config.head_dim && config.num_attn_heads > 0 && *config.head_dim * config.num_attn_heads == config.model_dim)
        config.head_dim = std::nullopt;  // the default
    config.attention_bias = fields.optional_bool("attention_bias").value_or(false);
    config.mlp_bias = fields.optional_bool("mlp_bias").value_or(false);
    config.rms_norm_eps = fields.optional_double("rms_norm_eps").value_or(1e-6);
    // intermediate_size is the final GLU width: no scaling, no rounding.
    config.ffn_inner_dim = fields.required_int("intermediate_size");
    config.ffn_inner_dim_scale = 1.0;
    config.ffn_inner_dim_multiplier = 1.0;
    config.ffn_inner_dim_to_multiple = 1;
    config.max_seq_len = fields.optional_int("max_position_embeddings").value_or(2048);
    config.rope_theta = fields.optional_double("rope_theta").value_or(10000.0);
    config.tied_embeddings = fields.optional_bool("tie_word_embeddings").value_or(false);

    config.vocab_info.size = fields.required_int("vocab_size");
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

boost::json::object hf_config_from_llama(const LLaMAConfig& config, const std::string& torch_dtype)
{
    const auto inner = static_cast<std::int64_t>(static_cast<double>(config.ffn_inner_dim) * config.ffn_inner_dim_multiplier);
    auto id = [](const std::optional<std::int64_t>& value) -> boost::json::value {
        if (value)
            return *value;
        return nullptr;
    };
    boost::json::object json{
        {"architectures", boost::json::array{"LlamaForCausalLM"}},
        {"model_type", "llama"},
        {"hidden_act", "silu"},
        {"hidden_size", config.model_dim},
        {"intermediate_size", nn::glu_inner_dim(inner, config.ffn_inner_dim_scale, config.ffn_inner_dim_to_multiple)},
        {"num_hidden_layers", config.num_layers},
        {"num_attention_heads", config.num_attn_heads},
        {"num_key_value_heads", config.num_key_value_heads},
        {"head_dim", config.attention_head_dim()},
        {"vocab_size", config.vocab_info.size},
        {"bos_token_id", id(config.vocab_info.bos_idx)},
        {"eos_token_id", id(config.vocab_info.eos_idx)},
        {"pad_token_id", id(config.vocab_info.pad_idx)},
        {"max_position_embeddings", config.max_seq_len},
        {"rms_norm_eps", config.rms_norm_eps},
        {"rope_theta", config.rope_theta},
        {"rope_scaling", nullptr},
        {"tie_word_embeddings", config.tied_embeddings},
        {"attention_bias", config.attention_bias},
        {"mlp_bias", config.mlp_bias},
        {"torch_dtype", torch_dtype},
    };
    if (config.use_scaled_rope)
        json["rope_scaling"] = boost::json::object{
            {"rope_type", "llama3"},
            {"factor", config.rope_scaling.factor},
            {"low_freq_factor", config.rope_scaling.frequency_factors[0]},
            {"high_freq_factor", config.rope_scaling.frequency_factors[1]},
            {"original_max_position_embeddings", config.rope_scaling.original_context_length},
        };
    return json;
}

void export_hf_checkpoint(const LLaMAModel& model, const LLaMAConfig& config, const std::filesystem::path& dir)
{
    checkpoint::StateDict state_dict = checkpoint::module_state_dict(model);
    if (config.tied_embeddings)
        state_dict.erase("final_proj.weight");
    hf::query_key_rows_to_rotate_half(state_dict, query_key_shape(config));
    const std::string dtype = hf::torch_dtype_name(checkpoint::checkpoint_dtype(state_dict));
    hf::export_checkpoint(dir, std::move(state_dict), hf::causal_lm_key_map(), hf_config_from_llama(config, dtype));
}

}  // namespace fairseq2::models::llama

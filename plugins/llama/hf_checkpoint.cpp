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

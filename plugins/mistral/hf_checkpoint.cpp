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

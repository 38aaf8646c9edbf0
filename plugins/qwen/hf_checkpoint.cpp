#include "hf_checkpoint.hpp"

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/models/hugging_face.hpp"

namespace fairseq2::models::qwen {

checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict, const QwenConfig& config)
{
    std::erase_if(state_dict, [](const auto& item) { return item.first.ends_with("rotary_emb.inv_freq"); });
    state_dict = checkpoint::convert_state_dict(std::move(state_dict), hf::causal_lm_key_map());
    if (config.tied_embeddings) {
        // One tensor serves both; the strict loader accepts either name of
        // an alias, so keep it as the embedding only.
        auto proj = state_dict.find("final_proj.weight");
        if (proj != state_dict.end()) {
            if (!state_dict.contains("decoder_frontend.embed.weight"))
                state_dict.emplace("decoder_frontend.embed.weight", proj->second);
            state_dict.erase("final_proj.weight");
        }
    }
    // Untied without lm_head.weight: the strict loader reports the missing key.
    return state_dict;
}

boost::json::object hf_config_from_qwen(const QwenConfig& config)
{
    if (config.q_norm != config.k_norm)
        throw InvalidArgumentError(std::string("The qwen config has ") + (config.q_norm ? "q_norm without k_norm" : "k_norm without q_norm") +
                                   ", which no Hugging Face Qwen model has, so it cannot be exported as 'hf'.");
    if (!config.qkv_proj_bias && !config.q_norm)
        throw InvalidArgumentError(
            "The qwen config has neither q/k/v biases (qkv_proj_bias) nor q/k norms, which no Hugging Face Qwen model has (Qwen2 has "
            "biases, Qwen3 has norms), so it cannot be exported as 'hf'.");
    const bool qwen2 = config.qkv_proj_bias && !config.q_norm;
    boost::json::value eos = nullptr;
    if (config.eos_idx)
        eos = *config.eos_idx;
    return boost::json::object{
        {"architectures", boost::json::array{qwen2 ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM"}},
        {"model_type", qwen2 ? "qwen2" : "qwen3"},
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
        {"tie_word_embeddings", config.tied_embeddings},
        {"attention_bias", config.qkv_proj_bias},
        {"use_sliding_window", false},
        {"sliding_window", nullptr},
        {"eos_token_id", eos},
    };
}

void export_hf_checkpoint(const QwenModel& model, const QwenConfig& config, const std::filesystem::path& dir)
{
    boost::json::object json = hf_config_from_qwen(config);
    checkpoint::StateDict state_dict = checkpoint::module_state_dict(model);
    if (config.tied_embeddings)
        state_dict.erase("final_proj.weight");
    hf::export_checkpoint(dir, std::move(state_dict), hf::causal_lm_key_map(), std::move(json));
}

}  // namespace fairseq2::models::qwen

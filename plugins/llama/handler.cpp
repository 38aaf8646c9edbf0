#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"

namespace fairseq2::models::llama {

LLaMAModelHandler::LLaMAModelHandler(ConfigRegistry<LLaMAConfig> configs)
    : AbstractModelHandler(family_name, "LLaMAConfig", default_llama_arch, configs)
{
}

std::shared_ptr<LLaMAModel> LLaMAModelHandler::create_model(const LLaMAConfig& config, const at::TensorOptions& options) const
{
    return LLaMAFactory(config, options).create_model();
}

checkpoint::StateDict LLaMAModelHandler::convert_checkpoint(checkpoint::StateDict state_dict, const LLaMAConfig& config) const
{
    if (state_dict.contains("model.embed_tokens.weight")) {
        for (auto& [key, tensor] : state_dict) {
            if (key.ends_with("self_attn.q_proj.weight"))
                tensor = permute_rotary_weight(tensor, config.num_attn_heads);
            else if (key.ends_with("self_attn.k_proj.weight"))
                tensor = permute_rotary_weight(tensor, config.num_key_value_heads);
        }
        state_dict = checkpoint::convert_state_dict(std::move(state_dict), hf_key_map());
    } else if (state_dict.contains("tok_embeddings.weight")) {
        std::erase_if(state_dict, [](const auto& item) { return item.first.find("rope.freqs") != std::string::npos; });
        state_dict = checkpoint::convert_state_dict(std::move(state_dict), meta_key_map());
    }
    return state_dict;
}

at::Tensor permute_rotary_weight(const at::Tensor& weight, std::int64_t num_heads)
{
    const std::int64_t rows = weight.size(0);
    const std::int64_t cols = weight.size(1);
    return weight.view({num_heads, 2, rows / num_heads / 2, cols}).transpose(1, 2).reshape({rows, cols});
}

const checkpoint::KeyMap& hf_key_map()
{
    static const checkpoint::KeyMap map{
        {R"(^model\.layers\.([0-9]+)\.self_attn\.q_proj\.)", R"(decoder.layers.\1.self_attn.q_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.k_proj\.)", R"(decoder.layers.\1.self_attn.k_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.v_proj\.)", R"(decoder.layers.\1.self_attn.v_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.self_attn\.o_proj\.)", R"(decoder.layers.\1.self_attn.output_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.post_attention_layernorm\.)", R"(decoder.layers.\1.ffn_layer_norm.)"},
        {R"(^model\.layers\.([0-9]+)\.mlp\.gate_proj\.)", R"(decoder.layers.\1.ffn.gate_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.mlp\.down_proj\.)", R"(decoder.layers.\1.ffn.output_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.mlp\.up_proj\.)", R"(decoder.layers.\1.ffn.inner_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.input_layernorm\.)", R"(decoder.layers.\1.self_attn_layer_norm.)"},
        {R"(^model\.norm\.)", R"(decoder.layer_norm.)"},
        {R"(^model\.embed_tokens\.)", R"(decoder_frontend.embed.)"},
        {R"(^lm_head\.)", R"(final_proj.)"},
    };
    return map;
}

const checkpoint::KeyMap& meta_key_map()
{
    static const checkpoint::KeyMap map{
        {R"(^layers\.([0-9]+)\.attention\.wq\.)", R"(decoder.layers.\1.self_attn.q_proj.)"},
        {R"(^layers\.([0-9]+)\.attention\.wk\.)", R"(decoder.layers.\1.self_attn.k_proj.)"},
        {R"(^layers\.([0-9]+)\.attention\.wv\.)", R"(decoder.layers.\1.self_attn.v_proj.)"},
        {R"(^layers\.([0-9]+)\.attention\.wo\.)", R"(decoder.layers.\1.self_attn.output_proj.)"},
        {R"(^layers\.([0-9]+)\.attention_norm\.)", R"(decoder.layers.\1.self_attn_layer_norm.)"},
        {R"(^layers\.([0-9]+)\.feed_forward\.w1\.)", R"(decoder.layers.\1.ffn.gate_proj.)"},
        {R"(^layers\.([0-9]+)\.feed_forward\.w2\.)", R"(decoder.layers.\1.ffn.output_proj.)"},
        {R"(^layers\.([0-9]+)\.feed_forward\.w3\.)", R"(decoder.layers.\1.ffn.inner_proj.)"},
        {R"(^layers\.([0-9]+)\.ffn_norm\.)", R"(decoder.layers.\1.ffn_layer_norm.)"},
        {R"(^norm\.)", R"(decoder.layer_norm.)"},
        {R"(^tok_embeddings\.)", R"(decoder_frontend.embed.)"},
        {R"(^output\.)", R"(final_proj.)"},
    };
    return map;
}

}  // namespace fairseq2::models::llama

#include "meta_checkpoint.hpp"

#include "fairseq2/error.hpp"
#include "fairseq2/models/hugging_face.hpp"

namespace fairseq2::models::llama {

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

bool is_meta_state_dict(const checkpoint::StateDict& state_dict)
{
    return state_dict.contains("tok_embeddings.weight");
}

checkpoint::StateDict convert_meta_state_dict(checkpoint::StateDict state_dict, const LLaMAConfig& config)
{
    std::erase_if(state_dict, [](const auto& item) { return item.first.find("rope.freqs") != std::string::npos; });
    state_dict = checkpoint::convert_state_dict(std::move(state_dict), meta_key_map());
    if (!config.tied_embeddings && !state_dict.contains("final_proj.weight") && state_dict.contains("decoder_frontend.embed.weight"))
        state_dict.emplace("final_proj.weight", state_dict.at("decoder_frontend.embed.weight"));
    return state_dict;
}

}  // namespace fairseq2::models::llama

#include "fairseq_checkpoint.hpp"

#include <map>

#include <ATen/ATen.h>

#include "vocabulary_rows.hpp"

namespace fairseq2::models::transformer {

namespace {

const checkpoint::KeyMap& fairseq_key_map()
{
    static const checkpoint::KeyMap map = {
        {R"(^encoder\.embed_tokens\.)", "encoder_frontend.embed."},
        {R"(^decoder\.embed_tokens\.)", "decoder_frontend.embed."},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.self_attn\.out_proj\.)", R"(\1.layers.\2.self_attn.output_proj.)"},
        {R"(^decoder\.layers\.([0-9]+)\.encoder_attn\.out_proj\.)", R"(decoder.layers.\1.encoder_decoder_attn.output_proj.)"},
        {R"(^decoder\.layers\.([0-9]+)\.encoder_attn\.)", R"(decoder.layers.\1.encoder_decoder_attn.)"},
        {R"(^decoder\.layers\.([0-9]+)\.encoder_attn_layer_norm\.)", R"(decoder.layers.\1.encoder_decoder_attn_layer_norm.)"},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.fc1\.)", R"(\1.layers.\2.ffn.inner_proj.)"},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.fc2\.)", R"(\1.layers.\2.ffn.output_proj.)"},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.final_layer_norm\.)", R"(\1.layers.\2.ffn_layer_norm.)"},
        {R"(^decoder\.output_projection\.)", "final_proj."},
        {R"(^decoder\.embed_out$)", "final_proj.weight"},
    };
    return map;
}

}  // namespace

bool is_fairseq_state_dict(const checkpoint::StateDict& state_dict)
{
    return state_dict.contains("encoder.embed_tokens.weight") && state_dict.contains("decoder.embed_tokens.weight");
}

checkpoint::StateDict fairseq_vocabulary_to_nllb(checkpoint::StateDict state_dict, std::int64_t vocab_size)
{
    std::map<const void*, at::Tensor> converted;
    for (const char* key : {"encoder_frontend.embed.weight", "decoder_frontend.embed.weight", "final_proj.weight"}) {
        auto it = state_dict.find(key);
        if (it == state_dict.end())
            continue;
        const void* impl = it->second.unsafeGetTensorImpl();
        auto done = converted.find(impl);
        if (done == converted.end()) {
            at::Tensor table = it->second;
            if (table.dim() == 2 && table.size(0) == vocab_size + 1)
                table = table.narrow(0, 0, vocab_size);
            done = converted.emplace(impl, fairseq_rows_to_nllb(table)).first;
        }
        it->second = done->second;
    }
    return state_dict;
}

checkpoint::StateDict convert_fairseq_state_dict(checkpoint::StateDict state_dict)
{
    std::erase_if(state_dict, [](const auto& item) {
        const std::string& key = item.first;
        return key == "encoder.version" || key == "decoder.version" || key.ends_with("embed_positions._float_tensor");
    });
    return checkpoint::convert_state_dict(std::move(state_dict), fairseq_key_map());
}

}  // namespace fairseq2::models::transformer

#include "hf_checkpoint.hpp"

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "vocabulary_rows.hpp"

namespace fairseq2::models::transformer {

namespace {

const char* const embedding_names[] = {"model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight",
                                       "lm_head.weight"};

// transformers' names of the layers to fairseq2's, written out per side
// and projection so that the map can be reversed for export.
const checkpoint::KeyMap& hf_key_map()
{
    static const checkpoint::KeyMap map = [] {
        checkpoint::KeyMap m;
        const auto layer = [](const std::string& side) { return R"(^model\.)" + side + R"(\.layers\.([0-9]+)\.)"; };
        const auto out = [](const std::string& side) { return side + R"(.layers.\1.)"; };
        for (const std::string side : {"encoder", "decoder"}) {
            std::vector<std::pair<std::string, std::string>> attns{{"self_attn", "self_attn"}};
            if (side == "decoder")
                attns.emplace_back("encoder_attn", "encoder_decoder_attn");
            for (const auto& [hf, fs2] : attns) {
                for (const char* proj : {"q_proj", "k_proj", "v_proj"})
                    m.emplace_back(layer(side) + hf + R"(\.)" + proj + R"(\.)", out(side) + fs2 + "." + proj + ".");
                m.emplace_back(layer(side) + hf + R"(\.out_proj\.)", out(side) + fs2 + ".output_proj.");
                m.emplace_back(layer(side) + hf + R"(_layer_norm\.)", out(side) + fs2 + "_layer_norm.");
            }
            m.emplace_back(layer(side) + R"(fc1\.)", out(side) + "ffn.inner_proj.");
            m.emplace_back(layer(side) + R"(fc2\.)", out(side) + "ffn.output_proj.");
            m.emplace_back(layer(side) + R"(final_layer_norm\.)", out(side) + "ffn_layer_norm.");
            m.emplace_back(R"(^model\.)" + side + R"(\.layer_norm\.)", side + ".layer_norm.");
        }
        return m;
    }();
    return map;
}

}  // namespace

bool is_hf_state_dict(const checkpoint::StateDict& state_dict)
{
    for (const char* name : embedding_names)
        if (state_dict.contains(name))
            return true;
    return state_dict.contains("model.encoder.layers.0.self_attn.q_proj.weight");
}

checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict)
{
    at::Tensor embed;
    for (const char* name : embedding_names) {
        auto it = state_dict.find(name);
        if (it == state_dict.end())
            continue;
        if (!embed.defined())
            embed = it->second;
        state_dict.erase(it);
    }
    std::erase_if(state_dict, [](const auto& item) { return item.first.ends_with("embed_positions.weights"); });
    state_dict = checkpoint::convert_state_dict(std::move(state_dict), hf_key_map());
    if (embed.defined()) {
        if (embed.dim() != 2 || embed.size(0) < 4)
            throw CheckpointError("The shared embedding of the Hugging Face checkpoint has shape " + c10::str(embed.sizes()) +
                                  "; expected (vocabulary of at least 4 tokens, model_dim).");
        state_dict.emplace("encoder_frontend.embed.weight", fairseq_rows_to_nllb(embed));
    }
    // Without any embedding, the strict loader reports the missing key.
    return state_dict;
}

void export_hf_checkpoint(const TransformerModel& model, const TransformerConfig& config, const std::filesystem::path& dir)
{
    boost::json::object json = hf_config_from_transformer(config);
    checkpoint::StateDict state_dict = checkpoint::module_state_dict(model);
    const at::Tensor embed = state_dict.at("encoder_frontend.embed.weight");
    for (const char* alias : {"encoder_frontend.embed.weight", "decoder_frontend.embed.weight", "final_proj.weight"})
        state_dict.erase(alias);
    state_dict.emplace("model.shared.weight", nllb_rows_to_fairseq(embed));
    hf::export_checkpoint(dir, std::move(state_dict), hf_key_map(), std::move(json));
}

}  // namespace fairseq2::models::transformer

#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "fairseq_checkpoint.hpp"
#include "hf_checkpoint.hpp"
#include "vocabulary_rows.hpp"

namespace fairseq2::models::transformer {

TransformerModelHandler::TransformerModelHandler(ConfigRegistry<TransformerConfig> configs)
    : AbstractModelHandler(family_name, "TransformerConfig", default_transformer_arch, configs)
{
}

bool TransformerModelHandler::recognizes_checkpoint(const CheckpointDescription& checkpoint) const
{
    if (is_m2m100_model_type(checkpoint.hf_model_type))
        return true;
    if (checkpoint.state_dict == nullptr)
        return false;
    const checkpoint::StateDict& state_dict = *checkpoint.state_dict;
    if (is_fairseq_state_dict(state_dict))
        return true;
    return state_dict.contains("encoder_frontend.embed.weight") && state_dict.contains("decoder.layers.0.encoder_decoder_attn.q_proj.weight");
}

std::shared_ptr<TransformerModel> TransformerModelHandler::create_model(const TransformerConfig& config,
                                                                        const at::TensorOptions& options) const
{
    return TransformerFactory(config, options).create_model();
}

checkpoint::StateDict TransformerModelHandler::convert_checkpoint(checkpoint::StateDict state_dict, const TransformerConfig& config) const
{
    if (is_fairseq_state_dict(state_dict)) {
        state_dict = convert_fairseq_state_dict(std::move(state_dict));
        // fairseq's NLLB checkpoints loaded as NLLB (the cards' arch).
        if (is_nllb_layout(config.vocab_info))
            state_dict = fairseq_vocabulary_to_nllb(std::move(state_dict), config.vocab_info.size);
        return state_dict;
    }
    if (is_hf_state_dict(state_dict))
        return convert_hf_state_dict(std::move(state_dict));
    return state_dict;
}

std::vector<std::string> TransformerModelHandler::export_formats() const
{
    return {"hf"};
}

std::optional<TransformerConfig> TransformerModelHandler::config_from_files(const std::filesystem::path& path) const
{
    // Another family's config.json is not an error: detection asks every family.
    std::optional<hf::Config> hf_config = hf::read_config(path);
    if (!hf_config || !is_m2m100_model_type(hf_config->model_type))
        return std::nullopt;
    TransformerConfig config = transformer_config_from_hf(hf_config->json, hf_config->file);
    log().info("Using the transformer config of '{}'.", hf_config->file.string());
    return config;
}

void TransformerModelHandler::export_model(const TransformerModel& model, const TransformerConfig& config, const std::string& /*format*/,
                                           const std::filesystem::path& out) const
{
    export_hf_checkpoint(model, config, out);
}

std::optional<TransformerConfig> TransformerModelHandler::config_from_contents(const checkpoint::LoadedCheckpoint& checkpoint) const
{
    const boost::json::object* args = fairseq_model_args(checkpoint.extras);
    if (args == nullptr || !is_fairseq_state_dict(checkpoint.state_dict))
        return std::nullopt;
    const auto rows = [&](const char* key) {
        const at::Tensor& table = checkpoint.state_dict.at(key);
        if (table.dim() != 2)
            throw CheckpointError("The checkpoint '" + checkpoint.path.string() + "' has a '" + key + "' of " + std::to_string(table.dim()) +
                                  " dimensions; an embedding table has 2.");
        return table.size(0);
    };
    TransformerConfig config =
        transformer_config_from_fairseq(*args, rows("encoder.embed_tokens.weight"), rows("decoder.embed_tokens.weight"), checkpoint.path);
    log().info("Using the transformer config of the fairseq hyperparameters in '{}'.", checkpoint.path.string());
    return config;
}

}  // namespace fairseq2::models::transformer

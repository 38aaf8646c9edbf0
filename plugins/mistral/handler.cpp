#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "hf_checkpoint.hpp"
#include "reference_checkpoint.hpp"

namespace fairseq2::models::mistral {

MistralModelHandler::MistralModelHandler(ConfigRegistry<MistralConfig> configs)
    : AbstractModelHandler(family_name, "MistralConfig", default_mistral_arch, configs)
{
}

bool MistralModelHandler::recognizes_checkpoint(const CheckpointDescription& checkpoint) const
{
    return checkpoint.hf_model_type == "mistral";
}

std::vector<std::string> MistralModelHandler::export_formats() const
{
    return {"hf"};
}

std::shared_ptr<MistralModel> MistralModelHandler::create_model(const MistralConfig& config, const at::TensorOptions& options) const
{
    return MistralFactory(config, options).create_model();
}

checkpoint::StateDict MistralModelHandler::convert_checkpoint(checkpoint::StateDict state_dict, const MistralConfig& config) const
{
    if (is_reference_state_dict(state_dict))
        return convert_reference_state_dict(std::move(state_dict));
    if (hf::is_causal_lm_state_dict(state_dict))
        return convert_hf_state_dict(std::move(state_dict), config);
    return state_dict;
}

std::optional<MistralConfig> MistralModelHandler::config_from_files(const std::filesystem::path& path) const
{
    // Another family's config.json is not an error: detection asks every family.
    std::optional<hf::Config> hf_config = hf::read_config(path);
    if (!hf_config || hf_config->model_type != "mistral")
        return std::nullopt;
    MistralConfig config = mistral_config_from_hf(hf_config->json, hf_config->file);
    log().info("Using the mistral config of '{}'.", hf_config->file.string());
    return config;
}

void MistralModelHandler::export_model(const MistralModel& model, const MistralConfig& config, const std::string& /*format*/,
                                       const std::filesystem::path& out) const
{
    export_hf_checkpoint(model, config, out);
}

}  // namespace fairseq2::models::mistral

#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"
#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/json_file.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "hf_checkpoint.hpp"
#include "meta_checkpoint.hpp"

namespace fairseq2::models::llama {

LLaMAModelHandler::LLaMAModelHandler(ConfigRegistry<LLaMAConfig> configs)
    : AbstractModelHandler(family_name, "LLaMAConfig", default_llama_arch, configs)
{
}

std::vector<std::string> LLaMAModelHandler::export_formats() const
{
    return {"hf"};
}

std::shared_ptr<LLaMAModel> LLaMAModelHandler::create_model(const LLaMAConfig& config, const at::TensorOptions& options) const
{
    return LLaMAFactory(config, options).create_model();
}

bool LLaMAModelHandler::recognizes_checkpoint(const CheckpointDescription& checkpoint) const
{
    if (!checkpoint.hf_model_type.empty())
        return checkpoint.hf_model_type == "llama";
    std::error_code error;
    return std::filesystem::is_regular_file(checkpoint.directory / "params.json", error);
}

checkpoint::StateDict LLaMAModelHandler::convert_checkpoint(checkpoint::StateDict state_dict, const LLaMAConfig& config) const
{
    if (hf::is_causal_lm_state_dict(state_dict))
        return convert_hf_state_dict(std::move(state_dict), config);
    if (is_meta_state_dict(state_dict))
        return convert_meta_state_dict(std::move(state_dict), config);
    return state_dict;
}

std::optional<LLaMAConfig> LLaMAModelHandler::config_from_files(const std::filesystem::path& path) const
{
    const std::filesystem::path dir = checkpoint::checkpoint_directory(path);
    std::error_code error;
    // A config.json without model_type is not a Hugging Face one.
    if (std::optional<hf::Config> hf_config = hf::read_config(path)) {
        LLaMAConfig config = llama_config_from_hf(hf_config->json, hf_config->file);
        log().info("Using the llama config of '{}'.", hf_config->file.string());
        return config;
    }
    if (const auto file = dir / "params.json"; std::filesystem::is_regular_file(file, error)) {
        LLaMAConfig config = llama_config_from_meta(checkpoint::read_json_file(file), file);
        log().info("Using the llama config of '{}'.", file.string());
        return config;
    }
    return std::nullopt;
}

void LLaMAModelHandler::export_model(const LLaMAModel& model, const LLaMAConfig& config, const std::string& /*format*/,
                                     const std::filesystem::path& out) const
{
    export_hf_checkpoint(model, config, out);
}

}  // namespace fairseq2::models::llama

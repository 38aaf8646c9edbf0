#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "hf_checkpoint.hpp"

namespace fairseq2::models::qwen {

QwenModelHandler::QwenModelHandler(ConfigRegistry<QwenConfig> configs)
    : AbstractModelHandler(family_name, "QwenConfig", default_qwen_arch, configs)
{
}

bool QwenModelHandler::recognizes_checkpoint(const CheckpointDescription& checkpoint) const
{
    return is_qwen_model_type(checkpoint.hf_model_type);
}

std::vector<std::string> QwenModelHandler::export_formats() const
{
    return {"hf"};
}

std::shared_ptr<QwenModel> QwenModelHandler::create_model(const QwenConfig& config, const at::TensorOptions& options) const
{
    return QwenFactory(config, options).create_model();
}

checkpoint::StateDict QwenModelHandler::convert_checkpoint(checkpoint::StateDict state_dict, const QwenConfig& config) const
{
    if (hf::is_causal_lm_state_dict(state_dict))
        return convert_hf_state_dict(std::move(state_dict), config);
    return state_dict;
}

std::optional<QwenConfig> QwenModelHandler::config_from_files(const std::filesystem::path& path) const
{
    // Another family's config.json is not an error: detection asks every family.
    std::optional<hf::Config> hf_config = hf::read_config(path);
    if (!hf_config || !is_qwen_model_type(hf_config->model_type))
        return std::nullopt;
    QwenConfig config = qwen_config_from_hf(hf_config->json, hf_config->file);
    log().info("Using the qwen config of '{}'.", hf_config->file.string());
    return config;
}

void QwenModelHandler::export_model(const QwenModel& model, const QwenConfig& config, const std::string& /*format*/,
                                    const std::filesystem::path& out) const
{
    export_hf_checkpoint(model, config, out);
}

}  // namespace fairseq2::models::qwen

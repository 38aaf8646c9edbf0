#pragma once

// The qwen model handler: presets, model creation, the Hugging Face
// checkpoint layout (keys, tied embeddings, config.json of model_type
// "qwen2" or "qwen3"), and export as a Hugging Face checkpoint.

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "model.hpp"

namespace fairseq2::models::qwen {

class QwenModelHandler final : public AbstractModelHandler<QwenConfig, QwenModel> {
public:
    explicit QwenModelHandler(ConfigRegistry<QwenConfig> configs);

    bool supports_meta() const override { return false; }

    // A config.json of model_type "qwen2" or "qwen3".
    bool recognizes_checkpoint(const CheckpointDescription& checkpoint) const override;

    // {"hf"}: a Hugging Face directory (config.json, model.safetensors).
    std::vector<std::string> export_formats() const override;

protected:
    std::shared_ptr<QwenModel> create_model(const QwenConfig& config, const at::TensorOptions& options) const override;

    checkpoint::StateDict convert_checkpoint(checkpoint::StateDict state_dict, const QwenConfig& config) const override;

    // From config.json (Hugging Face, model_type "qwen2" or "qwen3") in the
    // checkpoint's directory; nullopt without one or for another model_type.
    std::optional<QwenConfig> config_from_files(const std::filesystem::path& path) const override;

    void export_model(const QwenModel& model, const QwenConfig& config, const std::string& format,
                      const std::filesystem::path& out) const override;
};

}  // namespace fairseq2::models::qwen

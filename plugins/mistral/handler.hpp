#pragma once

// The mistral model handler: the preset, model creation, the Hugging Face
// (MistralForCausalLM) and reference checkpoint layouts, and export as a
// Hugging Face checkpoint.

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "model.hpp"

namespace fairseq2::models::mistral {

class MistralModelHandler final : public AbstractModelHandler<MistralConfig, MistralModel> {
public:
    explicit MistralModelHandler(ConfigRegistry<MistralConfig> configs);

    bool supports_meta() const override { return false; }

    // A config.json of model_type "mistral".
    bool recognizes_checkpoint(const CheckpointDescription& checkpoint) const override;

    // {"hf"}: a Hugging Face directory (config.json, model.safetensors).
    std::vector<std::string> export_formats() const override;

protected:
    std::shared_ptr<MistralModel> create_model(const MistralConfig& config, const at::TensorOptions& options) const override;

    checkpoint::StateDict convert_checkpoint(checkpoint::StateDict state_dict, const MistralConfig& config) const override;

    // From config.json (Hugging Face, model_type "mistral") in the
    // checkpoint's directory; nullopt without one or for another model_type.
    std::optional<MistralConfig> config_from_files(const std::filesystem::path& path) const override;

    void export_model(const MistralModel& model, const MistralConfig& config, const std::string& format,
                      const std::filesystem::path& out) const override;
};

}  // namespace fairseq2::models::mistral

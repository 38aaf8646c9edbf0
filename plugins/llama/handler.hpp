#pragma once

// The llama model handler: presets, model creation, the Hugging Face and
// Meta reference checkpoint layouts (keys, q/k order, config.json and
// params.json), and export as a Hugging Face checkpoint.

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "model.hpp"

namespace fairseq2::models::llama {

class LLaMAModelHandler final : public AbstractModelHandler<LLaMAConfig, LLaMAModel> {
public:
    explicit LLaMAModelHandler(ConfigRegistry<LLaMAConfig> configs);

    bool supports_meta() const override { return false; }

    // A config.json of model_type "llama", or a Meta params.json.
    bool recognizes_checkpoint(const CheckpointDescription& checkpoint) const override;

    // {"hf"}: a Hugging Face directory (config.json, model.safetensors).
    std::vector<std::string> export_formats() const override;

protected:
    std::shared_ptr<LLaMAModel> create_model(const LLaMAConfig& config, const at::TensorOptions& options) const override;

    checkpoint::StateDict convert_checkpoint(checkpoint::StateDict state_dict, const LLaMAConfig& config) const override;

    // From config.json (Hugging Face, model_type "llama") or else
    // params.json (Meta) in the checkpoint's directory.
    std::optional<LLaMAConfig> config_from_files(const std::filesystem::path& path) const override;

    void export_model(const LLaMAModel& model, const LLaMAConfig& config, const std::string& format,
                      const std::filesystem::path& out) const override;
};

}  // namespace fairseq2::models::llama

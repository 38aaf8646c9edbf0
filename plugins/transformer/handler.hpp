#pragma once

// The transformer model handler: presets, model creation, checkpoints in
// fairseq2 layout, fairseq (v1) translation checkpoints, whose config is
// derived from their hyperparameters when no arch is given, and Hugging Face
// M2M100 (NLLB) directories, read and written.

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "model.hpp"

namespace fairseq2::models::transformer {

class TransformerModelHandler final : public AbstractModelHandler<TransformerConfig, TransformerModel> {
public:
    explicit TransformerModelHandler(ConfigRegistry<TransformerConfig> configs);

    bool supports_meta() const override { return false; }

    // A fairseq translation state dict (encoder.embed_tokens.weight and
    // decoder.embed_tokens.weight), or an encoder-decoder one in fairseq2
    // names (encoder_frontend.embed.weight and an encoder-decoder attention).
    bool recognizes_checkpoint(const CheckpointDescription& checkpoint) const override;

    // {"hf"}: a Hugging Face M2M100 directory (config.json, model.safetensors).
    std::vector<std::string> export_formats() const override;

protected:
    std::shared_ptr<TransformerModel> create_model(const TransformerConfig& config, const at::TensorOptions& options) const override;

    checkpoint::StateDict convert_checkpoint(checkpoint::StateDict state_dict, const TransformerConfig& config) const override;

    // From a fairseq checkpoint's "args" (or "cfg"."model"), with the
    // vocabulary sizes of its embedding tables.
    std::optional<TransformerConfig> config_from_contents(const checkpoint::LoadedCheckpoint& checkpoint) const override;

    // From config.json (Hugging Face, model_type "m2m_100") in the
    // checkpoint's directory; nullopt without one or for another model_type.
    std::optional<TransformerConfig> config_from_files(const std::filesystem::path& path) const override;

    void export_model(const TransformerModel& model, const TransformerConfig& config, const std::string& format,
                      const std::filesystem::path& out) const override;
};

}  // namespace fairseq2::models::transformer

#pragma once

// The llama model handler: presets, model creation, and conversion of the
// Hugging Face and Meta reference checkpoint layouts to fairseq2's.

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "model.hpp"

namespace fairseq2::models::llama {

class LLaMAModelHandler final : public AbstractModelHandler<LLaMAConfig, LLaMAModel> {
public:
    explicit LLaMAModelHandler(ConfigRegistry<LLaMAConfig> configs);

    bool supports_meta() const override { return false; }

protected:
    std::shared_ptr<LLaMAModel> create_model(const LLaMAConfig& config, const at::TensorOptions& options) const override;

    checkpoint::StateDict convert_checkpoint(checkpoint::StateDict state_dict, const LLaMAConfig& config) const override;
};

// The key maps of the Hugging Face and Meta reference layouts (fairseq2's).
const checkpoint::KeyMap& hf_key_map();
const checkpoint::KeyMap& meta_key_map();

// Hugging Face stores q/k projections in rotate-half order; fairseq2 rotates
// consecutive pairs. Reorders an HF weight of shape (heads * d, dim).
at::Tensor permute_rotary_weight(const at::Tensor& weight, std::int64_t num_heads);

}  // namespace fairseq2::models::llama

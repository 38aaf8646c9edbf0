#pragma once

// The your_model model handler: what the host, the CLI and applications use
// to list the family's archs, check configs and create or load its models.

#include "config.hpp"
#include "fairseq2/models/abstract_model_handler.hpp"
#include "model.hpp"

namespace your_model {

class YourModelHandler final : public fairseq2::models::AbstractModelHandler<YourModelConfig, YourModel> {
public:
    explicit YourModelHandler(fairseq2::ConfigRegistry<YourModelConfig> configs);

    bool supports_meta() const override { return false; }

protected:
    std::shared_ptr<YourModel> create_model(const YourModelConfig& config, const at::TensorOptions& options) const override;

    // Checkpoints of the reference implementation name the embedding
    // "tok_embeddings"; everything else already has fairseq2's names.
    fairseq2::checkpoint::StateDict convert_checkpoint(fairseq2::checkpoint::StateDict state_dict,
                                                       const YourModelConfig& config) const override;
};

}  // namespace your_model

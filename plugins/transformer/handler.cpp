#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq_checkpoint.hpp"

namespace fairseq2::models::transformer {

TransformerModelHandler::TransformerModelHandler(ConfigRegistry<TransformerConfig> configs)
    : AbstractModelHandler(family_name, "TransformerConfig", default_transformer_arch, configs)
{
}

bool TransformerModelHandler::recognizes_checkpoint(const CheckpointDescription& checkpoint) const
{
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

checkpoint::StateDict TransformerModelHandler::convert_checkpoint(checkpoint::StateDict state_dict, const TransformerConfig& /*config*/) const
{
    if (is_fairseq_state_dict(state_dict))
        return convert_fairseq_state_dict(std::move(state_dict));
    return state_dict;
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

#include "handler.hpp"

#include <ATen/ATen.h>

#include "factory.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"

namespace your_model {

YourModelHandler::YourModelHandler(fairseq2::ConfigRegistry<YourModelConfig> configs)
    : AbstractModelHandler(family_name, "YourModelConfig", default_your_model_arch, configs)
{
}

std::shared_ptr<YourModel> YourModelHandler::create_model(const YourModelConfig& config, const at::TensorOptions& options) const
{
    return YourModelFactory(config, options).create_model();
}

fairseq2::checkpoint::StateDict YourModelHandler::convert_checkpoint(fairseq2::checkpoint::StateDict state_dict,
                                                                     const YourModelConfig& /*config*/) const
{
    static const fairseq2::checkpoint::KeyMap key_map{
        {R"(^tok_embeddings\.)", "embed."},
        {R"(^output\.)", "final_proj."},
    };
    return fairseq2::checkpoint::convert_state_dict(std::move(state_dict), key_map);
}

}  // namespace your_model

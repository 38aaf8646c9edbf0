// The plugin's entry points: the handshake the host reads from the file
// before loading it, and the setup function that registers the family.

#include "config.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
#include "fairseq2/runtime/runtime_context.hpp"
#include "handler.hpp"

FAIRSEQ2_PLUGIN_INFO();

FAIRSEQ2_PLUGIN_EXPORT void setup_fairseq2_extension(fairseq2::RuntimeContext& context)
{
    // Presets first: the handler checks that its default arch exists.
    auto configs = context.get_config_registry<your_model::YourModelConfig>();
    your_model::register_your_model_configs(configs);

    context.get_registry<fairseq2::models::ModelHandler>().register_(your_model::family_name,
                                                                     std::make_shared<your_model::YourModelHandler>(configs));
}

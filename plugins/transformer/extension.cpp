// The transformer plugin's entry points: its handshake record and the setup
// function that registers the presets, the handler and the built-in cards.

#include "cards.hpp"
#include "config.hpp"
#include "fairseq2/assets/asset_card_source.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
#include "handler.hpp"
#include "tokenizer.hpp"

FAIRSEQ2_PLUGIN_INFO();

FAIRSEQ2_PLUGIN_EXPORT void setup_fairseq2_extension(fairseq2::RuntimeContext& context)
{
    using namespace fairseq2::models::transformer;

    auto configs = context.get_config_registry<TransformerConfig>();
    register_transformer_configs(configs);

    context.get_registry<fairseq2::models::ModelHandler>().register_(family_name, std::make_shared<TransformerModelHandler>(configs));
    context.get_registry<fairseq2::tokenizers::TokenizerHandler>().register_(family_name, std::make_shared<TransformerTokenizerHandler>());

    fairseq2::assets::register_cards(context, family_name, transformer_cards_yaml(), "transformer.yaml");
}

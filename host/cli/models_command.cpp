// `fairseq2 models list|archs|config`: the families the plugins registered,
// their archs, and any arch's config with overrides applied.

#include <iomanip>
#include <iostream>

#include <boost/json.hpp>

#include "cli_context.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "json_output.hpp"
#include "model_source.hpp"

namespace fairseq2::cli {

namespace {

// The plugin name of the library that registered `family`.
std::string plugin_of(host::Host& host, const std::string& family)
{
    for (const auto& record : host.plugins())
        for (const auto& name : record.families)
            if (name == family)
                return record.name;
    return "host";
}

int list_models(CliContext& context, bool json)
{
    auto& host = context.host();
    auto handlers = host.context().get_registry<models::ModelHandler>();
    if (json) {
        boost::json::array array;
        for (const auto& family : handlers.keys()) {
            auto handler = handlers.get(family);
            array.push_back(boost::json::object{
                {"family", family},
                {"plugin", plugin_of(host, family)},
                {"default_arch", handler->default_arch()},
                {"config_type", handler->config_type_name()},
                {"num_archs", handler->archs().size()},
            });
        }
        std::cout << pretty_json(array) << "\n";
        return 0;
    }
    std::cout << std::left << std::setw(16) << "FAMILY" << std::setw(16) << "PLUGIN" << "DEFAULT ARCH\n";
    for (const auto& family : handlers.keys())
        std::cout << std::left << std::setw(16) << family << std::setw(16) << plugin_of(host, family)
                  << handlers.get(family)->default_arch() << "\n";
    return 0;
}

int list_archs(CliContext& context, const std::string& family)
{
    auto handler = context.hub().get_handler(family);
    for (const auto& arch : handler->archs())
        std::cout << arch << "\n";
    return 0;
}

int show_config(CliContext& context, const ModelSelection& selection)
{
    if (selection.model.empty() && selection.family.empty())
        throw InvalidArgumentError("Give a model family (models config FAMILY) or an asset card (models config --model NAME).");
    std::cout << pretty_json(select_model(context.hub(), selection).config) << "\n";
    return 0;
}

}  // namespace

void add_models_commands(CLI::App& app, CliContext& context, int& exit_code)
{
    auto* models = app.add_subcommand("models", "Inspect model families, archs and configs");
    models->require_subcommand(1);

    auto* list = models->add_subcommand("list", "List model families with their plugin and default arch");
    auto json = std::make_shared<bool>(false);
    list->add_flag("--json", *json, "Print JSON");
    list->callback([&context, &exit_code, json] {
        context.apply_globals();
        exit_code = list_models(context, *json);
    });

    auto* archs = models->add_subcommand("archs", "List the arch names of a family, one per line");
    auto archs_family = std::make_shared<std::string>();
    archs->add_option("FAMILY", *archs_family, "Model family")->required();
    archs->callback([&context, &exit_code, archs_family] {
        context.apply_globals();
        exit_code = list_archs(context, *archs_family);
    });

    auto args = std::make_shared<ModelSelection>();
    auto* config = models->add_subcommand("config", "Print the config of an arch or of a model card as JSON, with overrides applied");
    auto* family = config->add_option("FAMILY", args->family, "Model family (or give --model)");
    auto* arch = config->add_option("--arch", args->arch, "Arch name (default: the family's default arch)");
    config->add_option("--model", args->model, "Asset card of the model (its family, arch and model_config overrides)")
        ->type_name("NAME")
        ->excludes(family)
        ->excludes(arch);
    config->add_option("--set", args->sets, "Override a config field, e.g. --set model_dim=64 --set vocab_info.size=512")
        ->type_name("KEY=VALUE");
    config->callback([&context, &exit_code, args] {
        context.apply_globals();
        exit_code = show_config(context, *args);
    });
}

}  // namespace fairseq2::cli

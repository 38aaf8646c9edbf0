// `fairseq2 plugins list [--json]`: every plugin file found, with its name,
// version, families and whether it loaded (and why not).

#include <iomanip>
#include <iostream>

#include <boost/json.hpp>

#include "cli_context.hpp"
#include "json_output.hpp"

namespace fairseq2::cli {

namespace {

std::string join(const std::vector<std::string>& items)
{
    std::string text;
    for (const auto& item : items)
        text += (text.empty() ? "" : ",") + item;
    return text;
}

int list_plugins(CliContext& context, bool json)
{
    const auto& records = context.host().plugins();
    if (json) {
        boost::json::array array;
        for (const auto& record : records) {
            boost::json::array families;
            for (const auto& family : record.families)
                families.emplace_back(family);
            boost::json::object object{
                {"file", record.file.string()},
                {"name", record.name},
                {"version", record.version},
                {"families", std::move(families)},
                {"status", record.status == host::PluginStatus::loaded ? "loaded" : "failed"},
            };
            if (record.status == host::PluginStatus::failed)
                object["error"] = record.error;
            array.push_back(std::move(object));
        }
        std::cout << pretty_json(array) << "\n";
        return 0;
    }
    if (records.empty()) {
        std::cout << "No plugins found. Searched:";
        for (const auto& dir : context.host().plugin_search_path())
            std::cout << " " << dir.string();
        std::cout << "\n";
        return 0;
    }
    std::cout << std::left << std::setw(12) << "NAME" << std::setw(10) << "VERSION" << std::setw(16) << "FAMILIES" << std::setw(8)
              << "STATUS" << "FILE\n";
    for (const auto& record : records) {
        bool loaded = record.status == host::PluginStatus::loaded;
        std::cout << std::left << std::setw(12) << (record.name.empty() ? "-" : record.name) << std::setw(10)
                  << (record.version.empty() ? "-" : record.version) << std::setw(16)
                  << (record.families.empty() ? "-" : join(record.families)) << std::setw(8) << (loaded ? "loaded" : "failed")
                  << record.file.string() << "\n";
        if (!loaded)
            std::cout << "    error: " << record.error << "\n";
    }
    return 0;
}

}  // namespace

void add_plugins_commands(CLI::App& app, CliContext& context, int& exit_code)
{
    auto* plugins = app.add_subcommand("plugins", "Inspect the plugins the host finds");
    plugins->require_subcommand(1);

    auto* list = plugins->add_subcommand("list", "List plugin files, their families and load status");
    auto json = std::make_shared<bool>(false);
    list->add_flag("--json", *json, "Print JSON");
    list->callback([&context, &exit_code, json] {
        context.apply_globals();
        exit_code = list_plugins(context, *json);
    });
}

}  // namespace fairseq2::cli

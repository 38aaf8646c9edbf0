// `fairseq2 plugins list [--json]`: every plugin file found, with its name,
// version, families and whether it loaded (and why not).
// `fairseq2 plugins inspect FILE [--json]`: the handshake a plugin file
// declares, read without loading it, and whether this host can load it.

#include <algorithm>
#include <iomanip>
#include <iostream>

#include <boost/json.hpp>

#include "cli_context.hpp"
#include "fairseq2/host/plugin_inspector.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
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
    // Listed even in strict mode, which then fails after the list.
    const auto& records = context.loaded_host().plugins();
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
        context.require_strict_success();
        return 0;
    }
    if (records.empty()) {
        std::cout << "No plugins found. Searched:";
        for (const auto& dir : context.loaded_host().plugin_search_path())
            std::cout << " " << dir.string();
        std::cout << "\n";
        context.require_strict_success();
        return 0;
    }
    // Columns are at least as wide as before and grow to fit long names.
    std::size_t name_width = 12, version_width = 10, families_width = 16;
    for (const auto& record : records) {
        name_width = std::max(name_width, record.name.size() + 2);
        version_width = std::max(version_width, record.version.size() + 2);
        families_width = std::max(families_width, join(record.families).size() + 2);
    }
    auto width = [](std::size_t value) { return static_cast<int>(value); };
    std::cout << std::left << std::setw(width(name_width)) << "NAME" << std::setw(width(version_width)) << "VERSION"
              << std::setw(width(families_width)) << "FAMILIES" << std::setw(8) << "STATUS" << "FILE\n";
    for (const auto& record : records) {
        bool loaded = record.status == host::PluginStatus::loaded;
        std::cout << std::left << std::setw(width(name_width)) << (record.name.empty() ? "-" : record.name) << std::setw(width(version_width))
                  << (record.version.empty() ? "-" : record.version) << std::setw(width(families_width))
                  << (record.families.empty() ? "-" : join(record.families)) << std::setw(8) << (loaded ? "loaded" : "failed")
                  << record.file.string() << "\n";
        if (!loaded)
            std::cout << "    error: " << record.error << "\n";
    }
    std::cout.flush();
    context.require_strict_success();
    return 0;
}

// Exit 0 when the host can load the plugin; 1 (with the reason on stderr)
// when it cannot, or when the file has no readable handshake.
int inspect_plugin_file(const std::string& file, bool json)
{
    const host::PluginHandshake handshake = host::inspect_plugin(file);
    const std::string problem = host::incompatibility(handshake);
    if (json) {
        boost::json::object object{
            {"file", handshake.file.string()},
            {"name", handshake.name},
            {"version", handshake.version},
            {"sdk_version", handshake.sdk_version},
            {"abi_version", handshake.abi_version},
            {"torch_version", handshake.torch_version},
            {"cxx11_abi", handshake.cxx11_abi},
            {"entry_point", handshake.has_entry_point},
            {"compatible", problem.empty()},
        };
        if (!problem.empty())
            object["problem"] = problem;
        std::cout << pretty_json(object) << "\n";
    } else {
        auto row = [](const char* key, const std::string& value) { std::cout << std::left << std::setw(14) << key << value << "\n"; };
        row("file", handshake.file.string());
        row("name", handshake.name);
        row("version", handshake.version);
        row("sdk version", handshake.sdk_version);
        row("sdk abi", std::to_string(handshake.abi_version));
        row("libtorch", handshake.torch_version);
        row("cxx11 abi", std::to_string(handshake.cxx11_abi));
        row("entry point", handshake.has_entry_point ? "setup_fairseq2_extension" : "none");
        row("loadable", problem.empty() ? "yes (this host: SDK " FAIRSEQ2_SDK_VERSION_STRING ", ABI " + std::to_string(FAIRSEQ2_SDK_ABI_VERSION) +
                                              ", libtorch " FAIRSEQ2_TORCH_VERSION_STRING ")"
                                        : "no");
    }
    if (!problem.empty()) {
        std::cout.flush();
        throw host::PluginFileError(file, problem);
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

    auto* inspect = plugins->add_subcommand("inspect", "Print the handshake of a plugin file without loading it");
    auto file = std::make_shared<std::string>();
    auto inspect_json = std::make_shared<bool>(false);
    inspect->add_option("FILE", *file, "The plugin library (.so)")->required();
    inspect->add_flag("--json", *inspect_json, "Print JSON");
    inspect->callback([&context, &exit_code, file, inspect_json] {
        context.apply_globals();
        exit_code = inspect_plugin_file(*file, *inspect_json);
    });
}

}  // namespace fairseq2::cli

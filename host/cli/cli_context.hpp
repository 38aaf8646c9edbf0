#pragma once

// What every command of the `fairseq2` program shares: the host options from
// the global flags and the Host, created when a command first needs it.

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "fairseq2/host/host.hpp"
#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"
#include "fairseq2/models/hub.hpp"

namespace fairseq2::cli {

class CliContext {
public:
    // Global options, filled by the parser before any command runs.
    std::vector<std::string> plugin_dirs;
    std::string log_level;
    bool strict_plugins = false;
    bool no_default_plugins = false;
    bool no_plugin_scan = false;

    // Applies the global options (log level); every command calls it first.
    void apply_globals();

    // The host with its plugins loaded; in strict mode (--strict-plugins or
    // FAIRSEQ2_STRICT_PLUGINS) throws PluginError when any plugin failed.
    host::Host& host();

    // The host with its plugins loaded, whether or not some failed; a command
    // that reports failures itself calls require_strict_success() after.
    host::Host& loaded_host();

    // Throws what host() would throw.
    void require_strict_success();

    // The model hub over host()'s registries and the asset store (user,
    // system and plugin cards, read when a card is first needed).
    models::ModelHub& hub();

    // The tokenizer hub over host()'s registries and the asset store.
    tokenizers::TokenizerHub& tokenizer_hub();

private:
    std::unique_ptr<host::Host> host_;
    std::exception_ptr strict_failure_;
    std::unique_ptr<models::ModelHub> hub_;
    std::unique_ptr<tokenizers::TokenizerHub> tokenizer_hub_;
};

// Each add_*_commands registers its subcommands on `app`; their callbacks
// run the command and store its exit code in `exit_code`.
void add_plugins_commands(CLI::App& app, CliContext& context, int& exit_code);
void add_models_commands(CLI::App& app, CliContext& context, int& exit_code);
void add_generate_command(CLI::App& app, CliContext& context, int& exit_code);
void add_translate_command(CLI::App& app, CliContext& context, int& exit_code);
void add_convert_command(CLI::App& app, CliContext& context, int& exit_code);
void add_assets_commands(CLI::App& app, CliContext& context, int& exit_code);
void add_tokenize_commands(CLI::App& app, CliContext& context, int& exit_code);

}  // namespace fairseq2::cli

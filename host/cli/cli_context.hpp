#pragma once

// What every command of the `fairseq2` program shares: the host options from
// the global flags and the Host, created when a command first needs it.

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "fairseq2/host/host.hpp"

namespace fairseq2::cli {

class CliContext {
public:
    // Global options, filled by the parser before any command runs.
    std::vector<std::string> plugin_dirs;
    std::string log_level;

    // Applies the global options (log level); every command calls it first.
    void apply_globals();

    // The host with its plugins loaded.
    host::Host& host();

private:
    std::unique_ptr<host::Host> host_;
};

// Each add_*_commands registers its subcommands on `app`; their callbacks
// run the command and store its exit code in `exit_code`.
void add_plugins_commands(CLI::App& app, CliContext& context, int& exit_code);
void add_models_commands(CLI::App& app, CliContext& context, int& exit_code);
void add_generate_command(CLI::App& app, CliContext& context, int& exit_code);

}  // namespace fairseq2::cli

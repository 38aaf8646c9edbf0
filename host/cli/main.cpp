// The `fairseq2` command-line program.

#include <iostream>

#include <c10/util/Exception.h>

#include "cli_context.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/runtime/memory.hpp"
#include "fairseq2/version.hpp"

namespace fairseq2::cli {

void CliContext::apply_globals()
{
    if (!log_level.empty())
        set_log_level(log_level);
}

host::Host& CliContext::loaded_host()
{
    if (!host_) {
        host::HostOptions options;
        for (const auto& dir : plugin_dirs)
            options.plugin_dirs.emplace_back(dir);
        options.strict_plugins = strict_plugins;
        options.use_default_plugin_dir = !no_default_plugins;
        options.scan_plugins = !no_plugin_scan;
        host_ = std::make_unique<host::Host>(std::move(options));
        try {
            host_->load_plugins();
        } catch (const fairseq2::Error&) {
            // Strict mode: every plugin was tried; commands decide when to fail.
            strict_failure_ = std::current_exception();
        }
    }
    return *host_;
}

void CliContext::require_strict_success()
{
    loaded_host();
    if (strict_failure_)
        std::rethrow_exception(strict_failure_);
}

host::Host& CliContext::host()
{
    require_strict_success();
    return *host_;
}

models::ModelHub& CliContext::hub()
{
    if (!hub_)
        hub_ = std::make_unique<models::ModelHub>(host().context());
    return *hub_;
}

tokenizers::TokenizerHub& CliContext::tokenizer_hub()
{
    if (!tokenizer_hub_)
        tokenizer_hub_ = std::make_unique<tokenizers::TokenizerHub>(host().context());
    return *tokenizer_hub_;
}

}  // namespace fairseq2::cli

int main(int argc, char** argv)
{
    using namespace fairseq2;

    // Layers reuse the memory of the previous layers' temporaries.
    retain_freed_memory();

    CLI::App app{"fairseq2: load model-family plugins, inspect their configs and generate with their models."};
    app.set_version_flag("--version", "fairseq2 " FAIRSEQ2_SDK_VERSION_STRING);
    app.require_subcommand(1);
    app.fallthrough();

    cli::CliContext context;
    app.add_option("--plugin-dir", context.plugin_dirs, "Folder to search for plugin .so files (repeatable; searched first)")
        ->type_name("DIR");
    app.add_option("--log-level", context.log_level, "trace, debug, info, warn, error, critical or off (default: $FAIRSEQ2_LOG_LEVEL, else info)")
        ->type_name("LEVEL");
    app.add_flag("--no-default-plugins", context.no_default_plugins,
                 "Do not search the installed plugin folder: only --plugin-dir and FAIRSEQ2_PLUGIN_PATH");
    app.add_flag("--no-plugin-scan", context.no_plugin_scan,
                 "Load plugins without trying each in a separate process first (also FAIRSEQ2_PLUGIN_SCAN=0); a plugin that crashes then "
                 "takes this program down");
    app.add_flag("--strict-plugins", context.strict_plugins,
                 "Fail (exit 1) when any plugin cannot be loaded (also FAIRSEQ2_STRICT_PLUGINS=1)");

    int exit_code = 0;
    cli::add_plugins_commands(app, context, exit_code);
    cli::add_models_commands(app, context, exit_code);
    cli::add_generate_command(app, context, exit_code);
    cli::add_translate_command(app, context, exit_code);
    cli::add_convert_command(app, context, exit_code);
    cli::add_assets_commands(app, context, exit_code);
    cli::add_tokenize_commands(app, context, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    } catch (const fairseq2::Error& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    } catch (const c10::Error& error) {
        std::cerr << "error: torch: " << error.what_without_backtrace() << "\n";
        return 1;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    } catch (...) {
        // A plugin's code may throw anything (an int, its own type).
        std::cerr << "error: the command failed with an exception that is not a std::exception (thrown by a plugin's code); the "
                     "plugin of the family in use is broken.\n";
        return 1;
    }
    return exit_code;
}

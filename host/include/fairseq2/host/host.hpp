#pragma once

// The embeddable fairseq2 host: finds plugin libraries, checks their
// handshake, loads them and lets them register into one RuntimeContext.
// A plugin that fails is recorded (and logged) with its file and cause and
// leaves nothing registered; the others still load.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::host {

struct HostOptions {
    // Searched first, in order (the CLI's --plugin-dir options).
    std::vector<std::filesystem::path> plugin_dirs;
    // Then the colon-separated folders of FAIRSEQ2_PLUGIN_PATH.
    bool use_plugin_path_env = true;
    // Then default_plugin_dir().
    bool use_default_plugin_dir = true;
    // When set, load_plugins() throws once every plugin was tried if any
    // failed (the CLI's --strict-plugins).
    bool strict_plugins = false;
    // Then FAIRSEQ2_STRICT_PLUGINS (1/true/yes/on or 0/false/no/off) may
    // turn strict loading on.
    bool use_strict_plugins_env = true;
    // Try every plugin in a child process (fairseq2-plugin-scanner, beside
    // the host library) before loading it: one that crashes, exits or hangs
    // while it loads or sets up is marked failed, with what happened, and
    // never loaded into this process. Results are cached by file, size,
    // modification time and handshake (scan_cache_file), so a warm start
    // starts no child. Embedders that want in-process loading only turn it
    // off; FAIRSEQ2_PLUGIN_SCAN=0 (or --no-plugin-scan) turns it off too.
    bool scan_plugins = true;
    bool use_plugin_scan_env = true;
    // How long a child may take (FAIRSEQ2_PLUGIN_SCAN_TIMEOUT, in seconds, overrides).
    std::chrono::milliseconds scan_timeout{10000};
    // Empty: $FAIRSEQ2_CACHE_DIR/plugin-scan.json, else
    // $XDG_CACHE_HOME/fairseq2/plugin-scan.json, else ~/.cache/fairseq2/plugin-scan.json.
    std::filesystem::path scan_cache_file;
};

enum class PluginStatus { loaded, failed };

struct PluginRecord {
    std::filesystem::path file;
    PluginStatus status = PluginStatus::failed;
    std::string name;     // from the handshake ("" when unreadable)
    std::string version;  // from the handshake
    std::vector<std::string> families;
    std::string error;  // why it failed
};

class Host {
public:
    explicit Host(HostOptions options = {});
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;
    // Objects created by plugins (handlers, models) keep their libraries
    // loaded, so they may outlive the Host.
    ~Host();

    // Discovers and loads every plugin of the search path, once. Any `.so`
    // file of a folder is a candidate; its handshake is read from the file
    // and checked before the library is opened. A plugin that fails is
    // recorded and logged (file, cause, fix) and leaves nothing registered.
    // In strict mode, throws PluginError afterwards when any plugin failed.
    void load_plugins();

    // Whether strict loading is on (the option, or FAIRSEQ2_STRICT_PLUGINS).
    // Throws InvalidArgumentError when FAIRSEQ2_STRICT_PLUGINS is not a
    // yes/no value.
    bool strict_plugins() const;

    // Throws PluginError naming every plugin that failed and why; does
    // nothing when all loaded.
    void require_all_plugins_loaded() const;

    RuntimeContext& context() noexcept;

    const std::vector<PluginRecord>& plugins() const noexcept;

    // The folders searched, in order, with duplicates removed.
    std::vector<std::filesystem::path> plugin_search_path() const;

    // <folder of libfairseq2_host>/fairseq2/plugins, i.e. <prefix>/lib/fairseq2/plugins.
    static std::filesystem::path default_plugin_dir();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace fairseq2::host

#pragma once

// The embeddable fairseq2 host: finds plugin libraries, checks their
// handshake, loads them and lets them register into one RuntimeContext.
// A plugin that fails is recorded (and logged) with its file and cause and
// leaves nothing registered; the others still load.

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

    // Discovers and loads every plugin of the search path, once.
    void load_plugins();

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

#pragma once

// What the plugin-loading suites share: the built plugin and fixture
// folders, hosts that search only given folders, scoped environment
// variables, a capture of the fairseq2 log, and whether a library is loaded.

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "fairseq2/host/host.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "test_support.hpp"

namespace fairseq2::test {

// A folder holding the llama plugin alone (tests/CMakeLists.txt copies it
// there), so that these suites see one plugin whatever the build bundles.
inline const std::filesystem::path plugin_dir = FAIRSEQ2_TEST_PLUGIN_DIR;
inline const std::string llama_file_name = "libfairseq2_llama.so";
inline const std::filesystem::path llama_so = plugin_dir / llama_file_name;

// The build's own plugin folder (the default plugin folder of the build
// tree) and the plugins it holds, sorted: every family the build bundles.
inline const std::filesystem::path bundled_plugin_dir = FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR;

inline std::vector<std::string> bundled_plugins()
{
    std::vector<std::string> names;
    const std::string list = FAIRSEQ2_TEST_BUNDLED_PLUGINS;
    for (std::size_t start = 0; start <= list.size();) {
        const std::size_t comma = std::min(list.find(',', start), list.size());
        if (comma > start)
            names.push_back(list.substr(start, comma - start));
        start = comma + 1;
    }
    return names;
}

// The plugin fixtures (tests/host/fixtures/CMakeLists.txt).
inline const std::filesystem::path fixture_dir = FAIRSEQ2_TEST_FIXTURE_DIR;

inline std::filesystem::path fixture(const std::string& name)
{
    return fixture_dir / ("libfairseq2_fixture_" + name + ".so");
}

// Only the given folders: no FAIRSEQ2_PLUGIN_PATH, no default folder, no
// FAIRSEQ2_STRICT_PLUGINS.
inline host::HostOptions only(std::vector<std::filesystem::path> dirs)
{
    host::HostOptions options;
    options.plugin_dirs = std::move(dirs);
    options.use_plugin_path_env = false;
    options.use_default_plugin_dir = false;
    options.use_strict_plugins_env = false;
    return options;
}

inline std::vector<std::string> handler_keys(host::Host& host)
{
    return host.context().get_registry<models::ModelHandler>().keys();
}

inline const host::PluginRecord& record_of(const host::Host& host, const std::filesystem::path& file)
{
    for (const auto& record : host.plugins())
        if (record.file == file)
            return record;
    throw std::runtime_error("no record for " + file.string());
}

// Whether the dynamic loader has `file` loaded in this process.
inline bool library_is_loaded(const std::filesystem::path& file)
{
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (handle == nullptr)
        return false;
    ::dlclose(handle);
    return true;
}

// A llama2_7b config with a tiny body: width 64, 2 layers, 4 heads (2 KV),
// vocabulary 256.
inline boost::json::value tiny_llama_config(const models::ModelHandler& handler)
{
    boost::json::value config = handler.get_config("llama2_7b");
    auto& object = config.as_object();
    object["model_dim"] = 64;
    object["num_layers"] = 2;
    object["num_attn_heads"] = 4;
    object["num_key_value_heads"] = 2;
    object["ffn_inner_dim"] = 128;
    object["vocab_info"].as_object()["size"] = 256;
    return handler.check_config(config);
}

// Collects what the fairseq2 logger writes (warnings and above) for a scope,
// one "[level] message" line per record, with the level as stderr shows it.
class LogCapture {
public:
    LogCapture() : sink_{[this](LogLevel level, std::string_view message) { append(level, message); }}
    {
        set_log_level("warn");
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    ~LogCapture() { set_log_level("info"); }

    std::string text() const
    {
        std::lock_guard lock(mutex_);
        return text_;
    }

private:
    void append(LogLevel level, std::string_view message)
    {
        std::lock_guard lock(mutex_);
        text_.append("[").append(level == LogLevel::warn ? "warning" : log_level_name(level)).append("] ");
        text_.append(message).append("\n");
    }

    mutable std::mutex mutex_;
    std::string text_;
    ScopedLogSink sink_;
};

}  // namespace fairseq2::test

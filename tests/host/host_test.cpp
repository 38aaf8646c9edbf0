// The Host against the real llama plugin: discovery, the handshake checks,
// the search path, duplicate registrations and the lifetime of what plugins
// create. Handshake failures use copies of the llama library with bytes of
// its handshake record (or its exported symbol names) changed.

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include "fairseq2/host/host.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
#include "fairseq2/version.hpp"
#include "host/plugin_test_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::host::Host;
using fairseq2::host::HostOptions;
using fairseq2::host::PluginRecord;
using fairseq2::host::PluginStatus;
using fairseq2::models::ModelHandler;
using fairseq2::test::bundled_plugin_dir;
using fairseq2::test::bundled_plugins;
using fairseq2::test::EnvVar;
using fairseq2::test::handler_keys;
using fairseq2::test::library_is_loaded;
using fairseq2::test::llama_file_name;
using fairseq2::test::llama_so;
using fairseq2::test::LogCapture;
using fairseq2::test::only;
using fairseq2::test::plugin_dir;
using fairseq2::test::read_file;
using fairseq2::test::record_of;
using fairseq2::test::TempDir;
using fairseq2::test::tiny_llama_config;
using fairseq2::test::write_file;

// The key of the llama preset store in a RuntimeContext
// (RuntimeContext::get_config_registry<LLaMAConfig>()).
const std::string llama_config_store = "config:N8fairseq26models5llama11LLaMAConfigE";

const std::vector<std::string> llama_archs{"13b",          "33b",         "65b",         "7b",          "llama2_13b",
                                           "llama2_70b",   "llama2_7b",   "llama3_1_70b", "llama3_1_8b", "llama3_2_1b",
                                           "llama3_2_3b",  "llama3_70b",  "llama3_8b"};

std::size_t llama_preset_count(Host& host)
{
    return host.context().store(llama_config_store, "architecture")->keys().size();
}

void expect_llama_loaded(const PluginRecord& record, const fs::path& file)
{
    EXPECT_EQ(record.file, file);
    EXPECT_EQ(record.status, PluginStatus::loaded) << record.error;
    EXPECT_EQ(record.name, "llama");
    EXPECT_EQ(record.version, FAIRSEQ2_SDK_VERSION_STRING);
    EXPECT_EQ(record.families, std::vector<std::string>{"llama"});
    EXPECT_EQ(record.error, "");
}

// Copies the llama library to `file`, applying `patch` to its bytes.
void patched_copy(const fs::path& file, const std::function<void(std::string&)>& patch)
{
    std::string bytes = read_file(llama_so);
    ASSERT_FALSE(bytes.empty());
    patch(bytes);
    write_file(file, bytes);
}

// The offset of the llama handshake record in the library's bytes: the
// magic number and ABI version followed by the name "llama".
std::size_t handshake_offset(const std::string& bytes)
{
    Fairseq2PluginInfo head{};
    head.magic = FAIRSEQ2_PLUGIN_MAGIC;
    head.abi_version = FAIRSEQ2_SDK_ABI_VERSION;
    std::strcpy(head.name, "llama");
    const std::string needle(reinterpret_cast<const char*>(&head), offsetof(Fairseq2PluginInfo, name) + 6);
    const std::size_t offset = bytes.find(needle);
    EXPECT_NE(offset, std::string::npos) << "the llama library has no handshake record";
    EXPECT_EQ(bytes.find(needle, offset + 1), std::string::npos) << "the llama library has two handshake records";
    return offset;
}

// Renames every occurrence of the symbol name `from` (same length `to`).
void rename_symbol(std::string& bytes, const std::string& from, const std::string& to)
{
    ASSERT_EQ(from.size(), to.size());
    std::size_t count = 0;
    for (std::size_t at = bytes.find(from); at != std::string::npos; at = bytes.find(from, at + 1)) {
        // Only whole NUL-terminated names (string tables), not longer names.
        if (at + from.size() < bytes.size() && bytes[at + from.size()] == '\0') {
            bytes.replace(at, from.size(), to);
            ++count;
        }
    }
    ASSERT_GT(count, 0u) << from;
}

TEST(HostTest, LoadsTheLlamaPlugin)
{
    ASSERT_TRUE(fs::is_regular_file(llama_so)) << llama_so;

    Host host(only({plugin_dir}));
    EXPECT_TRUE(host.plugins().empty());
    EXPECT_TRUE(handler_keys(host).empty());

    host.load_plugins();
    ASSERT_EQ(host.plugins().size(), 1u);
    expect_llama_loaded(host.plugins()[0], llama_so);

    EXPECT_EQ(handler_keys(host), std::vector<std::string>{"llama"});
    auto handler = host.context().get_registry<ModelHandler>().get("llama");
    EXPECT_EQ(handler->family(), "llama");
    EXPECT_EQ(handler->config_type_name(), "LLaMAConfig");
    EXPECT_EQ(handler->default_arch(), "llama3_1_8b");
    EXPECT_EQ(handler->archs(), llama_archs);
    EXPECT_EQ(llama_preset_count(host), llama_archs.size());

    // Loading is done once.
    host.load_plugins();
    EXPECT_EQ(host.plugins().size(), 1u);
    EXPECT_EQ(handler_keys(host), std::vector<std::string>{"llama"});
}

TEST(HostTest, DefaultPluginDirIsTheBuildPluginFolder)
{
    EXPECT_TRUE(fs::equivalent(Host::default_plugin_dir(), bundled_plugin_dir)) << Host::default_plugin_dir();

    // With no folders given and FAIRSEQ2_PLUGIN_PATH unset, the default
    // folder is searched alone, and every bundled family loads from it,
    // one plugin per family, each registering its own family.
    EnvVar env("FAIRSEQ2_PLUGIN_PATH", std::nullopt);
    Host host;
    EXPECT_EQ(host.plugin_search_path(), std::vector<fs::path>{Host::default_plugin_dir()});
    host.load_plugins();
    const std::vector<std::string> bundled = bundled_plugins();
    ASSERT_EQ(host.plugins().size(), bundled.size());
    for (std::size_t i = 0; i < bundled.size(); ++i) {
        const PluginRecord& record = host.plugins()[i];
        EXPECT_EQ(record.name, bundled[i]);
        EXPECT_EQ(record.file, Host::default_plugin_dir() / ("libfairseq2_" + bundled[i] + ".so"));
        EXPECT_EQ(record.families, std::vector<std::string>{bundled[i]});
    }
    expect_llama_loaded(record_of(host, Host::default_plugin_dir() / llama_file_name), Host::default_plugin_dir() / llama_file_name);
    EXPECT_EQ(handler_keys(host), bundled);
}

TEST(HostTest, BrokenLibraryFailsAndOtherFilesAreIgnored)
{
    TempDir dir;
    fs::copy_file(llama_so, dir / llama_file_name);
    write_file(dir / "broken.so", std::string(200, 'x') + "\nThis is a text file, not a shared library.\n");
    write_file(dir / "notes.txt", "not a plugin\n");
    write_file(dir / "libother.so.1", "versioned name, not a .so extension\n");
    fs::create_directory(dir / "folder.so");

    LogCapture log;
    Host host(only({dir.path()}));
    host.load_plugins();

    // broken.so sorts before libfairseq2_llama.so; nothing else is a candidate.
    ASSERT_EQ(host.plugins().size(), 2u);
    const PluginRecord& broken = host.plugins()[0];
    EXPECT_EQ(broken.file, dir / "broken.so");
    EXPECT_EQ(broken.status, PluginStatus::failed);
    EXPECT_EQ(broken.name, "");
    EXPECT_EQ(broken.version, "");
    EXPECT_TRUE(broken.families.empty());
    EXPECT_EQ(broken.error,
              "it is not a shared library (it does not start with the ELF magic number); remove it from the plugin folder, which should "
              "hold only plugin libraries.");

    expect_llama_loaded(host.plugins()[1], dir / llama_file_name);
    EXPECT_EQ(handler_keys(host), std::vector<std::string>{"llama"});

    EXPECT_NE(log.text().find("[error] Skipping plugin " + (dir / "broken.so").string() + ": it is not a shared library (it does not "
                                                                                     "start with the ELF magic number); remove it"),
              std::string::npos)
        << log.text();
    EXPECT_EQ(log.text().find("notes.txt"), std::string::npos) << log.text();
    EXPECT_EQ(log.text().find("folder.so"), std::string::npos) << log.text();
    EXPECT_EQ(log.text().find("libother"), std::string::npos) << log.text();
}

TEST(HostTest, HandshakeMismatchesFailWithTheirCause)
{
    TempDir dir;
    fs::copy_file(llama_so, dir / "a_good.so");
    patched_copy(dir / "bad_magic.so", [](std::string& bytes) {
        std::size_t offset = handshake_offset(bytes);
        bytes[offset + offsetof(Fairseq2PluginInfo, magic)] ^= 0x5a;
    });
    patched_copy(dir / "bad_abi.so", [](std::string& bytes) {
        std::size_t offset = handshake_offset(bytes);
        const std::uint32_t abi = 99;
        std::memcpy(bytes.data() + offset + offsetof(Fairseq2PluginInfo, abi_version), &abi, sizeof(abi));
    });
    patched_copy(dir / "bad_torch.so", [](std::string& bytes) {
        std::size_t offset = handshake_offset(bytes);
        char* torch_version = bytes.data() + offset + offsetof(Fairseq2PluginInfo, torch_version);
        ASSERT_STREQ(torch_version, FAIRSEQ2_TORCH_VERSION_STRING);
        std::memset(torch_version, 0, sizeof(Fairseq2PluginInfo::torch_version));
        std::strcpy(torch_version, "0.4");
    });
    patched_copy(dir / "bad_cxx11_abi.so", [](std::string& bytes) {
        std::size_t offset = handshake_offset(bytes);
        const std::int32_t flag = _GLIBCXX_USE_CXX11_ABI ? 0 : 1;
        std::memcpy(bytes.data() + offset + offsetof(Fairseq2PluginInfo, cxx11_abi), &flag, sizeof(flag));
    });
    patched_copy(dir / "no_info.so", [](std::string& bytes) { rename_symbol(bytes, "fairseq2_plugin_info", "fairseq2_plugin_infX"); });
    patched_copy(dir / "no_setup.so",
                 [](std::string& bytes) { rename_symbol(bytes, "setup_fairseq2_extension", "setup_fairseq2_extensioX"); });
    ASSERT_FALSE(HasFatalFailure());

    LogCapture log;
    Host host(only({dir.path()}));
    host.load_plugins();
    ASSERT_EQ(host.plugins().size(), 7u);

    expect_llama_loaded(record_of(host, dir / "a_good.so"), dir / "a_good.so");

    auto expect_failed = [&](const std::string& file, const std::string& name, const std::string& error) {
        SCOPED_TRACE(file);
        const PluginRecord& record = record_of(host, dir / file);
        EXPECT_EQ(record.status, PluginStatus::failed);
        EXPECT_EQ(record.name, name);
        EXPECT_EQ(record.version, name.empty() ? "" : FAIRSEQ2_SDK_VERSION_STRING);
        EXPECT_TRUE(record.families.empty());
        EXPECT_EQ(record.error, error);
        EXPECT_NE(log.text().find("[error] Skipping plugin " + (dir / file).string() + ": " + error), std::string::npos) << log.text();
    };
    expect_failed("bad_magic.so", "",
                  "its 'fairseq2_plugin_info' record is not a fairseq2 handshake (bad magic number); rebuild it with "
                  "fairseq2_add_plugin() and FAIRSEQ2_PLUGIN_INFO().");
    expect_failed("bad_abi.so", "llama",
                  "it was built for SDK ABI 99, but this host provides ABI " + std::to_string(FAIRSEQ2_SDK_ABI_VERSION) + " (SDK " +
                      FAIRSEQ2_SDK_VERSION_STRING + "); rebuild the plugin against this SDK.");
    expect_failed("bad_torch.so", "llama",
                  "it was built against libtorch 0.4, but this host uses libtorch " FAIRSEQ2_TORCH_VERSION_STRING
                  "; rebuild the plugin against the same libtorch.");
    expect_failed("bad_cxx11_abi.so", "llama",
                  "it was built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(_GLIBCXX_USE_CXX11_ABI ? 0 : 1) +
                      ", but this host uses " + std::to_string(_GLIBCXX_USE_CXX11_ABI) + "; rebuild the plugin with the same setting.");
    expect_failed("no_info.so", "",
                  "it has no 'fairseq2_plugin_info' handshake record, so it is not a fairseq2 plugin; build it with fairseq2_add_plugin() "
                  "and FAIRSEQ2_PLUGIN_INFO(), or remove it from the plugin folder.");
    expect_failed("no_setup.so", "llama",
                  "it has no 'setup_fairseq2_extension' entry point; define it in the plugin's extension.cpp with FAIRSEQ2_PLUGIN_EXPORT "
                  "and rebuild the plugin.");

    // Refused from the file: none of the refused copies was ever loaded.
    for (const char* file : {"bad_magic.so", "bad_abi.so", "bad_torch.so", "bad_cxx11_abi.so", "no_info.so", "no_setup.so"})
        EXPECT_FALSE(library_is_loaded(dir / file)) << file;

    // Only the good copy registered anything.
    EXPECT_EQ(handler_keys(host), std::vector<std::string>{"llama"});
    EXPECT_EQ(llama_preset_count(host), llama_archs.size());
}

TEST(HostTest, SearchPathOrderAndDuplicates)
{
    TempDir root;
    for (const char* name : {"a", "b", "c", "d"})
        fs::create_directory(root / name);
    const fs::path a = root / "a", b = root / "b", c = root / "c", d = root / "d";
    const fs::path missing = root / "missing";

    HostOptions options;
    options.plugin_dirs = {b, a, b / ".", missing, root / "c" / ".." / "b"};
    {
        // --plugin-dir folders first, then FAIRSEQ2_PLUGIN_PATH in order
        // (empty items ignored), then the default folder; each folder once
        // (the default folder, the build's, is also in the variable).
        EnvVar env("FAIRSEQ2_PLUGIN_PATH", c.string() + "::" + a.string() + ":" + d.string() + ":" + bundled_plugin_dir.string() + ":");
        Host host(options);
        EXPECT_EQ(host.plugin_search_path(), (std::vector<fs::path>{b, a, missing, c, d, bundled_plugin_dir}));

        options.use_default_plugin_dir = false;
        EXPECT_EQ(Host(options).plugin_search_path(), (std::vector<fs::path>{b, a, missing, c, d, bundled_plugin_dir}));
        options.use_plugin_path_env = false;
        EXPECT_EQ(Host(options).plugin_search_path(), (std::vector<fs::path>{b, a, missing}));
        options.use_default_plugin_dir = true;
        EXPECT_EQ(Host(options).plugin_search_path(), (std::vector<fs::path>{b, a, missing, Host::default_plugin_dir()}));
    }
    {
        EnvVar env("FAIRSEQ2_PLUGIN_PATH", std::nullopt);
        HostOptions defaults;
        defaults.plugin_dirs = {a};
        EXPECT_EQ(Host(defaults).plugin_search_path(), (std::vector<fs::path>{a, Host::default_plugin_dir()}));
    }
    {
        // Folders are loaded in search order; a folder given several ways
        // is loaded once (no duplicate-registration failure).
        TempDir first, second;
        write_file(first / "zz_broken.so", std::string(200, 'x'));
        fs::copy_file(llama_so, second / llama_file_name);
        EnvVar env("FAIRSEQ2_PLUGIN_PATH", second.path().string() + ":" + first.path().string());
        HostOptions loading;
        loading.plugin_dirs = {first.path(), second.path() / "."};
        loading.use_default_plugin_dir = false;
        Host host(loading);
        host.load_plugins();
        ASSERT_EQ(host.plugins().size(), 2u);
        EXPECT_EQ(host.plugins()[0].file, first / "zz_broken.so");
        EXPECT_EQ(host.plugins()[0].status, PluginStatus::failed);
        expect_llama_loaded(host.plugins()[1], second.path() / "." / llama_file_name);
        EXPECT_EQ(handler_keys(host), std::vector<std::string>{"llama"});
    }
}

TEST(HostTest, MissingFolderOnlyWarns)
{
    TempDir root;
    const fs::path missing = root / "does-not-exist";
    LogCapture log;
    Host host(only({missing, plugin_dir}));
    ASSERT_NO_THROW(host.load_plugins());
    ASSERT_EQ(host.plugins().size(), 1u);
    expect_llama_loaded(host.plugins()[0], llama_so);
    EXPECT_NE(log.text().find("[warning] The plugin folder '" + missing.string() + "' does not exist; skipping it."), std::string::npos)
        << log.text();
    EXPECT_EQ(log.text().find("[error]"), std::string::npos) << log.text();
}

TEST(HostTest, SamePluginFromTwoFoldersFailsAsDuplicate)
{
    TempDir first, second;
    const fs::path first_file = first / llama_file_name;
    const fs::path second_file = second / llama_file_name;
    fs::copy_file(llama_so, first_file);
    fs::copy_file(llama_so, second_file);

    LogCapture log;
    Host host(only({first.path(), second.path()}));
    host.load_plugins();
    ASSERT_EQ(host.plugins().size(), 2u);
    expect_llama_loaded(host.plugins()[0], first_file);

    const PluginRecord& duplicate = host.plugins()[1];
    EXPECT_EQ(duplicate.file, second_file);
    EXPECT_EQ(duplicate.status, PluginStatus::failed);
    EXPECT_EQ(duplicate.name, "llama");  // its handshake was read
    EXPECT_TRUE(duplicate.families.empty());
    EXPECT_EQ(duplicate.error, "its model family 'llama' is already registered by " + first_file.string() + ", so " + second_file.string() +
                                   " cannot register it too; remove one of the two plugins from the plugin search path.");
    // The message must tell which two files clash (same file name here).
    EXPECT_NE(duplicate.error.find(first_file.string()), std::string::npos) << duplicate.error;
    EXPECT_NE(duplicate.error.find(second_file.string()), std::string::npos) << duplicate.error;
    EXPECT_NE(log.text().find("[error] Skipping plugin " + second_file.string() + ": its model family 'llama' is already registered by "),
              std::string::npos)
        << log.text();

    // Nothing of the second stays registered: one handler, the first's
    // presets only.
    EXPECT_EQ(handler_keys(host), std::vector<std::string>{"llama"});
    EXPECT_EQ(llama_preset_count(host), llama_archs.size());
    auto handler = host.context().get_registry<ModelHandler>().get("llama");
    EXPECT_EQ(handler->archs(), llama_archs);
    EXPECT_NO_THROW(tiny_llama_config(*handler));
}

TEST(HostTest, ModelsOutliveTheHost)
{
    // A private copy, so whether it is loaded is up to this test alone.
    TempDir dir;
    const fs::path file = dir / llama_file_name;
    fs::copy_file(llama_so, file);
    ASSERT_FALSE(library_is_loaded(file));

    auto host = std::make_unique<Host>(only({dir.path()}));
    host->load_plugins();
    ASSERT_EQ(host->plugins().size(), 1u);
    ASSERT_EQ(host->plugins()[0].status, PluginStatus::loaded) << host->plugins()[0].error;
    EXPECT_TRUE(library_is_loaded(file));

    std::shared_ptr<ModelHandler> handler = host->context().get_registry<ModelHandler>().get("llama");
    const boost::json::value config = tiny_llama_config(*handler);
    at::manual_seed(7);
    auto first = std::dynamic_pointer_cast<fairseq2::models::DecoderModel>(handler->create(config, at::kCPU, at::kFloat));
    ASSERT_NE(first, nullptr);
    const at::Tensor seqs = at::tensor(std::vector<std::int64_t>{1, 17, 42, 255}, at::kLong).unsqueeze(0);
    const at::Tensor before = first->forward(seqs).detach().clone();
    ASSERT_EQ(before.sizes(), (at::IntArrayRef{1, 4, 256}));
    ASSERT_TRUE(before.isfinite().all().item<bool>());

    host.reset();
    EXPECT_TRUE(library_is_loaded(file));

    // The model still runs, with the same result.
    const at::Tensor after = first->forward(seqs).detach();
    EXPECT_TRUE(at::equal(before, after));

    // The handler still creates models without the Host.
    at::manual_seed(7);
    auto second = std::dynamic_pointer_cast<fairseq2::models::DecoderModel>(handler->create(config, at::kCPU, at::kFloat));
    ASSERT_NE(second, nullptr);
    handler.reset();
    EXPECT_TRUE(library_is_loaded(file));
    EXPECT_TRUE(at::equal(second->forward(seqs).detach(), before));

    first.reset();
    EXPECT_TRUE(library_is_loaded(file));
    EXPECT_EQ(second->vocab_info().size, 256);
    second.reset();
    // The last object of the plugin is gone, so its library is unloaded.
    EXPECT_FALSE(library_is_loaded(file));
}

}  // namespace

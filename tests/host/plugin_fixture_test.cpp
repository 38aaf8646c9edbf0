// The Host against the matrix of broken plugins (tests/host/fixtures): each
// fails with one log line naming the file, the cause and the fix; the good
// plugins around them still load; nothing of a failed plugin stays
// registered or loaded; strict mode turns any failure into an error.

#include <dlfcn.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fairseq2/assets/asset_card_source.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
#include "fairseq2/version.hpp"
#include "host/fixtures/toy_handler.hpp"
#include "host/plugin_test_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::host::Host;
using fairseq2::host::HostOptions;
using fairseq2::host::PluginRecord;
using fairseq2::host::PluginStatus;
using fairseq2::test::EnvVar;
using fairseq2::test::fixture;
using fairseq2::test::fixture_dir;
using fairseq2::test::handler_keys;
using fairseq2::test::library_is_loaded;
using fairseq2::test::llama_so;
using fairseq2::test::LogCapture;
using fairseq2::test::only;
using fairseq2::test::plugin_dir;
using fairseq2::test::record_of;

const std::string remove_hint = "; fix the plugin or remove it from the plugin folder.";

// The reason each fixture fails with, by file.
std::map<fs::path, std::string> expected_failures()
{
    const std::string sdk = FAIRSEQ2_SDK_VERSION_STRING;
    return {
        {fixture("abi_major"), "it was built for SDK ABI " + std::to_string(FAIRSEQ2_SDK_ABI_VERSION + 1) + ", but this host provides ABI " +
                                   std::to_string(FAIRSEQ2_SDK_ABI_VERSION) + " (SDK " + sdk + "); rebuild the plugin against this SDK."},
        {fixture("duplicate_cards"), "its registrations conflict with those of a plugin loaded before it: the asset card source registry "
                                     "already contains a 'toy_cards' key (registered by " +
                                         fixture("basic").string() + "); " + fixture("duplicate_cards").string() +
                                         " registers it again; remove one of the two plugins from the plugin search path."},
        {fixture("duplicate_family"), "its model family 'toy' is already registered by " + fixture("basic").string() + ", so " +
                                          fixture("duplicate_family").string() +
                                          " cannot register it too; remove one of the two plugins from the plugin search path."},
        {fixture("half_registers"),
         "its setup_fairseq2_extension() threw \"the second half of the setup failed\", so nothing it registered was kept" + remove_hint},
        {fixture("missing_dependency"), "it needs the shared library 'libfairseq2_fixture_absent.so', which cannot be found (No such file "
                                        "or directory); install it, or add the folder that holds it to LD_LIBRARY_PATH."},
        {fixture("no_entry"), "it has no 'setup_fairseq2_extension' entry point; define it in the plugin's extension.cpp with "
                              "FAIRSEQ2_PLUGIN_EXPORT and rebuild the plugin."},
        {fixture("other_torch"),
         "it was built against libtorch 2.1, but this host uses libtorch " FAIRSEQ2_TORCH_VERSION_STRING "; rebuild the plugin against the same "
         "libtorch."},
        {fixture("setup_throws"),
         "its setup_fairseq2_extension() threw \"the toy weights are missing\", so nothing it registered was kept" + remove_hint},
        {fixture("setup_throws_int"),
         "its setup_fairseq2_extension() threw an exception that is not a std::exception, so nothing it registered was kept" + remove_hint},
        {fixture_dir / "not_a_library.so", "it is not a shared library (it does not start with the ELF magic number); remove it from the "
                                           "plugin folder, which should hold only plugin libraries."},
    };
}

// truncated.so: the offsets depend on the build, so only the frame is fixed.
void expect_truncated_reason(const std::string& reason)
{
    const std::string head = "it is a damaged ELF file (its section header table (";
    const std::string tail = ") ends past the end of the file); it was probably truncated while copied, so rebuild or reinstall it.";
    EXPECT_EQ(reason.rfind(head, 0), 0u) << reason;
    ASSERT_GE(reason.size(), tail.size()) << reason;
    EXPECT_EQ(reason.substr(reason.size() - tail.size()), tail) << reason;
}

std::size_t count(const std::string& text, const std::string& part)
{
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size()))
        ++n;
    return n;
}

// Checks everything the matrix promises of a host that searched the
// fixture folder, then the build's plugin folder.
void expect_matrix_outcome(const Host& host)
{
    const auto failures = expected_failures();

    // Every .so file is a candidate; README.txt and folder.so/ are not.
    std::vector<fs::path> files;
    for (const auto& record : host.plugins())
        files.push_back(record.file);
    std::vector<fs::path> expected_files{fixture("abi_major"),          fixture("basic"),        fixture("duplicate_cards"),
                                         fixture("duplicate_family"),
                                         fixture("half_registers"),     fixture("missing_dependency"), fixture("no_entry"),
                                         fixture("other_torch"),        fixture("setup_throws"), fixture("setup_throws_int"),
                                         fixture_dir / "not_a_library.so", fixture_dir / "truncated.so", llama_so};
    EXPECT_EQ(files, expected_files);

    for (const auto& [file, reason] : failures) {
        SCOPED_TRACE(file.string());
        const PluginRecord& record = record_of(host, file);
        EXPECT_EQ(record.status, PluginStatus::failed);
        EXPECT_EQ(record.error, reason);
        EXPECT_TRUE(record.families.empty());
        // The handshake was read from the file whenever the file has one.
        const std::string stem = file.stem().string();
        if (stem.rfind("libfairseq2_fixture_", 0) == 0) {
            EXPECT_EQ(record.name, stem.substr(std::string("libfairseq2_").size()));
            EXPECT_EQ(record.version, FAIRSEQ2_SDK_VERSION_STRING);
        } else {
            EXPECT_EQ(record.name, "");
        }
        // Nothing of it stays loaded.
        EXPECT_FALSE(library_is_loaded(file));
    }
    const PluginRecord& truncated = record_of(host, fixture_dir / "truncated.so");
    EXPECT_EQ(truncated.status, PluginStatus::failed);
    EXPECT_EQ(truncated.name, "");
    expect_truncated_reason(truncated.error);

    const PluginRecord& basic = record_of(host, fixture("basic"));
    EXPECT_EQ(basic.status, PluginStatus::loaded) << basic.error;
    EXPECT_EQ(basic.name, "fixture_basic");
    EXPECT_EQ(basic.families, std::vector<std::string>{"toy"});
    const PluginRecord& llama = record_of(host, llama_so);
    EXPECT_EQ(llama.status, PluginStatus::loaded) << llama.error;
    EXPECT_EQ(llama.families, std::vector<std::string>{"llama"});
}

// What the registries hold: the good plugins' entries, nothing else.
void expect_only_good_registrations(Host& host)
{
    auto& context = host.context();
    EXPECT_EQ(handler_keys(host), (std::vector<std::string>{"llama", "toy"}));
    auto handlers = context.get_registry<fairseq2::models::ModelHandler>();
    EXPECT_EQ(handlers.origin_of("toy"), fixture("basic").string());
    EXPECT_EQ(handlers.get("toy")->archs(), (std::vector<std::string>{"large", "small"}));
    EXPECT_EQ(handlers.get("toy")->get_config("large"), (boost::json::object{{"dim", 64}}));

    using fairseq2::fixtures::ToyConfig;
    EXPECT_EQ(context.get_config_registry<ToyConfig<1>>().names(), (std::vector<std::string>{"large", "small"}));
    // duplicate_family (7) and half_registers (9) registered presets before
    // they failed.
    EXPECT_TRUE(context.get_config_registry<ToyConfig<7>>().names().empty());
    EXPECT_TRUE(context.get_config_registry<ToyConfig<9>>().names().empty());
    // duplicate_cards (5) registered a family before its cards clashed.
    EXPECT_TRUE(context.get_config_registry<ToyConfig<5>>().names().empty());
    // half_registers registered cards under "half" before it threw.
    EXPECT_EQ(context.get_registry<fairseq2::assets::AssetCardSource>().keys(), (std::vector<std::string>{"llama", "toy_cards"}));
    EXPECT_EQ(context.get_registry<fairseq2::assets::AssetCardSource>().origin_of("toy_cards"), fixture("basic").string());
}

TEST(PluginFixtureTest, EachBrokenPluginFailsAloneWithOneClearLogLine)
{
    LogCapture log;
    Host host(only({fixture_dir, plugin_dir}));
    ASSERT_NO_THROW(host.load_plugins());

    expect_matrix_outcome(host);
    expect_only_good_registrations(host);

    // One error line per failed plugin: "Skipping plugin FILE: REASON".
    const std::string text = log.text();
    EXPECT_EQ(count(text, "[error] "), expected_failures().size() + 1) << text;
    for (const auto& [file, reason] : expected_failures())
        EXPECT_EQ(count(text, "[error] Skipping plugin " + file.string() + ": " + reason + "\n"), 1u) << text;
    EXPECT_EQ(count(text, "[error] Skipping plugin " + (fixture_dir / "truncated.so").string() + ": it is a damaged ELF file"), 1u) << text;
    EXPECT_EQ(count(text, "README.txt"), 0u) << text;
    EXPECT_EQ(count(text, "folder.so"), 0u) << text;
    EXPECT_EQ(count(text, "fixture_basic"), 2u) << text;  // named as the first owner of 'toy' and of 'toy_cards'
    // The fixture of another libtorch never reached the loader.
    EXPECT_EQ(count(text, "undefined symbol"), 0u) << text;
}

TEST(PluginFixtureTest, TheOtherTorchFixtureReallyCannotBeLoaded)
{
    // What dlopen would have said, had the host not read the handshake
    // first: the fixture is as unloadable as a plugin of another libtorch.
    void* handle = ::dlopen(fixture("other_torch").c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_EQ(handle, nullptr);
    const std::string error = ::dlerror();
    EXPECT_NE(error.find("undefined symbol: fairseq2_fixture_symbol_of_torch_2_1"), std::string::npos) << error;
}

TEST(PluginFixtureTest, StrictModeFailsAfterTryingEveryPlugin)
{
    HostOptions options = only({fixture_dir, plugin_dir});
    options.strict_plugins = true;
    Host host(options);
    try {
        host.load_plugins();
        FAIL() << "expected PluginError";
    } catch (const fairseq2::PluginError& error) {
        const std::string message = error.what();
        EXPECT_EQ(message.rfind("11 plugins failed to load and strict plugin loading is on (--strict-plugins or FAIRSEQ2_STRICT_PLUGINS): " +
                                    fixture("abi_major").string() + " (it was built for SDK ABI ",
                                0),
                  0u)
            << message;
        for (const auto& [file, reason] : expected_failures())
            EXPECT_NE(message.find(file.string() + " ("), std::string::npos) << file << "\n" << message;
        EXPECT_NE(message.find((fixture_dir / "truncated.so").string() + " (it is a damaged ELF file"), std::string::npos) << message;
        const std::string end = "; fix or remove them, or load without strict mode.";
        EXPECT_EQ(message.substr(message.size() - end.size()), end) << message;
    }
    // Everything was tried and recorded; the good plugins are registered.
    expect_matrix_outcome(host);
    expect_only_good_registrations(host);
    // Loading happens once; a second call does not throw again.
    EXPECT_NO_THROW(host.load_plugins());

    // Strict with nothing failing is quiet.
    HostOptions good = only({plugin_dir});
    good.strict_plugins = true;
    Host all_good(good);
    EXPECT_NO_THROW(all_good.load_plugins());
    EXPECT_NO_THROW(all_good.require_all_plugins_loaded());
}

TEST(PluginFixtureTest, StrictModeFromTheEnvironment)
{
    HostOptions options = only({fixture_dir, plugin_dir});
    options.use_strict_plugins_env = true;
    for (const char* on : {"1", "true", "YES", "on"}) {
        EnvVar env("FAIRSEQ2_STRICT_PLUGINS", std::string(on));
        Host host(options);
        EXPECT_TRUE(host.strict_plugins()) << on;
        EXPECT_THROW(host.load_plugins(), fairseq2::PluginError) << on;
    }
    for (const char* off : {"0", "false", "No", "off", ""}) {
        EnvVar env("FAIRSEQ2_STRICT_PLUGINS", std::string(off));
        Host host(options);
        EXPECT_FALSE(host.strict_plugins()) << off;
        EXPECT_NO_THROW(host.load_plugins()) << off;
        // Asked explicitly, the failures are still reported.
        EXPECT_THROW(host.require_all_plugins_loaded(), fairseq2::PluginError) << off;
    }
    {
        EnvVar env("FAIRSEQ2_STRICT_PLUGINS", std::string("maybe"));
        Host host(options);
        try {
            (void)host.strict_plugins();
            FAIL() << "expected InvalidArgumentError";
        } catch (const fairseq2::InvalidArgumentError& error) {
            EXPECT_STREQ(error.what(),
                         "FAIRSEQ2_STRICT_PLUGINS is 'maybe', which is not a yes/no value; set it to 1 (or true, yes, on) or 0 (or false, no, "
                         "off).");
        }
    }
    {
        // Ignored when the embedder says so.
        EnvVar env("FAIRSEQ2_STRICT_PLUGINS", std::string("1"));
        Host host(only({fixture_dir, plugin_dir}));
        EXPECT_FALSE(host.strict_plugins());
        EXPECT_NO_THROW(host.load_plugins());
    }
}

TEST(PluginFixtureTest, FailedPluginsLeaveNoLibraryLoadedAfterTheHostIsGone)
{
    {
        Host host(only({fixture_dir}));
        host.load_plugins();
        EXPECT_TRUE(library_is_loaded(fixture("basic")));
    }
    // The toy handler was the only object of fixture_basic; with the host
    // gone, its library is unloaded too.
    EXPECT_FALSE(library_is_loaded(fixture("basic")));
    for (const auto& [file, reason] : expected_failures())
        EXPECT_FALSE(library_is_loaded(file)) << file;
}

}  // namespace

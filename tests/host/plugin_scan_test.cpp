// Plugins that fail rudely: crash, abort, exit or hang while they load or
// set up. The host tries each plugin in a child process first
// (fairseq2-plugin-scanner), so `plugins list` and `models list` still list
// everything else and exit 0, the failure is one line, --strict-plugins makes
// it an exit code, and nothing of the plugin is registered. Results are
// cached; a warm start starts no child.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_support.hpp"

namespace fs = std::filesystem;
using fairseq2::test::CommandResult;
using fairseq2::test::describe;
using fairseq2::test::run_command;
using fairseq2::test::shell_quote;
using fairseq2::test::TempDir;

namespace {

const fs::path rude_dir = FAIRSEQ2_TEST_RUDE_FIXTURE_DIR;
const fs::path fixture_dir = FAIRSEQ2_TEST_FIXTURE_DIR;

// A plugin folder with the good fixture and one rude one, and a cache folder.
struct Folder {
    TempDir root;
    fs::path plugins = root / "plugins";
    fs::path cache = root / "cache";

    explicit Folder(const std::string& rude)
    {
        fs::create_directories(plugins);
        fs::copy_file(fixture_dir / "libfairseq2_fixture_basic.so", plugins / "libfairseq2_fixture_basic.so");
        fs::copy_file(rude_dir / ("libfairseq2_fixture_" + rude + ".so"), plugins / ("libfairseq2_fixture_" + rude + ".so"));
    }

    fs::path rude_file(const std::string& rude) const { return plugins / ("libfairseq2_fixture_" + rude + ".so"); }

    CommandResult run(const std::string& args, const std::string& env = "") const
    {
        return run_command("FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_STRICT_PLUGINS= FAIRSEQ2_PLUGIN_SCAN= FAIRSEQ2_PLUGIN_SCAN_TIMEOUT=3 "
                           "FAIRSEQ2_USER_ASSET_DIR=/nonexistent FAIRSEQ2_ASSET_DIR=/nonexistent FAIRSEQ2_CACHE_DIR=" +
                           shell_quote(cache.string()) + " " + env + " " + fairseq2::test::cli() + " --no-default-plugins --plugin-dir " +
                           shell_quote(plugins.string()) + " " + args);
    }
};

struct Rude {
    const char* fixture;
    const char* what;  // the clause the host reports
};

const Rude rude_fixtures[] = {
    {"segv_static_init", "it crashed with SIGSEGV while it was loaded (in a static initialiser)"},
    {"segv_setup", "it crashed with SIGSEGV during setup_fairseq2_extension()"},
    {"abort_setup", "it crashed with SIGABRT during setup_fairseq2_extension()"},
    {"exit_setup", "it called exit(0) during setup_fairseq2_extension()"},
    {"loop_setup", "it did not finish setup_fairseq2_extension() within 3 s"},
    {"stack_overflow_setup", "it crashed with SIGSEGV during setup_fairseq2_extension()"},
};

}  // namespace

class RudePluginTest : public ::testing::TestWithParam<Rude> {};

TEST_P(RudePluginTest, TheHostListsEverythingElseAndNamesWhatHappened)
{
    const Rude& rude = GetParam();
    Folder folder(rude.fixture);
    const std::string line = "[error] Skipping plugin " + folder.rude_file(rude.fixture).string() + ": " + rude.what +
                             " when the host tried it in a separate process";

    CommandResult list = folder.run("plugins list");
    ASSERT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_NE(list.out.find("loaded  " + (folder.plugins / "libfairseq2_fixture_basic.so").string()), std::string::npos) << describe(list);
    EXPECT_NE(list.out.find("failed  " + folder.rude_file(rude.fixture).string()), std::string::npos) << describe(list);
    EXPECT_NE(list.err.find(line), std::string::npos) << describe(list);
    EXPECT_EQ(std::count(list.err.begin(), list.err.end(), '\n'), 1) << describe(list);

    // The result is cached: a warm start starts no child and says the same.
    CommandResult models = folder.run("--log-level debug models list");
    ASSERT_EQ(models.exit_code, 0) << describe(models);
    EXPECT_NE(models.out.find("toy"), std::string::npos) << describe(models);
    EXPECT_NE(models.err.find("scan result from the cache (failed)"), std::string::npos) << describe(models);
    EXPECT_NE(models.err.find("scan result from the cache (passed)"), std::string::npos) << describe(models);
    EXPECT_EQ(models.err.find("tried in a separate process in"), std::string::npos) << describe(models);
    EXPECT_NE(models.err.find(line), std::string::npos) << describe(models);

    CommandResult strict = folder.run("--strict-plugins models list");
    EXPECT_EQ(strict.exit_code, 1) << describe(strict);
    EXPECT_NE(strict.err.find("1 plugin failed to load and strict plugin loading is on"), std::string::npos) << describe(strict);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RudePluginTest, ::testing::ValuesIn(rude_fixtures),
                         [](const ::testing::TestParamInfo<Rude>& info) { return std::string(info.param.fixture); });

TEST(PluginScanTest, AChangedPluginIsScannedAgainAndACorruptCacheIsRebuilt)
{
    Folder folder("segv_setup");
    ASSERT_EQ(folder.run("plugins list").exit_code, 0);
    const fs::path cache = folder.cache / "plugin-scan.json";
    ASSERT_TRUE(fs::exists(cache));
    const std::string written = fairseq2::test::read_file(cache);
    EXPECT_NE(written.find("libfairseq2_fixture_segv_setup.so"), std::string::npos) << written;
    EXPECT_NE(written.find("\"failure\":\"it crashed with SIGSEGV"), std::string::npos) << written;

    // The crashing file replaced by a good plugin: its size changed, so it
    // is tried again, and now loads.
    fs::remove(folder.rude_file("segv_setup"));
    fs::copy_file(rude_dir / "libfairseq2_fixture_throws_later.so", folder.rude_file("segv_setup"));
    CommandResult list = folder.run("--log-level debug plugins list");
    ASSERT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_NE(list.out.find("thrower"), std::string::npos) << describe(list);
    EXPECT_NE(list.err.find("tried in a separate process in"), std::string::npos) << describe(list);

    fairseq2::test::write_file(cache, "{ not json");
    list = folder.run("plugins list");
    ASSERT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_NE(list.err.find("[warning] The plugin scan cache '" + cache.string() + "' is not valid JSON"), std::string::npos) << describe(list);
    auto rebuilt = fairseq2::test::parse_json(fairseq2::test::read_file(cache));
    EXPECT_EQ(rebuilt.at("plugins").as_object().size(), 2U) << fairseq2::test::read_file(cache);
}

TEST(PluginScanTest, AHandlerThatThrowsANonStdExceptionLaterIsOneError)
{
    Folder folder("throws_later");
    CommandResult list = folder.run("models list");
    ASSERT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_NE(list.out.find("thrower"), std::string::npos) << describe(list);
    CommandResult generate = folder.run("generate --family thrower --random-init");
    EXPECT_EQ(generate.exit_code, 1) << describe(generate);
    EXPECT_EQ(generate.err,
              "error: the command failed with an exception that is not a std::exception (thrown by a plugin's code); the plugin of the "
              "family in use is broken.\n")
        << describe(generate);
}

TEST(PluginScanTest, ScanningCanBeTurnedOff)
{
    // Without the scan the exit(0) plugin ends the program silently with
    // success: exactly what the scan prevents.
    Folder folder("exit_setup");
    CommandResult off = folder.run("--no-plugin-scan models list");
    EXPECT_EQ(off.exit_code, 0) << describe(off);
    EXPECT_EQ(off.out, "") << describe(off);
    CommandResult env_off = folder.run("models list", "FAIRSEQ2_PLUGIN_SCAN=0");
    EXPECT_EQ(env_off.out, "") << describe(env_off);
    CommandResult on = folder.run("models list");
    EXPECT_NE(on.out.find("toy"), std::string::npos) << describe(on);
    CommandResult bad = folder.run("models list", "FAIRSEQ2_PLUGIN_SCAN=maybe");
    EXPECT_EQ(bad.exit_code, 1) << describe(bad);
    EXPECT_NE(bad.err.find("FAIRSEQ2_PLUGIN_SCAN is 'maybe', which is not a yes/no value"), std::string::npos) << describe(bad);
}

// The `fairseq2` program with the broken-plugin fixtures: `plugins list` and
// `models list` still work and exit 0, --strict-plugins and
// FAIRSEQ2_STRICT_PLUGINS turn any failure into exit 1, and
// `plugins inspect` reads a handshake without loading the file.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fairseq2/plugin/plugin_api.hpp"
#include "fairseq2/version.hpp"
#include "host/plugin_test_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::test::bundled_plugins;
using fairseq2::test::cli;
using fairseq2::test::CommandResult;
using fairseq2::test::describe;
using fairseq2::test::fixture;
using fairseq2::test::fixture_dir;
using fairseq2::test::llama_so;
using fairseq2::test::plugin_dir;
using fairseq2::test::run_command;
using fairseq2::test::shell_quote;

const std::string strict_failure =
    "error: 11 plugins failed to load and strict plugin loading is on (--strict-plugins or FAIRSEQ2_STRICT_PLUGINS): ";

// `fairseq2 --log-level warn --no-default-plugins [--plugin-dir DIR]... ARGS`
// with `env` set and nothing else from the caller's environment.
CommandResult fs2(const std::string& args, const std::vector<fs::path>& dirs, const std::string& env = "")
{
    std::string command = "FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_STRICT_PLUGINS= " + env + " " + cli() + " --log-level warn --no-default-plugins";
    for (const auto& dir : dirs)
        command += " --plugin-dir " + shell_quote(dir.string());
    return run_command(command + " " + args);
}

CommandResult with_fixtures(const std::string& args, const std::string& env = "")
{
    return fs2(args, {fixture_dir, plugin_dir}, env);
}

std::size_t count(const std::string& text, const std::string& part)
{
    std::size_t n = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size()))
        ++n;
    return n;
}

// No code of the fixtures the host must refuse from their files ran.
void expect_no_refused_code_ran(const CommandResult& result)
{
    EXPECT_EQ(count(result.err, "library code ran"), 0u) << describe(result);
    EXPECT_EQ(count(result.out, "library code ran"), 0u) << describe(result);
}

const std::string header = "NAME                        VERSION   FAMILIES        STATUS  FILE\n";

std::string row(const std::string& name, const std::string& families, const std::string& status, const fs::path& file)
{
    std::string text = name;
    text.resize(28, ' ');
    std::string version = name == "-" ? "-" : FAIRSEQ2_SDK_VERSION_STRING;
    version.resize(10, ' ');
    std::string family_column = families;
    family_column.resize(16, ' ');
    std::string status_column = status;
    status_column.resize(8, ' ');
    return text + version + family_column + status_column + file.string() + "\n";
}

TEST(CliPluginsTest, ListShowsEveryFixtureAndExitsZero)
{
    CommandResult result = with_fixtures("plugins list");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    expect_no_refused_code_ran(result);

    EXPECT_EQ(result.out.rfind(header + row("fixture_abi_major", "-", "failed", fixture("abi_major")) +
                                   "    error: it was built for SDK ABI " + std::to_string(FAIRSEQ2_SDK_ABI_VERSION + 1) + ", but this host",
                               0),
              0u)
        << describe(result);
    EXPECT_NE(result.out.find(row("fixture_basic", "toy", "loaded", fixture("basic"))), std::string::npos) << describe(result);
    EXPECT_NE(result.out.find(row("llama", "llama", "loaded", llama_so)), std::string::npos) << describe(result);
    for (const char* name : {"duplicate_cards", "duplicate_family", "half_registers", "missing_dependency", "no_entry", "other_torch", "setup_throws",
                             "setup_throws_int"})
        EXPECT_NE(result.out.find(row(std::string("fixture_") + name, "-", "failed", fixture(name)) + "    error: it"), std::string::npos)
            << name << "\n"
            << describe(result);
    for (const char* name : {"not_a_library.so", "truncated.so"})
        EXPECT_NE(result.out.find(row("-", "-", "failed", fixture_dir / name) + "    error: it is "), std::string::npos)
            << name << "\n"
            << describe(result);
    EXPECT_EQ(count(result.out, "failed  "), 11u) << describe(result);
    EXPECT_EQ(count(result.out, "loaded  "), 2u) << describe(result);
    EXPECT_EQ(count(result.out, "README.txt"), 0u) << describe(result);

    // One log line per failure on stderr.
    EXPECT_EQ(count(result.err, "[error] Skipping plugin "), 11u) << describe(result);
    EXPECT_NE(result.err.find("[error] Skipping plugin " + fixture("missing_dependency").string() +
                              ": it needs the shared library 'libfairseq2_fixture_absent.so', which cannot be found"),
              std::string::npos)
        << describe(result);

    CommandResult json = with_fixtures("plugins list --json");
    ASSERT_EQ(json.exit_code, 0) << describe(json);
    const boost::json::array records = boost::json::parse(json.out).as_array();
    ASSERT_EQ(records.size(), 13u);
    std::size_t failed = 0;
    for (const auto& record : records)
        if (record.at("status") == "failed") {
            ++failed;
            EXPECT_FALSE(record.at("error").as_string().empty());
        }
    EXPECT_EQ(failed, 11u);
}

TEST(CliPluginsTest, ModelsListShowsTheFamiliesThatLoaded)
{
    CommandResult result = with_fixtures("models list");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out,
              "FAMILY          PLUGIN          DEFAULT ARCH\n"
              "llama           llama           llama3_1_8b\n"
              "toy             fixture_basic   small\n");
    EXPECT_EQ(count(result.err, "[error] Skipping plugin "), 11u) << describe(result);

    CommandResult archs = with_fixtures("models archs toy");
    EXPECT_EQ(archs.exit_code, 0) << describe(archs);
    EXPECT_EQ(archs.out, "large\nsmall\n");
}

// Without --no-default-plugins the program also searches the build's plugin
// folder (the installed one, once installed): every bundled family loads,
// and a family found twice fails the second time, naming both files.
TEST(CliPluginsTest, TheDefaultFolderHoldsEveryBundledFamily)
{
    const std::string env = "FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_STRICT_PLUGINS= ";
    CommandResult all = run_command(env + cli() + " --log-level warn models list --json");
    ASSERT_EQ(all.exit_code, 0) << describe(all);
    std::vector<std::string> families;
    const boost::json::value listed = boost::json::parse(all.out);
    for (const auto& family : listed.as_array())
        families.emplace_back(family.at("family").as_string());
    EXPECT_EQ(families, bundled_plugins());
    EXPECT_EQ(all.err, "");

    CommandResult both = run_command(env + cli() + " --log-level warn --plugin-dir " + shell_quote(plugin_dir.string()) + " models list");
    ASSERT_EQ(both.exit_code, 0) << describe(both);
    EXPECT_NE(both.err.find("its model family 'llama' is already registered by " + llama_so.string()), std::string::npos)
        << describe(both);

    CommandResult none = fs2("models list", {});
    EXPECT_EQ(none.exit_code, 0) << describe(none);
    EXPECT_EQ(none.out, "FAMILY          PLUGIN          DEFAULT ARCH\n");
}

TEST(CliPluginsTest, StrictModeTurnsAnyFailureIntoExitOne)
{
    // --strict-plugins: the list is printed, then the failure.
    CommandResult list = with_fixtures("--strict-plugins plugins list");
    EXPECT_EQ(list.exit_code, 1) << describe(list);
    EXPECT_NE(list.out.find(row("fixture_basic", "toy", "loaded", fixture("basic"))), std::string::npos) << describe(list);
    EXPECT_NE(list.err.find(strict_failure + fixture("abi_major").string() + " (it was built for SDK ABI "), std::string::npos)
        << describe(list);
    EXPECT_TRUE(list.err.ends_with("; fix or remove them, or load without strict mode.\n")) << describe(list);

    CommandResult models = with_fixtures("--strict-plugins models list");
    EXPECT_EQ(models.exit_code, 1) << describe(models);
    EXPECT_EQ(models.out, "") << describe(models);
    EXPECT_NE(models.err.find(strict_failure), std::string::npos) << describe(models);

    CommandResult json = with_fixtures("--strict-plugins plugins list --json");
    EXPECT_EQ(json.exit_code, 1) << describe(json);
    EXPECT_EQ(boost::json::parse(json.out).as_array().size(), 13u);

    // FAIRSEQ2_STRICT_PLUGINS does the same; 0 leaves it off.
    CommandResult env_on = with_fixtures("models list", "FAIRSEQ2_STRICT_PLUGINS=1");
    EXPECT_EQ(env_on.exit_code, 1) << describe(env_on);
    EXPECT_NE(env_on.err.find(strict_failure), std::string::npos) << describe(env_on);
    CommandResult env_off = with_fixtures("models list", "FAIRSEQ2_STRICT_PLUGINS=0");
    EXPECT_EQ(env_off.exit_code, 0) << describe(env_off);
    CommandResult env_bad = with_fixtures("models list", "FAIRSEQ2_STRICT_PLUGINS=maybe");
    EXPECT_EQ(env_bad.exit_code, 1) << describe(env_bad);
    EXPECT_NE(env_bad.err.find("error: FAIRSEQ2_STRICT_PLUGINS is 'maybe', which is not a yes/no value; set it to 1 (or true, yes, on) or 0 "
                               "(or false, no, off).\n"),
              std::string::npos)
        << describe(env_bad);

    // Strict with only good plugins succeeds.
    CommandResult good = fs2("--strict-plugins models list", {plugin_dir});
    EXPECT_EQ(good.exit_code, 0) << describe(good);
    EXPECT_EQ(good.out, "FAMILY          PLUGIN          DEFAULT ARCH\nllama           llama           llama3_1_8b\n");
}

TEST(CliPluginsTest, InspectPrintsTheHandshakeWithoutLoading)
{
    CommandResult llama = run_command(cli() + " plugins inspect " + shell_quote(llama_so.string()));
    EXPECT_EQ(llama.exit_code, 0) << describe(llama);
    EXPECT_EQ(llama.out, "file          " + llama_so.string() +
                             "\n"
                             "name          llama\n"
                             "version       " FAIRSEQ2_SDK_VERSION_STRING "\n"
                             "sdk version   " FAIRSEQ2_SDK_VERSION_STRING "\n"
                             "sdk abi       " +
                             std::to_string(FAIRSEQ2_SDK_ABI_VERSION) +
                             "\n"
                             "libtorch      " FAIRSEQ2_TORCH_VERSION_STRING "\n"
                             "cxx11 abi     " +
                             std::to_string(_GLIBCXX_USE_CXX11_ABI) +
                             "\n"
                             "entry point   setup_fairseq2_extension\n"
                             "loadable      yes (this host: SDK " FAIRSEQ2_SDK_VERSION_STRING ", ABI " +
                             std::to_string(FAIRSEQ2_SDK_ABI_VERSION) + ", libtorch " FAIRSEQ2_TORCH_VERSION_STRING ")\n");
    EXPECT_EQ(llama.err, "");

    CommandResult json = run_command(cli() + " plugins inspect --json " + shell_quote(llama_so.string()));
    ASSERT_EQ(json.exit_code, 0) << describe(json);
    EXPECT_EQ(boost::json::parse(json.out), (boost::json::object{{"file", llama_so.string()},
                                                                 {"name", "llama"},
                                                                 {"version", FAIRSEQ2_SDK_VERSION_STRING},
                                                                 {"sdk_version", FAIRSEQ2_SDK_VERSION_STRING},
                                                                 {"abi_version", FAIRSEQ2_SDK_ABI_VERSION},
                                                                 {"torch_version", FAIRSEQ2_TORCH_VERSION_STRING},
                                                                 {"cxx11_abi", _GLIBCXX_USE_CXX11_ABI},
                                                                 {"entry_point", true},
                                                                 {"compatible", true}}))
        << json.out;

    // Incompatible: printed, then refused with the reason (exit 1).
    CommandResult torch = run_command(cli() + " plugins inspect " + shell_quote(fixture("other_torch").string()));
    EXPECT_EQ(torch.exit_code, 1) << describe(torch);
    EXPECT_NE(torch.out.find("name          fixture_other_torch\n"), std::string::npos) << describe(torch);
    EXPECT_NE(torch.out.find("libtorch      2.1\n"), std::string::npos) << describe(torch);
    EXPECT_NE(torch.out.find("loadable      no\n"), std::string::npos) << describe(torch);
    EXPECT_EQ(torch.err, "error: Plugin '" + fixture("other_torch").string() +
                             "': it was built against libtorch 2.1, but this host uses libtorch " FAIRSEQ2_TORCH_VERSION_STRING
                             "; rebuild the plugin against the same libtorch.\n");
    expect_no_refused_code_ran(torch);

    for (const char* name : {"abi_major", "no_entry"}) {
        CommandResult refused = run_command(cli() + " plugins inspect --json " + shell_quote(fixture(name).string()));
        EXPECT_EQ(refused.exit_code, 1) << describe(refused);
        const boost::json::value value = boost::json::parse(refused.out);
        EXPECT_EQ(value.at("compatible"), false);
        EXPECT_EQ("error: Plugin '" + fixture(name).string() + "': " + std::string(value.at("problem").as_string()) + "\n", refused.err);
        expect_no_refused_code_ran(refused);
    }

    // No handshake to print.
    CommandResult text = run_command(cli() + " plugins inspect " + shell_quote((fixture_dir / "not_a_library.so").string()));
    EXPECT_EQ(text.exit_code, 1) << describe(text);
    EXPECT_EQ(text.out, "");
    EXPECT_EQ(text.err, "error: Plugin '" + (fixture_dir / "not_a_library.so").string() +
                            "': it is not a shared library (it does not start with the ELF magic number); remove it from the plugin folder, "
                            "which should hold only plugin libraries.\n");

    CommandResult missing = run_command(cli() + " plugins inspect");
    EXPECT_EQ(missing.exit_code, 106) << describe(missing);  // CLI::ExitCodes::RequiredError
    EXPECT_NE(missing.err.find("FILE is required"), std::string::npos) << describe(missing);
}

}  // namespace

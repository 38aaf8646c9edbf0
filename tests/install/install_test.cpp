// The installed fairseq2 as third parties use it: `cmake --install` to a
// temporary prefix, then examples/your_model (a plugin) and examples/embed
// (an application) configured and built as separate CMake projects against
// that prefix only, the plugin dropped into a plugin folder and run by the
// installed `fairseq2`, the application run through the hub, and a program
// built with the pkg-config file. Also checks that every code block of the
// your_model tutorial is cut from the files this test builds.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fairseq2/version.hpp"
#include "host/plugin_test_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::test::CommandResult;
using fairseq2::test::describe;
using fairseq2::test::python;
using fairseq2::test::read_file;
using fairseq2::test::reference_script;
using fairseq2::test::run_command;
using fairseq2::test::shell_quote;
using fairseq2::test::TempDir;
using fairseq2::test::write_file;

const fs::path source_dir = FAIRSEQ2_TEST_SOURCE_DIR;
const fs::path build_dir = FAIRSEQ2_TEST_BUILD_DIR;
const std::string libdir = FAIRSEQ2_TEST_INSTALL_LIBDIR;

// Whether `plugins list` output has a row whose columns are `fields` (the
// column widths follow the longest name, so they are not compared).
bool lists_plugin(const std::string& out, const std::vector<std::string>& fields)
{
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> row;
        for (std::string word; words >> word;)
            row.push_back(word);
        if (row == fields)
            return true;
    }
    return false;
}

std::string q(const fs::path& path)
{
    return shell_quote(path.string());
}

// Runs `command`, logging how long it took.
CommandResult timed(const std::string& what, const std::string& command)
{
    const auto start = std::chrono::steady_clock::now();
    CommandResult result = run_command(command);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[install test] " << what << ": " << seconds << " s (exit " << result.exit_code << ")" << std::endl;
    return result;
}

// Configures and builds the example in `example` against `prefix` alone.
CommandResult build_example(const std::string& example, const fs::path& prefix, const fs::path& binary_dir)
{
    std::string configure = shell_quote(FAIRSEQ2_TEST_CMAKE) + " -S " + q(source_dir / "examples" / example) + " -B " + q(binary_dir) +
                            " -G " + shell_quote(FAIRSEQ2_TEST_GENERATOR) + " -DCMAKE_PREFIX_PATH=" + q(prefix) +
                            " -DCMAKE_CXX_COMPILER=" + shell_quote(FAIRSEQ2_TEST_CXX_COMPILER) +
                            // Only the prefix: no package registry, no build tree.
                            " -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF";
    if (!std::string(FAIRSEQ2_TEST_COMPILER_LAUNCHER).empty())
        configure += " -DCMAKE_CXX_COMPILER_LAUNCHER=" + shell_quote(FAIRSEQ2_TEST_COMPILER_LAUNCHER);
    CommandResult configured = timed("configure examples/" + example, configure);
    if (configured.exit_code != 0)
        return configured;
    return timed("build examples/" + example, shell_quote(FAIRSEQ2_TEST_CMAKE) + " --build " + q(binary_dir));
}

// The value of `key` in a CMakeCache.txt.
std::string cache_value(const fs::path& cache, const std::string& key)
{
    std::istringstream lines(read_file(cache));
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind(key + ":", 0) == 0)
            return line.substr(line.find('=') + 1);
    return "";
}


TEST(InstallTest, ExamplesBuildAgainstTheInstalledPackageAndRun)
{
    TempDir root;
    const fs::path prefix = root / "prefix";
    // The families this build bundles (tests/CMakeLists.txt), all installed.
    const std::vector<std::string> bundled = fairseq2::test::bundled_plugins();

    // 1. Install.
    CommandResult installed =
        timed("cmake --install", shell_quote(FAIRSEQ2_TEST_CMAKE) + " --install " + q(build_dir) + " --prefix " + q(prefix));
    ASSERT_EQ(installed.exit_code, 0) << describe(installed);
    const fs::path lib = prefix / libdir;
    for (const fs::path& file :
         {prefix / "bin" / "fairseq2", lib / "libfairseq2_sdk.so", lib / "libfairseq2_host.so", lib / "fairseq2" / "plugins" / "libfairseq2_llama.so",
          prefix / "include" / "fairseq2" / "plugin" / "plugin_api.hpp", prefix / "include" / "fairseq2" / "runtime" / "registry.hpp",
          prefix / "include" / "fairseq2" / "host" / "host.hpp", prefix / "include" / "fairseq2" / "host" / "plugin_inspector.hpp",
          lib / "cmake" / "fairseq2" / "fairseq2Config.cmake", lib / "cmake" / "fairseq2" / "fairseq2ConfigVersion.cmake",
          lib / "cmake" / "fairseq2" / "fairseq2Targets.cmake", lib / "cmake" / "fairseq2" / "Fairseq2Plugin.cmake",
          lib / "cmake" / "fairseq2" / "Fairseq2EmbedFile.cmake", lib / "pkgconfig" / "fairseq2.pc"})
        EXPECT_TRUE(fs::exists(file)) << file;
    // Only the bundled plugins, none of the test fixtures.
    std::vector<std::string> plugins;
    for (const auto& entry : fs::directory_iterator(lib / "fairseq2" / "plugins"))
        plugins.push_back(entry.path().filename().string());
    std::sort(plugins.begin(), plugins.end());
    std::vector<std::string> bundled_files;
    for (const std::string& name : bundled)
        bundled_files.push_back("libfairseq2_" + name + ".so");
    EXPECT_EQ(plugins, bundled_files);
    // Relative run paths: the prefix does not point back into the build tree.
    CommandResult runpath = run_command("readelf -d " + q(prefix / "bin" / "fairseq2") + " " + q(lib / "libfairseq2_host.so") + " " +
                                        q(lib / "fairseq2" / "plugins" / "libfairseq2_llama.so"));
    ASSERT_EQ(runpath.exit_code, 0) << describe(runpath);
    EXPECT_NE(runpath.out.find("[$ORIGIN/../lib"), std::string::npos) << runpath.out;
    EXPECT_NE(runpath.out.find("[$ORIGIN/../.."), std::string::npos) << runpath.out;
    EXPECT_EQ(runpath.out.find(build_dir.string()), std::string::npos) << runpath.out;

    // The installed program finds its plugins beside its libraries.
    const std::string env = "FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL=warn FAIRSEQ2_STRICT_PLUGINS= ";
    const std::string fairseq2 = env + q(prefix / "bin" / "fairseq2");
    CommandResult listed = run_command(fairseq2 + " plugins list");
    ASSERT_EQ(listed.exit_code, 0) << describe(listed);
    EXPECT_TRUE(lists_plugin(listed.out, {"llama", FAIRSEQ2_SDK_VERSION_STRING, "llama", "loaded",
                                          (lib / "fairseq2" / "plugins" / "libfairseq2_llama.so").string()}))
        << describe(listed);

    // 2. The your_model plugin, built against the prefix only.
    const fs::path plugin_build = root / "your_model-build";
    CommandResult plugin = build_example("your_model", prefix, plugin_build);
    ASSERT_EQ(plugin.exit_code, 0) << describe(plugin);
    EXPECT_EQ(fs::path(cache_value(plugin_build / "CMakeCache.txt", "fairseq2_DIR")), lib / "cmake" / "fairseq2");
    const fs::path built = plugin_build / "libfairseq2_your_model.so";
    ASSERT_TRUE(fs::is_regular_file(built)) << built;

    const fs::path plugin_dir = root / "plugins";
    fs::create_directories(plugin_dir);
    fs::copy_file(built, plugin_dir / "libfairseq2_your_model.so");
    const std::string with_plugin = fairseq2 + " --plugin-dir " + q(plugin_dir);

    CommandResult inspect = run_command(fairseq2 + " plugins inspect " + q(plugin_dir / "libfairseq2_your_model.so"));
    EXPECT_EQ(inspect.exit_code, 0) << describe(inspect);
    EXPECT_NE(inspect.out.find("name          your_model\nversion       1.0.0\nsdk version   " FAIRSEQ2_SDK_VERSION_STRING "\n"),
              std::string::npos)
        << describe(inspect);
    EXPECT_NE(inspect.out.find("loadable      yes"), std::string::npos) << describe(inspect);

    CommandResult list = run_command(with_plugin + " --strict-plugins plugins list");
    EXPECT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_TRUE(lists_plugin(list.out, {"your_model", "1.0.0", "your_model", "loaded", (plugin_dir / "libfairseq2_your_model.so").string()}))
        << describe(list);

    CommandResult archs = run_command(with_plugin + " models archs your_model");
    EXPECT_EQ(archs.exit_code, 0) << describe(archs);
    EXPECT_EQ(archs.out, "base\nlarge\ntiny\n");

    CommandResult config = run_command(with_plugin + " models config your_model --arch tiny --set num_layers=3");
    ASSERT_EQ(config.exit_code, 0) << describe(config);
    const boost::json::value json = boost::json::parse(config.out);
    EXPECT_EQ(json.at("model_dim").as_int64(), 64);
    EXPECT_EQ(json.at("num_layers").as_int64(), 3);
    EXPECT_EQ(json.at("vocab_info").at("size").as_int64(), 256);
    EXPECT_EQ(json.at("scale_embeddings").as_bool(), true);

    CommandResult invalid = run_command(with_plugin + " models config your_model --set num_key_value_heads=3");
    EXPECT_EQ(invalid.exit_code, 1) << describe(invalid);
    EXPECT_EQ(invalid.err, "error: The field 'num_key_value_heads' of the your_model config is invalid: it must divide num_attn_heads (8), "
                           "but is 3.\n");

    const std::string generate = with_plugin + " generate --family your_model --arch tiny --random-init --set vocab_info.eos_idx=null "
                                               "--max-new-tokens 8 --prompt-ids '1 5 9'";
    CommandResult first = run_command(generate);
    ASSERT_EQ(first.exit_code, 0) << describe(first);
    EXPECT_TRUE(std::regex_match(first.out, std::regex("^[0-9]+( [0-9]+){7}\n$"))) << describe(first);
    CommandResult again = run_command(generate);
    EXPECT_EQ(again.out, first.out) << describe(again);

    // 3. The embedding application, through the hub.
    const fs::path embed_build = root / "embed-build";
    CommandResult embed = build_example("embed", prefix, embed_build);
    ASSERT_EQ(embed.exit_code, 0) << describe(embed);
    const std::string assets = "FAIRSEQ2_USER_ASSET_DIR=" + q(root / "cards") + " FAIRSEQ2_ASSET_DIR=" + q(root / "no-system-cards") +
                               " FAIRSEQ2_CACHE_DIR=" + q(root / "cache") + " ";
    const std::string app = env + assets + q(embed_build / "embed") + " --plugin-dir " + q(plugin_dir);
    fs::create_directories(root / "cards");
    fs::create_directories(root / "no-system-cards");

    // The same model as `generate` above (seed 0, same config): same ids.
    CommandResult random = run_command(app + " --family your_model --arch tiny --set vocab_info.eos_idx=null --max-new-tokens 8 1 5 9");
    EXPECT_EQ(random.exit_code, 0) << describe(random);
    EXPECT_EQ(random.out, first.out) << describe(random);

    // A model by name: a card in the user asset folder, its checkpoint
    // beside it.
    // Greedy output is always the next id (tests/reference/make_successor_checkpoint.py).
    CommandResult made =
        run_command(python() + " " + q(reference_script("make_successor_checkpoint.py")) + " " + q(root / "cards" / "tiny_successor.pt"));
    ASSERT_EQ(made.exit_code, 0) << describe(made);
    write_file(root / "cards" / "tiny_successor.yaml",
               "name: tiny_successor\n"
               "model_family: llama\n"
               "model_arch: llama2_7b\n"
               "model_config:\n"
               "  model_dim: 64\n"
               "  num_layers: 2\n"
               "  num_attn_heads: 4\n"
               "  num_key_value_heads: 2\n"
               "  ffn_inner_dim: 128\n"
               "  vocab_info:\n"
               "    size: 256\n"
               "checkpoint: tiny_successor.pt\n");
    CommandResult named = run_command(app + " tiny_successor --max-new-tokens 6 5");
    EXPECT_EQ(named.exit_code, 0) << describe(named);
    EXPECT_EQ(named.out, "6 7 8 9 10 11\n") << describe(named);

    CommandResult unknown = run_command(app + " no_such_model");
    EXPECT_EQ(unknown.exit_code, 1) << describe(unknown);
    EXPECT_EQ(unknown.err.rfind("error: 'no_such_model' is not a known model", 0), 0u) << describe(unknown);

    // 4. pkg-config: a program built with `pkg-config --cflags --libs fairseq2`.
    write_file(root / "families.cpp",
               "#include <iostream>\n"
               "#include \"fairseq2/host/host.hpp\"\n"
               "#include \"fairseq2/models/model_handler.hpp\"\n"
               "int main() {\n"
               "    fairseq2::host::Host host;\n"
               "    host.load_plugins();\n"
               "    for (const auto& family : host.context().get_registry<fairseq2::models::ModelHandler>().keys())\n"
               "        std::cout << family << \"\\n\";\n"
               "}\n");
    CommandResult compiled =
        timed("pkg-config build", "PKG_CONFIG_PATH=" + q(lib / "pkgconfig") + " && export PKG_CONFIG_PATH && " +
                                      shell_quote(FAIRSEQ2_TEST_CXX_COMPILER) + " " + q(root / "families.cpp") + " -o " + q(root / "families") +
                                      " $(pkg-config --cflags --libs fairseq2)");
    ASSERT_EQ(compiled.exit_code, 0) << describe(compiled);
    CommandResult families = run_command(env + q(root / "families"));
    EXPECT_EQ(families.exit_code, 0) << describe(families);
    std::string family_lines;
    for (const std::string& name : bundled)
        family_lines += name + "\n";
    EXPECT_EQ(families.out, family_lines) << describe(families);
}

// Every ```cpp and ```cmake block of the tutorial appears, character for
// character, in one of the files of examples/your_model.
TEST(InstallTest, TutorialCodeBlocksAreCutFromTheExample)
{
    const fs::path example = source_dir / "examples" / "your_model";
    const std::string tutorial = read_file(example / "README.md");
    ASSERT_FALSE(tutorial.empty());
    std::vector<std::string> sources;
    for (const auto& entry : fs::directory_iterator(example))
        if (entry.path().filename() != "README.md")
            sources.push_back(read_file(entry.path()));

    static const std::regex block("```(cpp|cmake)\n([\\s\\S]*?)```");
    std::size_t blocks = 0;
    std::set<std::string> languages;
    for (auto it = std::sregex_iterator(tutorial.begin(), tutorial.end(), block); it != std::sregex_iterator(); ++it) {
        ++blocks;
        languages.insert((*it)[1].str());
        const std::string code = (*it)[2].str();
        bool found = false;
        for (const auto& source : sources)
            found = found || source.find(code) != std::string::npos;
        EXPECT_TRUE(found) << "This code block of examples/your_model/README.md is not in any file of the example; copy it from the file "
                              "it documents:\n"
                           << code;
    }
    EXPECT_GE(blocks, 8u);
    EXPECT_EQ(languages, (std::set<std::string>{"cmake", "cpp"}));
}

}  // namespace

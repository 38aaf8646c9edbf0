// The `fairseq2` program end to end: every command through the built binary,
// with the built plugin folder and nothing from the caller's environment.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fairseq2/version.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::test::cli;
using fairseq2::test::CommandResult;
using fairseq2::test::describe;
using fairseq2::test::parse_json;
using fairseq2::test::python;
using fairseq2::test::reference_script;
using fairseq2::test::run_command;
using fairseq2::test::shell_quote;
using fairseq2::test::TempDir;
using fairseq2::test::write_file;

const fs::path plugin_dir = FAIRSEQ2_TEST_PLUGIN_DIR;
const fs::path llama_so = plugin_dir / "libfairseq2_llama.so";

// CLI11's exit codes (CLI::ExitCodes).
constexpr int cli11_required_error = 106;
constexpr int cli11_excludes_error = 108;
constexpr int cli11_extras_error = 109;

// Runs `fairseq2 --no-default-plugins [--plugin-dir EXTRA]... --plugin-dir
// PLUGIN_DIR ARGS` (the llama plugin alone, with the extra folders) with
// FAIRSEQ2_PLUGIN_PATH and FAIRSEQ2_LOG_LEVEL emptied.
CommandResult fs2(const std::string& args, const std::vector<fs::path>& extra_dirs = {})
{
    std::string command = "FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= " + cli() + " --no-default-plugins";
    for (const auto& dir : extra_dirs)
        command += " --plugin-dir " + shell_quote(dir.string());
    command += " --plugin-dir " + shell_quote(plugin_dir.string()) + " " + args;
    return run_command(command);
}

// The same, quiet: only warnings and errors are logged.
CommandResult quiet(const std::string& args, const std::vector<fs::path>& extra_dirs = {})
{
    return fs2("--log-level warn " + args, extra_dirs);
}

// A JSON string as text; anything else as a marker that cannot match.
std::string text(const boost::json::value& value)
{
    return value.is_string() ? std::string(value.get_string()) : "<not a string: " + boost::json::serialize(value) + ">";
}

// Expects exit 1, nothing on stdout and `message` as the last stderr line.
void expect_error(const CommandResult& result, const std::string& message)
{
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    EXPECT_EQ(result.out, "") << describe(result);
    const std::string line = "error: " + message + "\n";
    ASSERT_GE(result.err.size(), line.size()) << describe(result);
    EXPECT_EQ(result.err.substr(result.err.size() - line.size()), line) << describe(result);
}

const std::vector<std::string> llama_archs{"13b",          "33b",         "65b",          "7b",          "llama2_13b",
                                           "llama2_70b",   "llama2_7b",   "llama3_1_70b", "llama3_1_8b", "llama3_2_1b",
                                           "llama3_2_3b",  "llama3_70b",  "llama3_8b"};

const std::string config_keys =
    "'model_dim', 'max_seq_len', 'vocab_info', 'num_layers', 'num_attn_heads', 'num_key_value_heads', 'ffn_inner_dim', "
    "'ffn_inner_dim_scale', 'ffn_inner_dim_multiplier', 'ffn_inner_dim_to_multiple', 'rope_theta', 'use_scaled_rope', 'rope_scaling', "
    "'dropout_p', 'tied_embeddings', 'rms_norm_eps', 'head_dim', 'attention_bias', 'mlp_bias'";

// A llama2_7b with a tiny body: head dim 16, 2 KV heads, GLU inner dim 256,
// vocabulary 256 (BOS 1, EOS 2).
const std::string tiny =
    "--family llama --arch llama2_7b --set model_dim=64 --set num_layers=2 --set num_attn_heads=4 --set num_key_value_heads=2 "
    "--set ffn_inner_dim=128 --set vocab_info.size=256";

// Parses stdout of `generate`: one line of space-separated ids.
std::vector<std::int64_t> ids_of(const CommandResult& result)
{
    static const std::regex line("^(0|[1-9][0-9]*)( (0|[1-9][0-9]*))*\n$");
    EXPECT_TRUE(std::regex_match(result.out, line)) << describe(result);
    std::vector<std::int64_t> ids;
    std::istringstream stream(result.out);
    std::int64_t id = 0;
    while (stream >> id)
        ids.push_back(id);
    return ids;
}

std::vector<std::int64_t> generate_ids(const std::string& args, std::size_t expected_count)
{
    CommandResult result = quiet("generate " + tiny + " --random-init " + args);
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    std::vector<std::int64_t> ids = ids_of(result);
    EXPECT_EQ(ids.size(), expected_count) << describe(result);
    for (auto id : ids) {
        EXPECT_GE(id, 0);
        EXPECT_LT(id, 256);
    }
    // Timings go to stderr.
    EXPECT_NE(result.err.find("load "), std::string::npos) << describe(result);
    EXPECT_NE(result.err.find(" tokens/s"), std::string::npos) << describe(result);
    return ids;
}

// --- plugins -----------------------------------------------------------------

TEST(CliTest, PluginsListTable)
{
    CommandResult result = quiet("plugins list");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out,
              "NAME        VERSION   FAMILIES        STATUS  FILE\n"
              "llama       " FAIRSEQ2_SDK_VERSION_STRING "     llama           loaded  " +
                  llama_so.string() + "\n");
    EXPECT_EQ(result.err, "");
}

TEST(CliTest, PluginsListJson)
{
    CommandResult result = quiet("plugins list --json");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.err, "");
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_array()) << result.out;
    ASSERT_EQ(json.as_array().size(), 1u) << result.out;
    EXPECT_EQ(json.as_array()[0], (boost::json::object{{"file", llama_so.string()},
                                                       {"name", "llama"},
                                                       {"version", FAIRSEQ2_SDK_VERSION_STRING},
                                                       {"families", boost::json::array{"llama"}},
                                                       {"status", "loaded"}}))
        << result.out;
}

TEST(CliTest, PluginsListShowsFailedPlugins)
{
    TempDir dir;
    const fs::path broken = dir / "broken.so";
    write_file(broken, std::string(200, 'x') + "\nnot a library\n");
    write_file(dir / "README.txt", "ignored\n");

    CommandResult table = quiet("plugins list", {dir.path()});
    EXPECT_EQ(table.exit_code, 0) << describe(table);
    const std::string header = "NAME        VERSION   FAMILIES        STATUS  FILE\n";
    const std::string broken_row = "-           -         -               failed  " + broken.string() +
                                   "\n    error: it is not a shared library (it does not start with the ELF magic number); remove it from the "
                                   "plugin folder, which should hold only plugin libraries.\n";
    const std::string llama_row = "llama       " FAIRSEQ2_SDK_VERSION_STRING "     llama           loaded  " + llama_so.string() + "\n";
    EXPECT_EQ(table.out.rfind(header + broken_row, 0), 0u) << describe(table);
    ASSERT_GE(table.out.size(), llama_row.size());
    EXPECT_EQ(table.out.substr(table.out.size() - llama_row.size()), llama_row) << describe(table);
    EXPECT_EQ(std::count(table.out.begin(), table.out.end(), '\n'), 4) << describe(table);
    EXPECT_NE(table.err.find("[error] Skipping plugin " + broken.string() + ": it is not a shared library (it does not start with the "
                                                                   "ELF magic number); remove it from the plugin folder"),
              std::string::npos)
        << describe(table);

    CommandResult result = quiet("plugins list --json", {dir.path()});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_array()) << result.out;
    ASSERT_EQ(json.as_array().size(), 2u) << result.out;
    const boost::json::object& failed = json.as_array()[0].as_object();
    EXPECT_EQ(text(failed.at("file")), broken.string());
    EXPECT_EQ(text(failed.at("name")), "");
    EXPECT_EQ(text(failed.at("version")), "");
    EXPECT_EQ(boost::json::serialize(failed.at("families")), "[]");
    EXPECT_EQ(text(failed.at("status")), "failed");
    ASSERT_TRUE(failed.contains("error")) << result.out;
    const std::string error(failed.at("error").as_string());
    EXPECT_EQ(error,
              "it is not a shared library (it does not start with the ELF magic number); remove it from the plugin folder, which should "
              "hold only plugin libraries.");
    const boost::json::object& loaded = json.as_array()[1].as_object();
    EXPECT_EQ(text(loaded.at("file")), llama_so.string());
    EXPECT_EQ(text(loaded.at("status")), "loaded");
    EXPECT_FALSE(loaded.contains("error"));
}

TEST(CliTest, LogLevel)
{
    CommandResult debug = fs2("--log-level debug plugins list");
    EXPECT_EQ(debug.exit_code, 0) << describe(debug);
    EXPECT_NE(debug.err.find("[debug] Loaded plugin 'llama' " FAIRSEQ2_SDK_VERSION_STRING " from " + llama_so.string() +
                             " (families: llama)."),
              std::string::npos)
        << describe(debug);

    expect_error(fs2("--log-level bogus plugins list"),
                 "'bogus' is not a log level; expected one of trace, debug, info, warn, error, critical, off.");
}

// --- models ------------------------------------------------------------------

TEST(CliTest, ModelsList)
{
    CommandResult table = quiet("models list");
    EXPECT_EQ(table.exit_code, 0) << describe(table);
    EXPECT_EQ(table.out,
              "FAMILY          PLUGIN          DEFAULT ARCH\n"
              "llama           llama           llama3_1_8b\n");
    EXPECT_EQ(table.err, "");

    CommandResult result = quiet("models list --json");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_array()) << result.out;
    ASSERT_EQ(json.as_array().size(), 1u) << result.out;
    const boost::json::object& llama = json.as_array()[0].as_object();
    EXPECT_EQ(text(llama.at("family")), "llama");
    EXPECT_EQ(text(llama.at("plugin")), "llama");
    EXPECT_EQ(text(llama.at("default_arch")), "llama3_1_8b");
    EXPECT_EQ(text(llama.at("config_type")), "LLaMAConfig");
    EXPECT_EQ(llama.at("num_archs").to_number<std::int64_t>(), 13);
}

TEST(CliTest, ModelsArchs)
{
    CommandResult result = quiet("models archs llama");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    std::string expected;
    for (const auto& arch : llama_archs)
        expected += arch + "\n";
    EXPECT_EQ(result.out, expected);
    EXPECT_EQ(result.err, "");
}

TEST(CliTest, ModelsConfigWithArchAndOverrides)
{
    CommandResult result = quiet(
        "models config llama --arch llama2_7b --set model_dim=128 --set model_dim=64 --set num_layers=3 --set vocab_info.size=512 "
        "--set rope_scaling.factor=2.5 --set use_scaled_rope=true --set vocab_info.pad_idx=3");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.err, "");
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_object()) << result.out;
    const boost::json::object& config = json.as_object();
    // Overridden (the last --set of a key wins).
    EXPECT_EQ(config.at("model_dim").as_int64(), 64);
    EXPECT_EQ(config.at("num_layers").as_int64(), 3);
    EXPECT_EQ(config.at("vocab_info").at("size").as_int64(), 512);
    EXPECT_EQ(config.at("vocab_info").at("pad_idx").as_int64(), 3);
    EXPECT_EQ(config.at("rope_scaling").at("factor").as_double(), 2.5);
    EXPECT_EQ(config.at("use_scaled_rope").as_bool(), true);
    // From the llama2_7b preset.
    EXPECT_EQ(config.at("max_seq_len").as_int64(), 4096);
    EXPECT_EQ(config.at("num_attn_heads").as_int64(), 32);
    EXPECT_EQ(config.at("num_key_value_heads").as_int64(), 32);
    EXPECT_EQ(config.at("ffn_inner_dim").as_int64(), 16384);
    EXPECT_EQ(config.at("rope_theta").as_double(), 10000.0);
    EXPECT_EQ(config.at("vocab_info").at("bos_idx").as_int64(), 1);
    EXPECT_EQ(config.at("vocab_info").at("eos_idx").as_int64(), 2);
    EXPECT_EQ(config.at("tied_embeddings").as_bool(), false);
    EXPECT_EQ(config.size(), 19u) << result.out;
}

TEST(CliTest, ModelsConfigOfDefaultArch)
{
    CommandResult result = quiet("models config llama");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_object()) << result.out;
    const boost::json::object& config = json.as_object();
    // llama3_1_8b.
    EXPECT_EQ(config.at("model_dim").as_int64(), 4096);
    EXPECT_EQ(config.at("max_seq_len").as_int64(), 131072);
    EXPECT_EQ(config.at("num_layers").as_int64(), 32);
    EXPECT_EQ(config.at("num_key_value_heads").as_int64(), 8);
    EXPECT_EQ(config.at("vocab_info").at("size").as_int64(), 128256);
    EXPECT_EQ(config.at("vocab_info").at("bos_idx").as_int64(), 128000);
    EXPECT_EQ(config.at("vocab_info").at("eos_idx").as_int64(), 128001);
    EXPECT_EQ(config.at("rope_theta").as_double(), 500000.0);
    EXPECT_EQ(config.at("use_scaled_rope").as_bool(), true);
    EXPECT_EQ(config.at("rope_scaling").at("factor").as_double(), 8.0);
}

TEST(CliTest, ModelsConfigRejectsBadOverrides)
{
    expect_error(quiet("models config llama --set foo=1"), "The config has unknown key 'foo'; valid keys are " + config_keys + ".");
    expect_error(quiet("models config llama --arch llama2_7b --set vocab_info.foo=1"),
                 "The field 'vocab_info' has unknown key 'foo'; valid keys are 'size', 'unk_idx', 'bos_idx', 'eos_idx', 'pad_idx'.");
    expect_error(quiet("models config llama --set model_dim=abc"), "The field 'model_dim' must be an integer, but is a string (\"abc\").");
    expect_error(quiet("models config llama --set num_attn_heads=7"),
                 "The field 'num_attn_heads' of the llama config is invalid: it must divide model_dim (4096), but is 7.");
}

TEST(CliTest, UnknownFamilyAndArch)
{
    const std::string unknown_family = "'nope' is not a known model family. Known families: 'llama'.";
    expect_error(quiet("models archs nope"), unknown_family);
    expect_error(quiet("generate --family nope --random-init"), unknown_family);

    std::string known;
    for (const auto& arch : llama_archs)
        known += (known.empty() ? "'" : ", '") + arch + "'";
    const std::string unknown_arch = "The 'llama' family does not have an architecture named 'nope'. Known architectures: " + known + ".";
    expect_error(quiet("models config llama --arch nope"), unknown_arch);
    expect_error(quiet("generate --family llama --arch nope --random-init"), unknown_arch);
}

// --- generate ----------------------------------------------------------------

TEST(CliTest, GenerateGreedyIsDeterministicAndStopsAtEos)
{
    const std::vector<std::int64_t> ids = generate_ids("--max-new-tokens 8", 8);
    EXPECT_EQ(generate_ids("--max-new-tokens 8 --greedy", 8), ids);
    // Other random weights.
    EXPECT_NE(generate_ids("--max-new-tokens 8 --seed 1", 8), ids);

    // --json: the same ids, with timings.
    CommandResult result = quiet("generate " + tiny + " --random-init --max-new-tokens 8 --json");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_object()) << result.out;
    const boost::json::object& object = json.as_object();
    std::vector<std::int64_t> json_ids;
    for (const auto& id : object.at("ids").as_array())
        json_ids.push_back(id.as_int64());
    EXPECT_EQ(json_ids, ids);
    EXPECT_GE(object.at("load_s").to_number<double>(), 0.0);
    EXPECT_GT(object.at("prefill_tokens_per_s").to_number<double>(), 0.0);
    EXPECT_GT(object.at("decode_tokens_per_s").to_number<double>(), 0.0);
    EXPECT_EQ(object.at("prompt_tokens").as_int64(), 1);
    EXPECT_EQ(object.at("decode_steps").as_int64(), 7);
    EXPECT_EQ(result.out.find('\n'), result.out.size() - 1) << "one line of JSON: " << result.out;

    // Making the k-th generated token the EOS token stops generation right
    // after it (EOS included); the EOS id does not change the weights.
    std::size_t k = 2;
    while (k < ids.size() && std::count(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids[k]) != 0)
        ++k;
    ASSERT_LT(k + 1, ids.size()) << "no new id early enough among the greedy ids";
    const std::vector<std::int64_t> prefix(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k) + 1);
    EXPECT_EQ(generate_ids("--max-new-tokens 8 --set vocab_info.eos_idx=" + std::to_string(ids[k]), k + 1), prefix);
}

TEST(CliTest, GenerateSamplingFollowsTheSeed)
{
    const std::string sampling = "--max-new-tokens 12 --temperature 1.5 --top-p 0.95";
    const std::vector<std::int64_t> first = generate_ids(sampling + " --seed 3", 12);
    EXPECT_EQ(generate_ids(sampling + " --seed 3", 12), first);
    EXPECT_NE(generate_ids(sampling + " --seed 4", 12), first);
}

TEST(CliTest, GeneratePromptIds)
{
    CommandResult result = quiet("generate " + tiny + " --random-init --prompt-ids '5 6 7' --max-new-tokens 4 --json");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    boost::json::value json = parse_json(result.out);
    ASSERT_TRUE(json.is_object()) << result.out;
    EXPECT_EQ(json.at("prompt_tokens").as_int64(), 3);
    EXPECT_EQ(json.at("ids").as_array().size(), 4u);
    EXPECT_EQ(json.at("decode_steps").as_int64(), 3);

    expect_error(quiet("generate " + tiny + " --random-init --prompt-ids '5 x'"),
                 "--prompt-ids: 'x' is not a token id; give integers separated by spaces, e.g. \"1 2 3\".");
    expect_error(quiet("generate " + tiny + " --random-init --prompt-ids '5 256'"),
                 "The prompt token id 256 is outside the vocabulary (0 to 255).");
    expect_error(quiet("generate " + tiny + " --random-init --set max_seq_len=8 --prompt-ids '1 2 3 4 5 6 7 8 9' --max-new-tokens 1"),
                 "The prompt (9 tokens) plus 1 new tokens exceed the model's maximum sequence length of 8.");
}

// The prompt runs through the model in chunks of --prefill-chunk positions;
// the chunk size changes no token.
TEST(CliTest, GeneratePrefillChunksGiveTheSameTokens)
{
    std::string prompt;
    for (int i = 0; i < 40; ++i) {
        if (i > 0)
            prompt += ' ';
        prompt += std::to_string((i * 37 + 5) % 256);
    }
    const std::string args = "--prompt-ids '" + prompt + "' --max-new-tokens 6";
    const std::vector<std::int64_t> whole = generate_ids(args + " --prefill-chunk 0", 6);
    EXPECT_EQ(generate_ids(args, 6), whole);  // the default, 128: one chunk here
    EXPECT_EQ(generate_ids(args + " --prefill-chunk 7", 6), whole);
    EXPECT_EQ(generate_ids(args + " --prefill-chunk 1", 6), whole);

    CommandResult negative = quiet("generate " + tiny + " --random-init --prefill-chunk -3");
    EXPECT_NE(negative.exit_code, 0) << describe(negative);
    EXPECT_NE(negative.err.find("--prefill-chunk"), std::string::npos) << describe(negative);
}

TEST(CliTest, GenerateFromCheckpoint)
{
    TempDir dir;
    const fs::path checkpoint = dir / "tiny llama.pt";  // a space, to check quoting
    CommandResult made = run_command(python() + " " + shell_quote(reference_script("make_successor_checkpoint.py").string()) + " " +
                                     shell_quote(checkpoint.string()));
    ASSERT_EQ(made.exit_code, 0) << describe(made);
    ASSERT_TRUE(fs::is_regular_file(checkpoint));

    const std::string from = "generate " + tiny + " --checkpoint " + shell_quote(checkpoint.string());

    CommandResult result = quiet(from + " --prompt-ids 5 --max-new-tokens 6");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "6 7 8 9 10 11\n") << describe(result);

    // Stops at EOS (2), wrapping around the vocabulary first.
    result = quiet(from + " --prompt-ids 250 --max-new-tokens 16");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "251 252 253 254 255 0 1 2\n") << describe(result);

    // No prompt: BOS (1), whose successor is EOS.
    result = quiet(from);
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "2\n") << describe(result);

    result = quiet(from + " --prompt-ids '5 9 3' --max-new-tokens 5 --dtype bfloat16");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "4 5 6 7 8\n") << describe(result);

    // A config the checkpoint does not fit.
    result = quiet(from + " --set num_layers=3");
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("error: The checkpoint at '" + checkpoint.string() + "' does not match the model:"), std::string::npos)
        << describe(result);
    EXPECT_NE(result.err.find("decoder.layers.2.self_attn.q_proj.weight"), std::string::npos) << describe(result);

    const fs::path missing = dir / "missing.pt";
    expect_error(quiet("generate " + tiny + " --checkpoint " + shell_quote(missing.string())),
                 "The checkpoint '" + missing.string() + "' does not exist.");
}

TEST(CliTest, GenerateRejectsBadOptions)
{
    expect_error(quiet("generate " + tiny), "Give exactly one model source: --random-init or --checkpoint PATH.");
    expect_error(quiet("generate " + tiny + " --random-init --dtype float16"), "--dtype: 'float16' is not supported; use auto, float32 or bfloat16.");

    CommandResult both = quiet("generate " + tiny + " --random-init --checkpoint x.pt");
    EXPECT_EQ(both.exit_code, cli11_excludes_error) << describe(both);
    EXPECT_EQ(both.out, "");
    EXPECT_NE(both.err.find("--random-init excludes --checkpoint"), std::string::npos) << describe(both);

    CommandResult greedy = quiet("generate " + tiny + " --random-init --greedy --top-p 0.5");
    EXPECT_EQ(greedy.exit_code, cli11_excludes_error) << describe(greedy);
    EXPECT_NE(greedy.err.find("--greedy excludes --top-p"), std::string::npos) << describe(greedy);
}

// --- usage ---------------------------------------------------------------------

TEST(CliTest, UsageErrors)
{
    CommandResult none = run_command(cli());
    EXPECT_EQ(none.exit_code, cli11_required_error) << describe(none);
    EXPECT_EQ(none.out, "");
    EXPECT_NE(none.err.find("A subcommand is required"), std::string::npos) << describe(none);

    CommandResult unknown = quiet("generate " + tiny + " --random-init --bogus");
    EXPECT_EQ(unknown.exit_code, cli11_extras_error) << describe(unknown);
    EXPECT_EQ(unknown.out, "");
    EXPECT_NE(unknown.err.find("The following argument was not expected: --bogus"), std::string::npos) << describe(unknown);

    expect_error(quiet("generate --random-init"),
                 "Give the model: --model NAME (an asset card), --checkpoint PATH (its family and config are read from it), or --family "
                 "FAMILY with --random-init.");
}

TEST(CliTest, HelpAndVersion)
{
    CommandResult help = run_command(cli() + " --help");
    EXPECT_EQ(help.exit_code, 0) << describe(help);
    for (const char* text : {"--plugin-dir", "--no-default-plugins", "--log-level", "plugins", "models", "generate"})
        EXPECT_NE(help.out.find(text), std::string::npos) << text << "\n" << describe(help);

    CommandResult generate_help = run_command(cli() + " generate --help");
    EXPECT_EQ(generate_help.exit_code, 0) << describe(generate_help);
    for (const char* text : {"--family", "--random-init", "--checkpoint", "--prompt-ids", "--max-new-tokens", "--temperature", "--top-p",
                             "--dtype", "--threads", "--json"})
        EXPECT_NE(generate_help.out.find(text), std::string::npos) << text << "\n" << describe(generate_help);

    CommandResult version = run_command(cli() + " --version");
    EXPECT_EQ(version.exit_code, 0) << describe(version);
    EXPECT_EQ(version.out, "fairseq2 " FAIRSEQ2_SDK_VERSION_STRING "\n");
}

}  // namespace

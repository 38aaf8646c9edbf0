// `fairseq2 assets list|show`, `generate --model` and `models config
// --model` end to end through the built binary, with the user and system
// asset folders set through the environment.

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <torch/nn/module.h>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/hub.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;

using test::cli;
using test::CommandResult;
using test::describe;
using test::parse_json;
using test::run_command;
using test::shell_quote;
using test::TempDir;
using test::tiny_llama_card;
using test::write_file;

const fs::path plugin_dir = FAIRSEQ2_TEST_PLUGIN_DIR;
const fs::path llama_so = plugin_dir / "libfairseq2_llama.so";

// CLI11's exit code for mutually exclusive options.
constexpr int cli11_excludes_error = 108;

// Empty user, system and cache asset folders.
struct AssetDirs {
    TempDir root;
    fs::path user = root / "user";
    fs::path system = root / "system";
    fs::path cache = root / "cache";

    AssetDirs()
    {
        fs::create_directories(user);
        fs::create_directories(system);
    }
};

// Runs `fairseq2 --no-default-plugins --plugin-dir PLUGIN_DIR --log-level warn ARGS` with the
// folders of `dirs` and nothing else from the caller's environment.
CommandResult fs2(const AssetDirs& dirs, const std::string& args)
{
    return run_command("FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_STRICT_PLUGINS= FAIRSEQ2_USER_ASSET_DIR=" +
                       shell_quote(dirs.user.string()) + " FAIRSEQ2_ASSET_DIR=" + shell_quote(dirs.system.string()) +
                       " FAIRSEQ2_CACHE_DIR=" + shell_quote(dirs.cache.string()) + " " + cli() + " --no-default-plugins --plugin-dir " +
                       shell_quote(plugin_dir.string()) + " --log-level warn " + args);
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

// The built-in llama cards in file order, with their archs.
const std::vector<std::pair<std::string, std::string>> builtin_cards{
    {"llama_7b", "7b"},
    {"llama_13b", "13b"},
    {"llama_33b", "33b"},
    {"llama_65b", "65b"},
    {"llama2_7b", "llama2_7b"},
    {"llama2_7b_chat", "llama2_7b"},
    {"llama2_13b", "llama2_13b"},
    {"llama2_13b_chat", "llama2_13b"},
    {"llama2_70b", "llama2_70b"},
    {"llama2_70b_chat", "llama2_70b"},
    {"llama3_8b", "llama3_8b"},
    {"llama3_8b_instruct", "llama3_8b"},
    {"llama3_70b", "llama3_70b"},
    {"llama3_70b_instruct", "llama3_70b"},
    {"llama3_1_8b", "llama3_1_8b"},
    {"llama3_1_8b_instruct", "llama3_1_8b"},
    {"llama3_1_70b", "llama3_1_70b"},
    {"llama3_1_70b_instruct", "llama3_1_70b"},
    {"llama3_2_1b", "llama3_2_1b"},
    {"llama3_2_1b_instruct", "llama3_2_1b"},
    {"llama3_2_3b", "llama3_2_3b"},
    {"llama3_2_3b_instruct", "llama3_2_3b"},
};

// One row of `assets list`: the name padded to `width`, the kind, the details.
std::string row(const std::string& name, std::size_t width, const std::string& kind, const std::string& details = "")
{
    std::string text = "  " + name + std::string(width - name.size() + 2, ' ') + kind;
    if (!details.empty())
        text += std::string(7 - kind.size(), ' ') + details;
    return text + "\n";
}

std::string plugin_rows(const std::string& overridden = "")
{
    std::string rows;
    for (const auto& [name, arch] : builtin_cards)
        rows += row(name, 21, "model", "llama/" + arch + (name == overridden ? ", overridden by the system card" : ""));
    return rows;
}

// A tiny llama2_7b body: head dim 16, 2 KV heads, vocabulary 256.
const std::string tiny_sets =
    "--set model_dim=64 --set num_layers=2 --set num_attn_heads=4 --set num_key_value_heads=2 --set ffn_inner_dim=128 "
    "--set vocab_info.size=256";

// --- assets list / show ---------------------------------------------------------

TEST(AssetsCliTest, ListShowsTheBuiltInCardsOutOfTheBox)
{
    AssetDirs dirs;
    CommandResult result = fs2(dirs, "assets list");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "user cards (" + dirs.user.string() + "):\n  none\nsystem cards (" + dirs.system.string() +
                              "):\n  none\nplugin cards (" + llama_so.string() + "):\n" + plugin_rows());
    EXPECT_EQ(result.err, "");

    CommandResult json = fs2(dirs, "assets list --kind model --json");
    ASSERT_EQ(json.exit_code, 0) << describe(json);
    boost::json::value groups = parse_json(json.out);
    ASSERT_TRUE(groups.is_array()) << json.out;
    ASSERT_EQ(groups.as_array().size(), 3u) << json.out;
    EXPECT_EQ(groups.at(0), (boost::json::object{{"source", "user"}, {"location", dirs.user.string()}, {"cards", boost::json::array{}}}));
    EXPECT_EQ(groups.at(1), (boost::json::object{{"source", "system"}, {"location", dirs.system.string()}, {"cards", boost::json::array{}}}));
    EXPECT_EQ(groups.at(2).at("source"), "plugin");
    EXPECT_EQ(groups.at(2).at("location"), boost::json::value(llama_so.string()));
    const auto& cards = groups.at(2).at("cards").as_array();
    ASSERT_EQ(cards.size(), builtin_cards.size());
    EXPECT_EQ(cards[0], (boost::json::object{{"name", "llama_7b"},
                                             {"file", "libfairseq2_llama.so:llama.yaml"},
                                             {"line", 11},
                                             {"family", "llama"},
                                             {"arch", "7b"},
                                             {"kind", "model"}}));
    EXPECT_EQ(cards[19].at("name"), "llama3_2_1b_instruct");
    EXPECT_EQ(cards[19].at("arch"), "llama3_2_1b");
}

TEST(AssetsCliTest, ListGroupsBySourceUserFirst)
{
    AssetDirs dirs;
    write_file(dirs.system / "tiny.yaml",
               std::string(tiny_llama_card) + "---\nname: llama3_8b\nmodel_family: llama\nmodel_arch: llama3_8b\ncheckpoint: /sys/l3.pt\n");
    write_file(dirs.user / "cards.yaml",
               "name: tiny_real\nbase: tiny\ncheckpoint: weights/tiny.pt\n---\nname: llama2_7b@user\ncheckpoint: /data/l2.pt\n---\n"
               "name: readme\nnote: not a model\n---\nname: orphan\nbase: ghost\nmodel_family: llama\n");

    const std::string user_rows = row("tiny_real", 14, "model", "llama/llama2_7b") +
                                  row("llama2_7b@user", 14, "model", "overlays 'llama2_7b', llama/llama2_7b") + row("readme", 14, "other") +
                                  row("orphan", 14, "model",
                                      "error: A transitive base asset card with name 'ghost' is not found; the 'orphan' card (" +
                                          (dirs.user / "cards.yaml").string() + ", line 11) names it as its base.");
    const std::string system_rows = row("tiny", 9, "model", "llama/llama2_7b") + row("llama3_8b", 9, "model", "llama/llama3_8b");
    CommandResult all = fs2(dirs, "assets list");
    EXPECT_EQ(all.exit_code, 0) << describe(all);
    EXPECT_EQ(all.out, "user cards (" + dirs.user.string() + "):\n" + user_rows + "system cards (" + dirs.system.string() + "):\n" +
                           system_rows + "plugin cards (" + llama_so.string() + "):\n" + plugin_rows("llama3_8b"));

    CommandResult models = fs2(dirs, "assets list --kind model");
    EXPECT_EQ(models.exit_code, 0) << describe(models);
    EXPECT_EQ(models.out.find("readme"), std::string::npos) << describe(models);
    EXPECT_NE(models.out.find("tiny_real"), std::string::npos) << describe(models);

    CommandResult json = fs2(dirs, "assets list --json");
    ASSERT_EQ(json.exit_code, 0) << describe(json);
    boost::json::value groups = parse_json(json.out);
    const auto& user_cards = groups.at(0).at("cards").as_array();
    ASSERT_EQ(user_cards.size(), 4u) << json.out;
    EXPECT_EQ(user_cards[1], (boost::json::object{{"name", "llama2_7b@user"},
                                                  {"file", (dirs.user / "cards.yaml").string()},
                                                  {"line", 5},
                                                  {"overlays", "llama2_7b"},
                                                  {"family", "llama"},
                                                  {"arch", "llama2_7b"},
                                                  {"kind", "model"}}));
    EXPECT_EQ(user_cards[2].at("kind"), "other");
    EXPECT_TRUE(user_cards[3].as_object().contains("error"));
    const auto& plugin_cards = groups.at(2).at("cards").as_array();
    EXPECT_EQ(plugin_cards[10].at("name"), "llama3_8b");
    EXPECT_EQ(plugin_cards[10].at("overridden_by"), "system");

    CommandResult bad_kind = fs2(dirs, "assets list --kind dataset");
    EXPECT_NE(bad_kind.exit_code, 0) << describe(bad_kind);
    EXPECT_NE(bad_kind.err.find("--kind: dataset not in {model,all}"), std::string::npos) << describe(bad_kind);
}

TEST(AssetsCliTest, ShowPrintsTheCardItsOverlayAndItsBases)
{
    AssetDirs dirs;
    write_file(dirs.system / "tiny.yaml", tiny_llama_card);
    write_file(dirs.user / "cards.yaml", "name: tiny_real\nbase: tiny\ncheckpoint: weights/tiny.pt\n---\nname: tiny@user\nmodel_config:\n  max_seq_len: 256\n");

    CommandResult result = fs2(dirs, "assets show tiny_real");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "tiny_real (user card, " + (dirs.user / "cards.yaml").string() +
                              ", line 1)\n"
                              "  name: tiny_real\n"
                              "  base: tiny\n"
                              "  checkpoint: weights/tiny.pt\n"
                              "\n"
                              "tiny@user (user card, " +
                              (dirs.user / "cards.yaml").string() +
                              ", line 5)\n"
                              "  name: tiny@user\n"
                              "  model_config.max_seq_len: 256\n"
                              "\n"
                              "tiny (system card, " +
                              (dirs.system / "tiny.yaml").string() +
                              ", line 1)\n"
                              "  name: tiny\n"
                              "  base: llama2_7b\n"
                              "  model_config.model_dim: 64\n"
                              "  model_config.num_layers: 2\n"
                              "  model_config.num_attn_heads: 4\n"
                              "  model_config.num_key_value_heads: 2\n"
                              "  model_config.ffn_inner_dim: 128\n"
                              "  model_config.vocab_info.size: 256\n"
                              "\n"
                              "llama2_7b (plugin card, libfairseq2_llama.so:llama.yaml, line 27)\n"
                              "  name: llama2_7b\n"
                              "  model_family: llama\n"
                              "  model_arch: llama2_7b\n");

    CommandResult json = fs2(dirs, "assets show tiny_real --json");
    ASSERT_EQ(json.exit_code, 0) << describe(json);
    boost::json::value shown = parse_json(json.out);
    EXPECT_EQ(shown.at("name"), "tiny_real");
    const auto& cards = shown.at("cards").as_array();
    ASSERT_EQ(cards.size(), 4u) << json.out;
    EXPECT_EQ(cards[1], (boost::json::object{{"name", "tiny@user"},
                                             {"source", "user"},
                                             {"file", (dirs.user / "cards.yaml").string()},
                                             {"line", 5},
                                             {"fields", boost::json::parse(R"({"name": "tiny@user", "model_config": {"max_seq_len": 256}})")}}));
    EXPECT_EQ(cards[3].at("source"), "plugin");

    expect_error(fs2(dirs, "assets show nope"), "'nope' is not a known asset card.");
}

// --- generate / models config with --model ----------------------------------------

class AssetsCliModelTest : public ::testing::Test {
protected:
    AssetsCliModelTest()
    {
        write_file(dirs.system / "tiny.yaml", tiny_llama_card);
        write_file(dirs.user / "cards.yaml",
                   "name: tiny_real\nbase: tiny\ncheckpoint: weights/tiny.pt\n---\nname: tiny@user\nmodel_config:\n  max_seq_len: 256\n");
        // The weights of `generate ... --random-init --seed 7`, saved where
        // the tiny_real card points (relative to its file).
        host::HostOptions options;
        options.plugin_dirs = {plugin_dir};
        options.use_plugin_path_env = false;
        options.use_default_plugin_dir = false;
        options.use_strict_plugins_env = false;
        host::Host host(options);
        host.load_plugins();
        models::ModelHub hub(host.context());
        models::ConfigOverrides tiny;
        tiny.assignments = {"model_dim=64", "num_layers=2", "num_attn_heads=4", "num_key_value_heads=2", "ffn_inner_dim=128",
                            "vocab_info.size=256", "max_seq_len=256"};
        at::manual_seed(7);
        auto model = hub.create_model("llama", "llama2_7b", tiny);
        fs::create_directories(dirs.user / "weights");
        checkpoint::save_fairseq2_checkpoint(dirs.user / "weights" / "tiny.pt", checkpoint::module_state_dict(*model));
    }

    AssetDirs dirs;
};

TEST_F(AssetsCliModelTest, GenerateWithModelLoadsTheCardsCheckpoint)
{
    const std::string tokens = " --prompt-ids '5 6' --max-new-tokens 8";
    CommandResult random = fs2(dirs, "generate --family llama --arch llama2_7b " + tiny_sets + " --set max_seq_len=256 --random-init --seed 7" + tokens);
    ASSERT_EQ(random.exit_code, 0) << describe(random);
    ASSERT_FALSE(random.out.empty());

    CommandResult by_card = fs2(dirs, "generate --model tiny_real" + tokens);
    EXPECT_EQ(by_card.exit_code, 0) << describe(by_card);
    EXPECT_EQ(by_card.out, random.out) << describe(by_card);

    // --random-init and --checkpoint replace the card's checkpoint.
    CommandResult card_random = fs2(dirs, "generate --model tiny_real --random-init --seed 7" + tokens);
    EXPECT_EQ(card_random.out, random.out) << describe(card_random);
    CommandResult card_path =
        fs2(dirs, "generate --model tiny_real --checkpoint " + shell_quote((dirs.user / "weights" / "tiny.pt").string()) + tokens);
    EXPECT_EQ(card_path.out, random.out) << describe(card_path);

    // --set merges after the cards: three layers no longer fit the checkpoint.
    CommandResult deeper = fs2(dirs, "generate --model tiny_real --set num_layers=3" + tokens);
    EXPECT_EQ(deeper.exit_code, 1) << describe(deeper);
    EXPECT_NE(deeper.err.find("decoder.layers.2.self_attn.q_proj.weight"), std::string::npos) << describe(deeper);

    CommandResult both = fs2(dirs, "generate --model tiny_real --family llama");
    EXPECT_EQ(both.exit_code, cli11_excludes_error) << describe(both);
    EXPECT_NE(both.err.find("--family excludes --model"), std::string::npos) << describe(both);
}

TEST_F(AssetsCliModelTest, ModelsConfigWithModel)
{
    CommandResult result = fs2(dirs, "models config --model tiny_real --set num_layers=4 --set vocab_info.eos_idx=7");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    boost::json::value config = parse_json(result.out);
    EXPECT_EQ(config.at("model_dim").as_int64(), 64);                  // tiny
    EXPECT_EQ(config.at("max_seq_len").as_int64(), 256);               // tiny@user
    EXPECT_EQ(config.at("num_layers").as_int64(), 4);                  // --set
    EXPECT_EQ(config.at("vocab_info").at("eos_idx").as_int64(), 7);    // --set
    EXPECT_EQ(config.at("vocab_info").at("bos_idx").as_int64(), 1);    // llama2_7b
    EXPECT_EQ(config.at("num_key_value_heads").as_int64(), 2);

    CommandResult instruct = fs2(dirs, "models config --model llama3_2_1b_instruct");
    ASSERT_EQ(instruct.exit_code, 0) << describe(instruct);
    EXPECT_EQ(parse_json(instruct.out).at("vocab_info").at("eos_idx").as_int64(), 128009);

    expect_error(fs2(dirs, "models config"), "Give a model family (models config FAMILY) or an asset card (models config --model NAME).");
    CommandResult both = fs2(dirs, "models config llama --model tiny_real");
    EXPECT_EQ(both.exit_code, cli11_excludes_error) << describe(both);
}

// --- bad cards ------------------------------------------------------------------

TEST(AssetsCliTest, BadCardsFailWithTheirMessage)
{
    AssetDirs dirs;
    write_file(dirs.system / "tiny.yaml", tiny_llama_card);
    write_file(dirs.user / "bad.yaml", R"(name: orphan
base: ghost
---
name: cycle_a
base: cycle_b
---
name: cycle_b
base: cycle_a
---
name: alien
model_family: gpt9
---
name: odd
model_family: llama
model_arch: llama9
---
name: typo
base: tiny
model_config:
  model_dimm: 64
---
name: wrong_type
base: tiny
model_config:
  _set_:
    num_layers: two
---
name: heads
base: tiny
model_config:
  num_attn_heads: 3
---
name: tiny_missing
base: tiny
checkpoint: weights/missing.pt
)");
    const std::string file = (dirs.user / "bad.yaml").string();
    const std::string archs = "'13b', '33b', '65b', '7b', 'llama2_13b', 'llama2_70b', 'llama2_7b', 'llama3_1_70b', 'llama3_1_8b', "
                              "'llama3_2_1b', 'llama3_2_3b', 'llama3_70b', 'llama3_8b'";

    expect_error(fs2(dirs, "generate --model nope"), "'nope' is not a known model.");
    expect_error(fs2(dirs, "models config --model nope"), "'nope' is not a known model.");
    expect_error(fs2(dirs, "generate --model orphan"),
                 "A transitive base asset card with name 'ghost' is not found; the 'orphan' card (" + file + ", line 1) names it as its base.");
    expect_error(fs2(dirs, "assets show cycle_a"), "The base chain of the 'cycle_a' asset card has a cycle: cycle_a -> cycle_b -> cycle_a.");
    expect_error(fs2(dirs, "models config --model alien"), "The 'alien' model has an unknown family 'gpt9'. Known families: 'llama'.");
    expect_error(fs2(dirs, "generate --model odd"),
                 "The 'llama' family of the 'odd' model does not have an architecture named 'llama9'. Known architectures: " + archs + ".");
    expect_error(fs2(dirs, "models config --model typo"),
                 "The 'model_config' overrides of the 'typo' asset card (" + file +
                     ", line 17) are invalid: the config has unknown key 'model_dimm'; valid keys are 'model_dim', 'max_seq_len', "
                     "'vocab_info', 'num_layers', 'num_attn_heads', 'num_key_value_heads', 'ffn_inner_dim', 'ffn_inner_dim_scale', "
                     "'ffn_inner_dim_multiplier', 'ffn_inner_dim_to_multiple', 'rope_theta', 'use_scaled_rope', 'rope_scaling', "
                     "'dropout_p', 'tied_embeddings', 'rms_norm_eps', 'head_dim', 'attention_bias', 'mlp_bias'.");
    expect_error(fs2(dirs, "generate --model wrong_type"),
                 "The 'model_config' overrides of the 'wrong_type' asset card (" + file +
                     ", line 22) are invalid: the field 'num_layers' must be an integer, but is a string (\"two\").");
    expect_error(fs2(dirs, "models config --model heads"),
                 "The 'model_config' overrides of the 'heads' asset card (" + file +
                     ", line 28) are invalid: the field 'num_attn_heads' of the llama config is invalid: it must divide model_dim (64), but "
                     "is 3.");
    expect_error(fs2(dirs, "generate --model tiny_missing"),
                 "The 'tiny_missing' model cannot be found at the '" + (dirs.user / "weights" / "missing.pt").string() + "' path.");
    expect_error(fs2(dirs, "generate --model llama3_2_1b_instruct"),
                 "The 'llama3_2_1b_instruct' asset card does not have a field named 'checkpoint'; set it in a 'llama3_2_1b_instruct@user' "
                 "card in the user asset folder '" + dirs.user.string() + "'.");
    expect_error(fs2(dirs, "generate --random-init"),
                 "Give the model: --model NAME (an asset card), --checkpoint PATH (its family and config are read from it), or --family "
                 "FAMILY with --random-init.");
}

TEST(AssetsCliTest, MalformedCardFilesAreWarningsUnlessStrict)
{
    AssetDirs dirs;
    write_file(dirs.user / "broken.yaml", "name: broken\nmodel_config:\n  model_dim: [64\nnum_layers: 2\n");
    write_file(dirs.user / "good.yaml", "name: good\nmodel_family: llama\nmodel_arch: llama2_7b\n");
    const std::string cause = "The asset card file '" + (dirs.user / "broken.yaml").string() + "' is not valid YAML: ";

    // Strict: one error, nothing listed.
    CommandResult strict = fs2(dirs, "assets list --strict");
    EXPECT_EQ(strict.exit_code, 1) << describe(strict);
    EXPECT_EQ(strict.out, "");
    EXPECT_NE(strict.err.find("error: " + cause), std::string::npos) << describe(strict);
    EXPECT_NE(strict.err.find("end of sequence flow not found at line 4, column 11.\n"), std::string::npos) << describe(strict);

    // By default: a warning naming the file and line, and every other card lists and loads.
    CommandResult list = fs2(dirs, "assets list");
    EXPECT_EQ(list.exit_code, 0) << describe(list);
    EXPECT_NE(list.out.find("good"), std::string::npos) << describe(list);
    EXPECT_NE(list.out.find("llama2_7b"), std::string::npos) << describe(list);
    EXPECT_EQ(list.out.find("broken"), std::string::npos) << describe(list);
    EXPECT_NE(list.err.find("[warning] " + cause), std::string::npos) << describe(list);
    EXPECT_NE(list.err.find("at line 4, column 11. Its cards are left out"), std::string::npos) << describe(list);
    CommandResult config = fs2(dirs, "models config --model good");
    EXPECT_EQ(config.exit_code, 0) << describe(config);

    AssetDirs twice;
    write_file(twice.system / "cards.yaml", "name: a\nmodel_family: llama\n---\nname: a\nmodel_family: llama\n");
    expect_error(fs2(twice, "assets list --strict"), "The asset card file '" + (twice.system / "cards.yaml").string() +
                                                         "' defines the card 'a' twice (at lines 1 and 4); card names must be unique.");
}

}  // namespace
}  // namespace fairseq2

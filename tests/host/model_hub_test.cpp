// The model hub with the llama plugin: models by card name, configs built
// along base chains (plain keys and _set_, overlays, caller overrides last),
// strict errors naming the card and the field, and checkpoints found
// through cards.

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <optional>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <torch/nn/module.h>

#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/asset_store.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;

using models::ConfigOverrides;
using models::ModelHub;
using test::EnvVar;
using test::TempDir;
using test::tiny_llama_card;
using test::write_file;

// A tiny llama2_7b body (head dim 16, 2 KV heads, vocabulary 256), as a
// system card other cards build on.
const std::vector<std::string> tiny_sets{"model_dim=64",         "num_layers=2",      "num_attn_heads=4",
                                         "num_key_value_heads=2", "ffn_inner_dim=128", "vocab_info.size=256"};

const std::string config_keys =
    "'model_dim', 'max_seq_len', 'vocab_info', 'num_layers', 'num_attn_heads', 'num_key_value_heads', 'ffn_inner_dim', "
    "'ffn_inner_dim_scale', 'ffn_inner_dim_multiplier', 'ffn_inner_dim_to_multiple', 'rope_theta', 'use_scaled_rope', 'rope_scaling', "
    "'dropout_p', 'tied_embeddings', 'rms_norm_eps', 'head_dim', 'attention_bias', 'mlp_bias'";

std::string llama_archs()
{
    return "'13b', '33b', '65b', '7b', 'llama2_13b', 'llama2_70b', 'llama2_7b', 'llama3_1_70b', 'llama3_1_8b', 'llama3_2_1b', "
           "'llama3_2_3b', 'llama3_70b', 'llama3_8b'";
}

template <typename E = Error>
std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const E& error) {
        return error.what();
    }
    return "(no error)";
}

// The llama plugin loaded, user and system asset folders in a temp folder.
class ModelHubTest : public ::testing::Test {
protected:
    ModelHubTest()
    {
        fs::create_directories(user);
        fs::create_directories(system);
        write_file(system / "tiny.yaml", tiny_llama_card);
        host::HostOptions options;
        options.plugin_dirs = {FAIRSEQ2_TEST_PLUGIN_DIR};
        options.use_plugin_path_env = false;
        options.use_default_plugin_dir = false;
        options.use_strict_plugins_env = false;
        host = std::make_unique<host::Host>(options);
        host->load_plugins();
    }

    // A hub over the cards written so far.
    std::unique_ptr<ModelHub> hub()
    {
        return std::make_unique<ModelHub>(host->context(), assets::AssetStore::load_default(host->context()));
    }

    TempDir root;
    fs::path user = root / "user";
    fs::path system = root / "system";
    EnvVar user_env{"FAIRSEQ2_USER_ASSET_DIR", user.string()};
    EnvVar system_env{"FAIRSEQ2_ASSET_DIR", system.string()};
    EnvVar cache_env{"FAIRSEQ2_CACHE_DIR", (root / "cache").string()};
    std::unique_ptr<host::Host> host;
};

TEST_F(ModelHubTest, BuiltInLlamaCards)
{
    auto models = hub();
    const auto names = models->asset_store().card_names();
    const std::vector<std::string> builtin{
        "llama2_13b",      "llama2_13b_chat", "llama2_70b",         "llama2_70b_chat",   "llama2_7b",          "llama2_7b_chat",
        "llama3_1_70b",    "llama3_1_70b_instruct", "llama3_1_8b", "llama3_1_8b_instruct", "llama3_2_1b",     "llama3_2_1b_instruct",
        "llama3_2_3b",     "llama3_2_3b_instruct", "llama3_70b",   "llama3_70b_instruct", "llama3_8b",         "llama3_8b_instruct",
        "llama_13b",       "llama_33b",       "llama_65b",          "llama_7b"};
    std::vector<std::string> expected = builtin;
    expected.push_back("tiny");
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(names, expected);

    // Every built-in card names a registered arch and builds a valid config.
    for (const auto& name : builtin) {
        auto card = models->get_card(name);
        EXPECT_EQ(card->string_field("model_family"), "llama") << name;
        EXPECT_NO_THROW(models->load_config(name)) << name;
        EXPECT_FALSE(card->find_field("checkpoint")) << name;
    }
    EXPECT_EQ(models->get_arch(*models->get_card("llama_7b")), "7b");

    boost::json::value instruct = models->load_config("llama3_2_1b_instruct");
    boost::json::value preset = models->create_config("llama", "llama3_2_1b");
    EXPECT_EQ(instruct.at("vocab_info").at("eos_idx").as_int64(), 128009);
    EXPECT_EQ(preset.at("vocab_info").at("eos_idx").as_int64(), 128001);
    instruct.as_object()["vocab_info"].as_object()["eos_idx"] = 128001;
    EXPECT_EQ(instruct, preset);
    EXPECT_EQ(models->load_config("llama2_7b_chat"), models->create_config("llama", "llama2_7b"));
    EXPECT_EQ(models->get_arch(*models->get_card("llama3_2_1b_instruct")), "llama3_2_1b");
}

TEST_F(ModelHubTest, ConfigMergesAlongTheBaseChainThenOverrides)
{
    write_file(user / "mine.yaml", R"(name: tiny@user
model_config:
  max_seq_len: 128
  num_layers: 5
---
name: tiny_set
base: tiny
model_config:
  _set_:
    num_layers: 3
    vocab_info:
      eos_idx: 5
)");
    auto models = hub();
    boost::json::value config = models->load_config("tiny_set");
    EXPECT_EQ(config.at("model_dim").as_int64(), 64);          // tiny
    EXPECT_EQ(config.at("ffn_inner_dim").as_int64(), 128);     // tiny
    EXPECT_EQ(config.at("vocab_info").at("size").as_int64(), 256);
    EXPECT_EQ(config.at("max_seq_len").as_int64(), 128);       // tiny@user
    EXPECT_EQ(config.at("num_layers").as_int64(), 3);          // tiny_set, after tiny@user
    EXPECT_EQ(config.at("vocab_info").at("eos_idx").as_int64(), 5);
    EXPECT_EQ(config.at("vocab_info").at("bos_idx").as_int64(), 1);  // llama2_7b
    EXPECT_EQ(config.at("rope_theta").as_double(), 10000.0);

    EXPECT_EQ(models->load_config("tiny").at("num_layers").as_int64(), 5);

    // The caller's tree, then its assignments, come last.
    ConfigOverrides overrides;
    overrides.tree = boost::json::parse(R"({"_set_": {"num_layers": 6}, "dropout_p": 0.0})");
    overrides.assignments = {"num_layers=4", "vocab_info.pad_idx=0"};
    config = models->load_config("tiny_set", overrides);
    EXPECT_EQ(config.at("num_layers").as_int64(), 4);
    EXPECT_EQ(config.at("dropout_p").as_double(), 0.0);
    EXPECT_EQ(config.at("vocab_info").at("pad_idx").as_int64(), 0);

    // The same through a family and an arch.
    ConfigOverrides tiny;
    tiny.assignments = tiny_sets;
    EXPECT_EQ(models->create_config("llama", "llama2_7b", tiny),
              models->load_config("tiny", ConfigOverrides{boost::json::parse(R"({"num_layers": 2, "max_seq_len": 4096})"), {}}));
    EXPECT_EQ(models->create_config("llama", "").at("max_seq_len").as_int64(), 131072);  // llama3_1_8b
}

TEST_F(ModelHubTest, UnknownModelFamilyAndArch)
{
    write_file(user / "bad.yaml", "name: alien\nmodel_family: gpt9\n---\nname: odd\nmodel_family: llama\nmodel_arch: llama9\n---\nname: plain\nnote: x\n");
    auto models = hub();
    EXPECT_EQ(error_of<LookupError>([&] { models->get_card("nope"); }), "'nope' is not a known model.");
    EXPECT_EQ(error_of<LookupError>([&] { models->load_model("nope"); }), "'nope' is not a known model.");
    EXPECT_EQ(error_of<LookupError>([&] { models->load_config("alien"); }),
              "The 'alien' model has an unknown family 'gpt9'. Known families: 'llama'.");
    EXPECT_EQ(error_of<LookupError>([&] { models->load_config("odd"); }),
              "The 'llama' family of the 'odd' model does not have an architecture named 'llama9'. Known architectures: " + llama_archs() + ".");
    EXPECT_EQ(error_of<assets::AssetError>([&] { models->load_config("plain"); }),
              "The 'plain' asset card does not have a field named 'model_family'.");
    EXPECT_EQ(error_of<LookupError>([&] { models->create_config("gpt9", ""); }),
              "'gpt9' is not a known model family. Known families: 'llama'.");
    EXPECT_EQ(error_of<LookupError>([&] { models->create_config("llama", "llama9"); }),
              "The 'llama' family does not have an architecture named 'llama9'. Known architectures: " + llama_archs() + ".");
}

TEST_F(ModelHubTest, BadOverridesNameTheCardAndTheField)
{
    write_file(user / "bad.yaml", R"(name: typo
base: tiny
model_config:
  model_dimm: 64
---
name: nested_typo
base: tiny
model_config:
  _set_:
    vocab_info:
      sise: 1
---
name: wrong_type
base: tiny
model_config:
  model_dim: sixty
---
name: heads
base: llama2_7b
model_config:
  num_attn_heads: 7
---
name: kv_heads
base: tiny
model_config:
  num_key_value_heads: 3
---
name: no_layers
base: tiny
model_config:
  num_layers: 0
---
name: combined
base: tiny
model_config:
  model_dim: 66
---
name: not_a_mapping
base: tiny
model_config: 3
)");
    auto models = hub();
    const std::string file = (user / "bad.yaml").string();
    auto card = [&](const std::string& name, int line) { return "The 'model_config' overrides of the '" + name + "' asset card (" + file + ", line " + std::to_string(line) + ") are invalid: "; };
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("typo"); }),
              card("typo", 1) + "the config has unknown key 'model_dimm'; valid keys are " + config_keys + ".");
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("nested_typo"); }),
              card("nested_typo", 6) + "the field 'vocab_info' has unknown key 'sise'; valid keys are 'size', 'unk_idx', 'bos_idx', 'eos_idx', 'pad_idx'.");
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("wrong_type"); }),
              card("wrong_type", 13) + "the field 'model_dim' must be an integer, but is a string (\"sixty\").");
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("heads"); }),
              card("heads", 18) + "the field 'num_attn_heads' of the llama config is invalid: it must divide model_dim (4096), but is 7.");
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("kv_heads"); }),
              card("kv_heads", 23) + "the field 'num_key_value_heads' of the llama config is invalid: it must divide num_attn_heads (4), but is 3.");
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("no_layers"); }),
              card("no_layers", 28) + "the field 'num_layers' of the llama config is invalid: it must be positive, but is 0.");
    // 4 heads (from tiny) do not divide 66 (from combined): the card that broke it is named.
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("combined"); }),
              card("combined", 33) + "the field 'num_attn_heads' of the llama config is invalid: it must divide model_dim (66), but is 4.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { models->load_config("not_a_mapping"); }),
              "The field 'model_config' of the 'not_a_mapping' asset card (" + file +
                  ", line 38) must be a mapping of config overrides, but is an integer (3).");

    // The caller's overrides read as they do without cards.
    ConfigOverrides bad;
    bad.assignments = {"foo=1"};
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("tiny", bad); }),
              "The config has unknown key 'foo'; valid keys are " + config_keys + ".");
    bad.assignments = {"model_dim=66"};
    EXPECT_EQ(error_of<ConfigError>([&] { models->load_config("tiny", bad); }),
              "The field 'num_attn_heads' of the llama config is invalid: it must divide model_dim (66), but is 4.");
}

TEST_F(ModelHubTest, LoadsTheCheckpointACardNames)
{
    // Weights of the tiny config, saved in fairseq2 layout next to a user card
    // that names them by a relative path.
    ConfigOverrides tiny;
    tiny.assignments = tiny_sets;
    auto models = hub();
    at::manual_seed(7);
    auto created = models->create_model("llama", "llama2_7b", tiny);
    const checkpoint::StateDict weights = checkpoint::module_state_dict(*created);
    fs::create_directories(user / "weights");
    checkpoint::save_fairseq2_checkpoint(user / "weights" / "tiny_0.pt", weights);

    write_file(user / "real.yaml", "name: tiny_real\nbase: tiny\ncheckpoint: weights/tiny_{shard_idx}.pt\nnum_shards: 1\n---\n"
                                   "name: tiny_uri\nbase: tiny\ncheckpoint: file://" + (user / "weights" / "tiny_0.pt").string() + "\n---\n"
                                   "name: tiny_missing\nbase: tiny\ncheckpoint: weights/missing.pt\n---\n"
                                   "name: tiny_sharded\nbase: tiny_real\nnum_shards: 2\n---\n"
                                   "name: tiny_remote\nbase: tiny\ncheckpoint: hg://meta-llama/tiny\n");
    models = hub();
    EXPECT_EQ(models->checkpoint_path(*models->get_card("tiny_real")), user / "weights" / "tiny_0.pt");
    for (const char* name : {"tiny_real", "tiny_uri"}) {
        auto loaded = models->load_model(name);
        const checkpoint::StateDict state = checkpoint::module_state_dict(*loaded);
        ASSERT_EQ(state.size(), weights.size()) << name;
        for (const auto& [key, tensor] : weights)
            EXPECT_TRUE(at::equal(state.at(key), tensor)) << name << " " << key;
    }
    auto bf16 = models->load_model("tiny_real", c10::kCPU, c10::kBFloat16);
    EXPECT_EQ(checkpoint::module_state_dict(*bf16).at("decoder_frontend.embed.weight").scalar_type(), c10::kBFloat16);

    EXPECT_EQ(error_of<CheckpointError>([&] { models->load_model("tiny_missing"); }),
              "The 'tiny_missing' model cannot be found at the '" + (user / "weights" / "missing.pt").string() + "' path.");
    EXPECT_EQ(error_of<CheckpointError>([&] { models->load_model("tiny_sharded"); }),
              "The 'tiny_sharded' model has 2 checkpoint shards, but this program runs with a tensor parallel size of 1; the number of "
              "shards must match it.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { models->load_model("tiny"); }),
              "The 'tiny' asset card does not have a field named 'checkpoint'; set it in a 'tiny@user' card in the user asset folder '" +
                  user.string() + "'.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { models->load_model("tiny_remote"); }),
              "The field 'checkpoint' of the 'tiny_remote' asset card (" + (user / "real.yaml").string() +
                  ", line 18) is the URI 'hg://meta-llama/tiny', which cannot be downloaded here; put the file at '" +
                  (root / "cache" / "tiny_remote" / "tiny").string() + "' and set 'checkpoint' to that path in a 'tiny_remote@user' card in "
                  "the user asset folder '" + user.string() + "'.");
    // A config the checkpoint does not fit fails in the loader, naming the file.
    ConfigOverrides deeper;
    deeper.assignments = {"num_layers=3"};
    const std::string mismatch = error_of<CheckpointError>([&] { models->load_model("tiny_real", c10::kCPU, c10::kFloat, deeper); });
    EXPECT_NE(mismatch.find("decoder.layers.2."), std::string::npos) << mismatch;
}

// A second family that claims llama's Hugging Face checkpoints (as a
// third-party fork of the llama family might).
class LlamaForkHandler final : public models::ModelHandler {
public:
    std::string family() const override { return "llama_fork"; }
    std::string config_type_name() const override { return "LlamaForkConfig"; }
    std::string default_arch() const override { return "base"; }
    std::vector<std::string> archs() const override { return {"base"}; }
    boost::json::value get_config(const std::string&) const override { return boost::json::object{}; }
    boost::json::value check_config(const boost::json::value& config) const override { return config; }
    bool supports_meta() const override { return false; }
    bool recognizes_checkpoint(const models::CheckpointDescription& checkpoint) const override
    {
        return checkpoint.hf_model_type == "llama";
    }

protected:
    std::shared_ptr<torch::nn::Module> do_create(const boost::json::value&, c10::Device, c10::ScalarType) const override
    {
        throw Error("not used");
    }
    std::shared_ptr<torch::nn::Module> do_load_from_checkpoint(checkpoint::LoadedCheckpoint, const boost::json::value&, c10::Device,
                                                               c10::ScalarType) const override
    {
        throw Error("not used");
    }
};

// Detection asks every family; a checkpoint two of them claim is an error
// that names both.
TEST_F(ModelHubTest, TwoFamiliesClaimingOneCheckpointIsAnErrorNamingBoth)
{
    const fs::path dir = root / "hf_llama";
    fs::create_directories(dir);
    write_file(dir / "config.json", R"({"model_type": "llama"})");
    auto models = hub();
    EXPECT_EQ(models->detect_family(dir), "llama");

    host->context().get_registry<models::ModelHandler>().register_("llama_fork", std::make_shared<LlamaForkHandler>());
    EXPECT_EQ(error_of<LookupError>([&] { models->detect_family(dir); }),
              "The checkpoint '" + dir.string() + "' is claimed by several model families ('llama', 'llama_fork'); give one with --family.");
}

}  // namespace
}  // namespace fairseq2

// The qwen family through the real plugin: its presets against fairseq2's
// table (shared/docs/fairseq2-families.md), and the Hugging Face checkpoints
// of tests/reference/make_hf_decoders.py (a tied Qwen2 with q/k/v biases as
// save_pretrained, safetensors' save_model and sharded save_pretrained write
// it; a Qwen3 with q/k norms and a head_dim of its own) against that
// script's float64 logits and greedy continuations.
//
// Tolerances: max abs diff 1e-4 (float32 against float64); greedy ids
// exact; an exported checkpoint reloads to logits within 1e-6 of the
// original's.

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/generation/generator.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/models/hugging_face.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "plugins/hf_decoder_support.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using models::ModelHandler;
using models::TransformerDecoderModel;
using test::CommandResult;
using test::describe;
using test::shell_quote;
using test::TempDir;
using namespace test::hf_decoders;

constexpr double tolerance = 1e-4;
constexpr double export_tolerance = 1e-6;
constexpr std::int64_t greedy_steps = 32;
constexpr std::int64_t eos = 2;  // eos_token_id of the reference configs

// --- presets ---------------------------------------------------------------------

struct PresetRow {
    const char* arch;
    std::int64_t dim, seq, vocab;
    bool tied;
    std::int64_t layers, heads, kv;
    std::optional<std::int64_t> head_dim;
    bool qkv_bias, qk_norm;
    std::int64_t ffn;
};

// fairseq2's table; qwen25_1_5b and qwen25_3b tied.
const std::vector<PresetRow> rows{
    {"qwen25_1_5b", 1536, 32768, 151936, true, 28, 12, 2, std::nullopt, true, false, 8960},
    {"qwen25_3b", 2048, 32768, 151936, true, 36, 16, 2, std::nullopt, true, false, 11008},
    {"qwen25_7b", 3584, 32768, 152064, false, 28, 28, 4, std::nullopt, true, false, 18944},
    {"qwen25_14b", 5120, 32768, 152064, false, 48, 40, 8, std::nullopt, true, false, 13824},
    {"qwen25_32b", 5120, 32768, 152064, false, 64, 40, 8, std::nullopt, true, false, 27648},
    {"qwen3_0.6b", 1024, 40960, 151936, true, 28, 16, 8, 128, false, true, 3072},
    {"qwen3_1.7b", 2048, 40960, 151936, true, 28, 16, 8, 128, false, true, 6144},
    {"qwen3_4b", 2560, 40960, 151936, true, 36, 32, 8, 128, false, true, 9728},
    {"qwen3_8b", 4096, 40960, 151936, false, 36, 32, 8, 128, false, true, 12288},
    {"qwen3_14b", 5120, 40960, 151936, false, 40, 40, 8, 128, false, true, 17408},
    {"qwen3_32b", 5120, 40960, 151936, false, 64, 64, 8, 128, false, true, 25600},
};

TEST(QwenPresetsTest, HandlerDescribesTheFamily)
{
    auto qwen = handler("qwen");
    EXPECT_EQ(qwen->family(), "qwen");
    EXPECT_EQ(qwen->config_type_name(), "QwenConfig");
    EXPECT_EQ(qwen->default_arch(), "qwen25_7b");
    EXPECT_FALSE(qwen->supports_meta());
    EXPECT_EQ(qwen->export_formats(), std::vector<std::string>{"hf"});
    std::vector<std::string> expected;
    for (const auto& row : rows)
        expected.emplace_back(row.arch);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(qwen->archs(), expected);
}

TEST(QwenPresetsTest, EveryPresetMatchesTheReferenceTable)
{
    for (const auto& row : rows) {
        SCOPED_TRACE(row.arch);
        json::value config = handler("qwen")->get_config(row.arch);
        EXPECT_EQ(config.at("model_dim").as_int64(), row.dim);
        EXPECT_EQ(config.at("max_seq_len").as_int64(), row.seq);
        EXPECT_EQ(config.at("vocab_size").as_int64(), row.vocab);
        EXPECT_EQ(config.at("tied_embeddings").as_bool(), row.tied);
        EXPECT_EQ(config.at("num_layers").as_int64(), row.layers);
        EXPECT_EQ(config.at("num_attn_heads").as_int64(), row.heads);
        EXPECT_EQ(config.at("num_key_value_heads").as_int64(), row.kv);
        if (row.head_dim)
            EXPECT_EQ(config.at("head_dim").as_int64(), *row.head_dim);
        else
            EXPECT_TRUE(config.at("head_dim").is_null());
        // Every qwen preset has heads of 128.
        EXPECT_EQ(row.head_dim.value_or(row.dim / row.heads), 128);
        EXPECT_EQ(config.at("qkv_proj_bias").as_bool(), row.qkv_bias);
        EXPECT_EQ(config.at("q_norm").as_bool(), row.qk_norm);
        EXPECT_EQ(config.at("k_norm").as_bool(), row.qk_norm);
        EXPECT_EQ(config.at("ffn_inner_dim").as_int64(), row.ffn);
        EXPECT_DOUBLE_EQ(config.at("rope_theta").as_double(), 1e6);
        EXPECT_DOUBLE_EQ(config.at("dropout_p").as_double(), 0.0);
        EXPECT_DOUBLE_EQ(config.at("rms_norm_eps").as_double(), 1e-6);
        EXPECT_TRUE(config.at("eos_idx").is_null());
    }
}

TEST(QwenPresetsTest, EveryPresetSurvivesAJsonRoundTrip)
{
    for (const auto& arch : handler("qwen")->archs()) {
        SCOPED_TRACE(arch);
        json::value config = handler("qwen")->get_config(arch);
        EXPECT_EQ(handler("qwen")->check_config(json::parse(json::serialize(config))), config);
    }
}

TEST(QwenPresetsTest, ValidationNamesTheField)
{
    auto expect_error = [&](const char* arch, const char* key, json::value value, const std::string& message) {
        json::value config = handler("qwen")->get_config(arch);
        config.as_object()[key] = std::move(value);
        try {
            handler("qwen")->check_config(config);
            ADD_FAILURE() << "expected ConfigError for " << key;
        } catch (const ConfigError& error) {
            EXPECT_EQ(error.what(), message);
        }
    };
    expect_error("qwen25_7b", "num_key_value_heads", 5,
                 "The field 'num_key_value_heads' of the qwen config is invalid: it must divide num_attn_heads (28), but is 5.");
    expect_error("qwen25_7b", "num_attn_heads", 36,
                 "The field 'num_attn_heads' of the qwen config is invalid: it must divide model_dim (3584), but is 36.");
    expect_error("qwen3_8b", "head_dim", 0,
                 "The field 'head_dim' of the qwen config is invalid: it must be positive and even for rotary encoding, but is 0.");
    expect_error("qwen25_7b", "model_dim", 0, "The field 'model_dim' of the qwen config is invalid: it must be positive, but is 0.");
    expect_error("qwen25_7b", "eos_idx", 152064,
                 "The field 'eos_idx' of the qwen config is invalid: it must be within the vocabulary (0 to 152063), but is 152064.");
}

// --- Hugging Face checkpoints ---------------------------------------------------

class QwenCheckpointTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        ASSERT_NO_THROW(dir_ = reference_files());
        qwen2_ = read_expected(dir_, "qwen2");
        qwen3_ = read_expected(dir_, "qwen3");
        ASSERT_GT(qwen2_.logits.std().item<double>(), 0.1) << "degenerate reference logits say little";
        ASSERT_GT(qwen3_.logits.std().item<double>(), 0.1) << "degenerate reference logits say little";
    }

    static fs::path path(const std::string& name) { return dir_ / name; }

    static const Expected& expected(const std::string& name) { return name.starts_with("qwen3") ? qwen3_ : qwen2_; }

    static void check_logits(TransformerDecoderModel& model, const Expected& reference, const std::string& what)
    {
        at::Tensor logits = forward(model, reference.tokens);
        ASSERT_EQ(logits.sizes(), reference.logits.sizes()) << what;
        const double diff = max_abs_diff(logits, reference.logits);
        std::printf("[ measured ] %s: max abs diff %.3g\n", what.c_str(), diff);
        EXPECT_LE(diff, tolerance) << what;
    }

    static std::string config_error(const json::object& config)
    {
        TempDir dir;
        test::write_file(dir / "config.json", json::serialize(config));
        try {
            handler("qwen")->config_from_checkpoint(dir.path());
        } catch (const ConfigError& error) {
            std::string message = error.what();
            // The temporary folder's name varies.
            const std::string file = (dir / "config.json").string();
            if (auto at = message.find(file); at != std::string::npos)
                message.replace(at, file.size(), "FILE");
            return message;
        }
        return "(no error)";
    }

    static inline fs::path dir_;
    static inline Expected qwen2_;
    static inline Expected qwen3_;
};

TEST_F(QwenCheckpointTest, ConfigJsonGivesTheConfig)
{
    std::optional<json::value> qwen2 = handler("qwen")->config_from_checkpoint(path("qwen2"));
    ASSERT_TRUE(qwen2.has_value());
    EXPECT_EQ(*qwen2, json::parse(R"({"model_dim": 64, "max_seq_len": 128, "vocab_size": 160, "tied_embeddings": true,
        "num_layers": 2, "num_attn_heads": 4, "num_key_value_heads": 2, "head_dim": null, "qkv_proj_bias": true,
        "q_norm": false, "k_norm": false, "ffn_inner_dim": 96, "rope_theta": 1000000.0, "dropout_p": 0.0,
        "rms_norm_eps": 1e-06, "eos_idx": 2})"));

    std::optional<json::value> qwen3 = handler("qwen")->config_from_checkpoint(path("qwen3"));
    ASSERT_TRUE(qwen3.has_value());
    EXPECT_EQ(*qwen3, json::parse(R"({"model_dim": 64, "max_seq_len": 128, "vocab_size": 160, "tied_embeddings": false,
        "num_layers": 2, "num_attn_heads": 4, "num_key_value_heads": 2, "head_dim": 24, "qkv_proj_bias": false,
        "q_norm": true, "k_norm": true, "ffn_inner_dim": 96, "rope_theta": 1000000.0, "dropout_p": 0.0,
        "rms_norm_eps": 1e-06, "eos_idx": 2})"));

    // Another family's config.json is not qwen's, and not an error.
    EXPECT_FALSE(handler("qwen")->config_from_checkpoint(path("mistral")).has_value());
    // Nothing describes a folder without config.json.
    EXPECT_FALSE(handler("qwen")->config_from_checkpoint(path("expected")).has_value());
}

TEST_F(QwenCheckpointTest, OnlyQwenRecognisesQwenCheckpoints)
{
    for (const char* name : {"qwen2", "qwen2_save_model", "qwen2_sharded", "qwen3"}) {
        SCOPED_TRACE(name);
        EXPECT_EQ(models::ModelHub(plugin_host()->context()).detect_family(path(name)), "qwen");

        std::optional<models::hf::Config> hf = models::hf::read_config(path(name));
        ASSERT_TRUE(hf.has_value());
        models::CheckpointDescription description;
        description.path = path(name);
        description.directory = checkpoint::checkpoint_directory(path(name));
        description.hf_config = hf->json;
        description.hf_model_type = hf->model_type;
        std::vector<std::string> recognising;
        auto handlers = plugin_host()->context().get_registry<ModelHandler>();
        for (const auto& family : handlers.keys())
            if (handlers.get(family)->recognizes_checkpoint(description))
                recognising.push_back(family);
        EXPECT_EQ(recognising, std::vector<std::string>{"qwen"});
    }
    models::CheckpointDescription mistral;
    mistral.hf_model_type = "mistral";
    EXPECT_FALSE(handler("qwen")->recognizes_checkpoint(mistral));
}

TEST_F(QwenCheckpointTest, EveryLayoutMatchesPython)
{
    for (const char* name : {"qwen2", "qwen2_save_model", "qwen2_sharded", "qwen3"}) {
        SCOPED_TRACE(name);
        Loaded loaded = load(path(name));
        EXPECT_EQ(loaded.family, "qwen");
        check_logits(*loaded.model, expected(name), name);
        EXPECT_EQ(loaded.model->vocab_info().size, 160);
        EXPECT_EQ(loaded.model->vocab_info().eos_idx, std::optional<std::int64_t>(eos));
        EXPECT_FALSE(loaded.model->vocab_info().bos_idx.has_value());
    }
}

// An embedding application loads a checkpoint by path alone.
TEST_F(QwenCheckpointTest, ModelHubLoadsFromPathWithItsDetection)
{
    models::ModelHub hub(plugin_host()->context());
    EXPECT_EQ(hub.detect_family(path("qwen3")), "qwen");
    auto model = std::dynamic_pointer_cast<TransformerDecoderModel>(hub.load_model_from_path(path("qwen3"), at::kCPU, at::kFloat));
    ASSERT_NE(model, nullptr);
    check_logits(*model, expected("qwen3"), "qwen3 through ModelHub");

    // A folder whose config.json no family claims names what was seen.
    test::TempDir dir;
    test::write_file(dir.path() / "config.json", R"({"model_type": "gpt2"})");
    try {
        hub.detect_family(dir.path());
        FAIL() << "a gpt2 config.json is no registered family's";
    } catch (const LookupError& error) {
        EXPECT_NE(std::string(error.what()).find("a config.json of model_type 'gpt2'"), std::string::npos) << error.what();
    }
}

TEST_F(QwenCheckpointTest, TiedEmbeddingsShareOneTensor)
{
    for (const char* name : {"qwen2", "qwen2_save_model"}) {
        SCOPED_TRACE(name);
        Loaded loaded = load(path(name));
        auto params = loaded.model->named_parameters();
        ASSERT_NE(params.find("final_proj.weight"), nullptr);
        ASSERT_NE(params.find("decoder_frontend.embed.weight"), nullptr);
        EXPECT_TRUE(params.find("final_proj.weight")->is_same(*params.find("decoder_frontend.embed.weight")));
    }
    // Untied, the projection is its own tensor.
    Loaded qwen3 = load(path("qwen3"));
    auto params = qwen3.model->named_parameters();
    EXPECT_FALSE(params.find("final_proj.weight")->is_same(*params.find("decoder_frontend.embed.weight")));
}

TEST_F(QwenCheckpointTest, GreedyDecodingRunsTheFusedStepAndMatchesPython)
{
    for (const char* name : {"qwen2", "qwen3"}) {
        SCOPED_TRACE(name);
        Loaded loaded = load(path(name));
        GreedyRun run = greedy(*loaded.model, expected(name).tokens, greedy_steps);
        EXPECT_TRUE(at::equal(run.ids, expected(name).greedy)) << "got\n" << run.ids << "\nexpected\n" << expected(name).greedy;
        EXPECT_EQ(run.counts.fused, greedy_steps - 1);
        EXPECT_EQ(run.counts.modules, 0);
    }
}

TEST_F(QwenCheckpointTest, ExportedCheckpointsReloadToTheSameModel)
{
    for (const char* name : {"qwen3", "qwen2"}) {
        SCOPED_TRACE(name);
        TempDir out;
        Loaded loaded = load(path(name));
        handler("qwen")->export_checkpoint(*loaded.model, loaded.config, "hf", out / "hf");

        json::object written = json::parse(test::read_file(out / "hf" / "config.json")).as_object();
        const bool qwen3 = std::string(name) == "qwen3";
        EXPECT_EQ(written.at("model_type"), qwen3 ? "qwen3" : "qwen2");
        EXPECT_EQ(written.at("architectures"), (json::array{qwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM"}));
        EXPECT_EQ(written.at("head_dim").as_int64(), qwen3 ? 24 : 16);
        EXPECT_EQ(written.at("attention_bias").as_bool(), !qwen3);
        EXPECT_EQ(written.at("tie_word_embeddings").as_bool(), !qwen3);
        EXPECT_EQ(written.at("use_sliding_window").as_bool(), false);
        EXPECT_EQ(written.at("eos_token_id").as_int64(), eos);
        EXPECT_EQ(written.at("torch_dtype"), "float32");

        // The same tensors under the same names (no lm_head when tied).
        checkpoint::StateDict original = checkpoint::read_safetensors(path(name) / "model.safetensors").tensors;
        checkpoint::StateDict exported = checkpoint::read_safetensors(out / "hf" / "model.safetensors").tensors;
        EXPECT_EQ(exported.size(), original.size());
        for (const auto& [key, tensor] : original) {
            ASSERT_TRUE(exported.contains(key)) << key;
            EXPECT_TRUE(at::equal(exported.at(key), tensor)) << key;
        }

        Loaded again = load(out / "hf");
        EXPECT_EQ(again.config, loaded.config);
        const double diff = max_abs_diff(forward(*again.model, expected(name).tokens), forward(*loaded.model, expected(name).tokens));
        EXPECT_LE(diff, export_tolerance);
    }
}

TEST_F(QwenCheckpointTest, ConfigFieldsQwenCannotHonourAreErrors)
{
    const json::object base = json::parse(test::read_file(path("qwen2") / "config.json")).as_object();

    json::object config = base;
    config["use_sliding_window"] = true;
    EXPECT_EQ(config_error(config), "The field 'use_sliding_window' of 'FILE' is true, but qwen models support only false.");

    config = base;
    config["rope_scaling"] = json::parse(R"({"rope_type": "yarn", "factor": 4.0})");
    std::string message = config_error(config);
    EXPECT_EQ(message.rfind("The field 'rope_scaling' of 'FILE' is ", 0), 0u) << message;
    EXPECT_NE(message.find("but qwen models support no RoPE scaling."), std::string::npos) << message;

    config = base;
    config["hidden_act"] = "gelu";
    EXPECT_EQ(config_error(config), "The field 'hidden_act' of 'FILE' is \"gelu\", but qwen models support only \"silu\".");

    config = base;
    config["mlp_bias"] = true;
    EXPECT_EQ(config_error(config), "The field 'mlp_bias' of 'FILE' is true, but qwen models support only false.");

    config = base;
    config.erase("hidden_size");
    EXPECT_EQ(config_error(config), "The file 'FILE' has no field 'hidden_size', which a qwen config needs.");
}

TEST_F(QwenCheckpointTest, UntiedCheckpointWithoutLmHeadIsAMissingKey)
{
    TempDir dir;
    json::object config = json::parse(test::read_file(path("qwen2") / "config.json")).as_object();
    config["tie_word_embeddings"] = false;
    test::write_file(dir / "config.json", json::serialize(config));
    fs::copy_file(path("qwen2") / "model.safetensors", dir / "model.safetensors");
    try {
        load(dir.path());
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_NE(std::string(error.what()).find("missing keys (1):\n    final_proj.weight"), std::string::npos) << error.what();
    }
}

// --- through the `fairseq2` program -----------------------------------------

TEST_F(QwenCheckpointTest, GenerateThroughTheCliMatchesPython)
{
    for (const char* name : {"qwen2", "qwen3"}) {
        SCOPED_TRACE(name);
        const Expected& reference = expected(name);
        CommandResult result = fs2("generate --checkpoint " + shell_quote(path(name).string()) + " --prompt-ids '" +
                                   ids_text(reference.tokens[0]) + "' --max-new-tokens 8 --greedy");
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        // The CLI stops after the model's EOS (eos_token_id 2).
        std::vector<std::int64_t> want;
        for (std::int64_t i = 0; i < 8; ++i) {
            want.push_back(reference.greedy[0][i].item<std::int64_t>());
            if (want.back() == eos)
                break;
        }
        std::istringstream stream(result.out);
        std::vector<std::int64_t> got;
        for (std::int64_t id = 0; stream >> id;)
            got.push_back(id);
        EXPECT_EQ(got, want) << describe(result);
    }
}

TEST(QwenCliTest, ModelsListListsQwen)
{
    CommandResult result = fs2("models list");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_NE(result.out.find("\nqwen            qwen            qwen25_7b\n"), std::string::npos) << describe(result);

    result = fs2("models archs qwen");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    std::vector<std::string> expected;
    for (const auto& row : rows)
        expected.emplace_back(row.arch);
    std::sort(expected.begin(), expected.end());
    std::string lines;
    for (const auto& arch : expected)
        lines += arch + "\n";
    EXPECT_EQ(result.out, lines);
}

}  // namespace
}  // namespace fairseq2

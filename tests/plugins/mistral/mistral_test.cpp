// The mistral family through the real plugin: the Hugging Face checkpoint
// of tests/reference/make_hf_decoders.py (a sliding window of 8 keys, so
// positions 8 and later of its 20-token prompts see the window) and the same
// weights in Mistral's reference layout, against that script's float64
// logits and greedy continuations: in one pass, in prefill chunks, token by
// token, greedily, after export, and with the window removed.
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
constexpr std::int64_t window = 8;  // sliding_window of the reference config
constexpr std::int64_t eos = 2;     // eos_token_id of the reference config

std::shared_ptr<TransformerDecoderModel> load_with(const fs::path& checkpoint, const json::value& config)
{
    auto model = std::dynamic_pointer_cast<TransformerDecoderModel>(handler("mistral")->load_from_path(checkpoint, config, at::kCPU, at::kFloat));
    if (!model)
        throw std::runtime_error("The mistral handler did not return a TransformerDecoderModel.");
    return model;
}

// The HF weights in Mistral's reference layout (mistral-inference's
// consolidated checkpoint): reference names, q/k rows in consecutive pairs.
checkpoint::StateDict reference_layout(const checkpoint::StateDict& hf, std::int64_t num_heads, std::int64_t num_kv_heads)
{
    const std::vector<std::pair<std::string, std::string>> layer_names{
        {"self_attn.q_proj.", "attention.wq."},        {"self_attn.k_proj.", "attention.wk."},
        {"self_attn.v_proj.", "attention.wv."},        {"self_attn.o_proj.", "attention.wo."},
        {"input_layernorm.", "attention_norm."},       {"post_attention_layernorm.", "ffn_norm."},
        {"mlp.gate_proj.", "feed_forward.w1."},        {"mlp.down_proj.", "feed_forward.w2."},
        {"mlp.up_proj.", "feed_forward.w3."},
    };
    const std::string layers = "model.layers.";
    checkpoint::StateDict reference;
    for (const auto& [key, tensor] : hf) {
        std::string name = key;
        if (key == "model.embed_tokens.weight") {
            name = "tok_embeddings.weight";
        } else if (key == "model.norm.weight") {
            name = "norm.weight";
        } else if (key == "lm_head.weight") {
            name = "output.weight";
        } else if (key.starts_with(layers)) {
            const std::string rest = key.substr(layers.size());
            const std::size_t dot = rest.find('.');
            std::string sub = rest.substr(dot + 1);
            for (const auto& [from, to] : layer_names)
                if (sub.starts_with(from)) {
                    sub = to + sub.substr(from.size());
                    break;
                }
            name = "layers." + rest.substr(0, dot) + "." + sub;
        }
        at::Tensor value = tensor;
        if (name.ends_with("attention.wq.weight"))
            value = models::hf::rotate_half_to_pairs(value, num_heads);
        else if (name.ends_with("attention.wk.weight"))
            value = models::hf::rotate_half_to_pairs(value, num_kv_heads);
        reference.emplace(name, value.contiguous());
    }
    return reference;
}

class MistralTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        ASSERT_NO_THROW(dir_ = reference_files());
        const Expected expected = read_expected(dir_, "mistral");
        tokens_ = expected.tokens;
        logits_ = expected.logits;
        greedy_ = expected.greedy;
        ASSERT_GT(logits_.std().item<double>(), 0.1) << "degenerate reference logits say little";
    }

    static fs::path path(const std::string& name) { return dir_ / name; }

    static void check_logits(TransformerDecoderModel& model, const std::string& what)
    {
        at::Tensor logits = forward(model, tokens_);
        ASSERT_EQ(logits.sizes(), logits_.sizes()) << what;
        const double diff = max_abs_diff(logits, logits_);
        std::printf("[ measured ] %s: max abs diff %.3g\n", what.c_str(), diff);
        EXPECT_LE(diff, tolerance) << what;
    }

    static std::string config_error(const json::object& config)
    {
        TempDir dir;
        test::write_file(dir / "config.json", json::serialize(config));
        try {
            handler("mistral")->config_from_checkpoint(dir.path());
        } catch (const ConfigError& error) {
            std::string message = error.what();
            const std::string file = (dir / "config.json").string();
            if (auto at = message.find(file); at != std::string::npos)
                message.replace(at, file.size(), "FILE");
            return message;
        }
        return "(no error)";
    }

    static inline fs::path dir_;
    static inline at::Tensor tokens_;  // (2, 20) int64
    static inline at::Tensor logits_;  // (2, 20, 160) float64
    static inline at::Tensor greedy_;  // (2, 32) int64
};

TEST_F(MistralTest, HandlerDescribesTheFamily)
{
    auto mistral = handler("mistral");
    EXPECT_EQ(mistral->family(), "mistral");
    EXPECT_EQ(mistral->config_type_name(), "MistralConfig");
    EXPECT_EQ(mistral->default_arch(), "7b");
    EXPECT_EQ(mistral->archs(), std::vector<std::string>{"7b"});
    EXPECT_EQ(mistral->export_formats(), std::vector<std::string>{"hf"});
    // fairseq2's MistralConfig defaults, and ours for Hugging Face checkpoints.
    EXPECT_EQ(mistral->get_config("7b"), json::parse(R"({"model_dim": 4096, "max_seq_len": 8192, "vocab_size": 32000,
        "pad_idx": null, "attn_window_len": 4096, "num_layers": 32, "num_attn_heads": 32, "num_key_value_heads": 8,
        "ffn_inner_dim": 14336, "dropout_p": 0.0, "head_dim": null, "rope_theta": 10000.0, "rms_norm_eps": 1e-05,
        "bos_idx": 1, "eos_idx": 2})"));

    json::value config = mistral->get_config("7b");
    config.as_object()["num_key_value_heads"] = 5;
    try {
        mistral->check_config(config);
        ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()),
                  "The field 'num_key_value_heads' of the mistral config is invalid: it must divide num_attn_heads (32), but is 5.");
    }
    config = mistral->get_config("7b");
    config.as_object()["attn_window_len"] = 0;
    EXPECT_THROW(mistral->check_config(config), ConfigError);
}

TEST_F(MistralTest, ConfigJsonGivesTheConfig)
{
    std::optional<json::value> config = handler("mistral")->config_from_checkpoint(path("mistral"));
    ASSERT_TRUE(config.has_value());
    EXPECT_EQ(*config, json::parse(R"({"model_dim": 64, "max_seq_len": 128, "vocab_size": 160, "pad_idx": null,
        "attn_window_len": 8, "num_layers": 2, "num_attn_heads": 4, "num_key_value_heads": 2, "ffn_inner_dim": 96,
        "dropout_p": 0.0, "head_dim": null, "rope_theta": 10000.0, "rms_norm_eps": 1e-05, "bos_idx": 1, "eos_idx": 2})"));

    // Another family's config.json is not mistral's, and not an error.
    EXPECT_FALSE(handler("mistral")->config_from_checkpoint(path("qwen2")).has_value());
    EXPECT_FALSE(handler("mistral")->config_from_checkpoint(path("expected")).has_value());

    EXPECT_EQ(models::ModelHub(plugin_host()->context()).detect_family(path("mistral")), "mistral");

    models::CheckpointDescription description;
    description.path = path("mistral");
    description.directory = path("mistral");
    description.hf_model_type = "mistral";
    EXPECT_TRUE(handler("mistral")->recognizes_checkpoint(description));
    description.hf_model_type = "qwen2";
    EXPECT_FALSE(handler("mistral")->recognizes_checkpoint(description));
}

TEST_F(MistralTest, ConfigFieldsMistralCannotHonourAreErrors)
{
    const json::object base = json::parse(test::read_file(path("mistral") / "config.json")).as_object();

    json::object config = base;
    config["tie_word_embeddings"] = true;
    EXPECT_EQ(config_error(config), "The field 'tie_word_embeddings' of 'FILE' is true, but mistral models support only false.");

    config = base;
    config["attention_bias"] = true;
    EXPECT_EQ(config_error(config), "The field 'attention_bias' of 'FILE' is true, but mistral models support only false.");

    config = base;
    config["hidden_act"] = "gelu";
    EXPECT_EQ(config_error(config), "The field 'hidden_act' of 'FILE' is \"gelu\", but mistral models support only \"silu\".");

    config = base;
    config["rope_scaling"] = json::parse(R"({"rope_type": "linear", "factor": 2.0})");
    const std::string message = config_error(config);
    EXPECT_EQ(message.rfind("The field 'rope_scaling' of 'FILE' is ", 0), 0u) << message;

    // sliding_window null: no window.
    config = base;
    config["sliding_window"] = nullptr;
    TempDir dir;
    test::write_file(dir / "config.json", json::serialize(config));
    EXPECT_TRUE(handler("mistral")->config_from_checkpoint(dir.path()).value().at("attn_window_len").is_null());
}

TEST_F(MistralTest, OnePassMatchesPython)
{
    Loaded loaded = load(path("mistral"));
    check_logits(*loaded.model, "mistral");
    const VocabularyInfo& vocab = loaded.model->vocab_info();
    EXPECT_EQ(vocab.size, 160);
    EXPECT_EQ(vocab.unk_idx, std::optional<std::int64_t>(0));
    EXPECT_EQ(vocab.bos_idx, std::optional<std::int64_t>(1));
    EXPECT_EQ(vocab.eos_idx, std::optional<std::int64_t>(eos));
}

TEST_F(MistralTest, ReferenceLayoutMatchesPython)
{
    TempDir dir;
    std::optional<json::value> config = handler("mistral")->config_from_checkpoint(path("mistral"));
    ASSERT_TRUE(config.has_value());
    checkpoint::StateDict hf = checkpoint::read_safetensors(path("mistral") / "model.safetensors", /*mmap=*/false).tensors;
    checkpoint::write_safetensors(dir / "consolidated.safetensors", reference_layout(hf, 4, 2));
    auto model = load_with(dir.path(), *config);
    check_logits(*model, "reference layout");
}

TEST_F(MistralTest, ChunkedPrefillMatchesPython)
{
    Loaded loaded = load(path("mistral"));
    c10::InferenceMode guard;
    const std::int64_t length = tokens_.size(1);
    nn::IncrementalStateBag bag(length);
    for (std::int64_t first = 0; first < length; first += 5) {
        SCOPED_TRACE("chunk at " + std::to_string(first));
        at::Tensor logits = loaded.model->forward(tokens_.narrow(1, first, 5).contiguous(), nullptr, &bag);
        bag.increment_step_nr(5);
        const double diff = max_abs_diff(logits, logits_.narrow(1, first, 5));
        std::printf("[ measured ] chunk at %ld: max abs diff %.3g\n", static_cast<long>(first), diff);
        EXPECT_LE(diff, tolerance);
    }
}

TEST_F(MistralTest, TokenByTokenRunsTheFusedStepAndMatchesPython)
{
    Loaded loaded = load(path("mistral"));
    c10::InferenceMode guard;
    const std::int64_t length = tokens_.size(1);
    nn::IncrementalStateBag bag(length);
    double worst = 0.0;
    for (std::int64_t t = 0; t < length; ++t) {
        SCOPED_TRACE("position " + std::to_string(t));
        at::Tensor logits = loaded.model->decode_step(tokens_.narrow(1, t, 1).contiguous(), bag).clone();
        bag.increment_step_nr();
        const double diff = max_abs_diff(logits, logits_.select(1, t));
        worst = std::max(worst, diff);
        EXPECT_LE(diff, tolerance);
    }
    std::printf("[ measured ] token by token: max abs diff %.3g\n", worst);
    const models::DecodeStepCounts counts = loaded.model->decode_step_counts(bag);
    EXPECT_EQ(counts.fused, length);
    EXPECT_EQ(counts.modules, 0);
}

TEST_F(MistralTest, GreedyDecodingRunsTheFusedStepAndMatchesPython)
{
    Loaded loaded = load(path("mistral"));
    EXPECT_EQ(loaded.family, "mistral");
    GreedyRun run = greedy(*loaded.model, tokens_, greedy_steps);
    EXPECT_TRUE(at::equal(run.ids, greedy_)) << "got\n" << run.ids << "\nexpected\n" << greedy_;
    EXPECT_EQ(run.counts.fused, greedy_steps - 1);
    EXPECT_EQ(run.counts.modules, 0);
}

TEST_F(MistralTest, TheWindowMatters)
{
    std::optional<json::value> config = handler("mistral")->config_from_checkpoint(path("mistral"));
    ASSERT_TRUE(config.has_value());
    config->as_object()["attn_window_len"] = nullptr;
    auto model = load_with(path("mistral"), handler("mistral")->check_config(*config));
    at::Tensor logits = forward(*model, tokens_);
    // Positions before the window's reach see every key either way.
    EXPECT_LE(max_abs_diff(logits.narrow(1, 0, window), logits_.narrow(1, 0, window)), tolerance);
    // Later ones differ: by more than 4 at every position in the reference.
    for (std::int64_t n = 0; n < tokens_.size(0); ++n)
        for (std::int64_t t = window; t < tokens_.size(1); ++t)
            EXPECT_GT(max_abs_diff(logits[n][t], logits_[n][t]), 0.1) << "prompt " << n << ", position " << t;
}

TEST_F(MistralTest, ExportedCheckpointReloadsToTheSameModel)
{
    TempDir out;
    Loaded loaded = load(path("mistral"));
    handler("mistral")->export_checkpoint(*loaded.model, loaded.config, "hf", out / "hf");

    json::object written = json::parse(test::read_file(out / "hf" / "config.json")).as_object();
    json::object original = json::parse(test::read_file(path("mistral") / "config.json")).as_object();
    for (const char* key : {"architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                            "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                            "sliding_window", "tie_word_embeddings", "hidden_act", "bos_token_id", "eos_token_id", "torch_dtype"})
        EXPECT_EQ(written.at(key), original.at(key)) << key;

    // The same tensors under the same names, q/k back in rotate-half order.
    checkpoint::StateDict before = checkpoint::read_safetensors(path("mistral") / "model.safetensors").tensors;
    checkpoint::StateDict after = checkpoint::read_safetensors(out / "hf" / "model.safetensors").tensors;
    EXPECT_EQ(after.size(), before.size());
    for (const auto& [key, tensor] : before) {
        ASSERT_TRUE(after.contains(key)) << key;
        EXPECT_TRUE(at::equal(after.at(key), tensor)) << key;
    }

    Loaded again = load(out / "hf");
    EXPECT_EQ(again.config, loaded.config);
    EXPECT_LE(max_abs_diff(forward(*again.model, tokens_), forward(*loaded.model, tokens_)), export_tolerance);
}

// --- through the `fairseq2` program -----------------------------------------

TEST_F(MistralTest, GenerateThroughTheCliMatchesPython)
{
    CommandResult result = fs2("generate --checkpoint " + shell_quote(path("mistral").string()) + " --prompt-ids '" +
                               ids_text(tokens_[0]) + "' --max-new-tokens 8 --greedy");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    // The CLI stops after the model's EOS (eos_token_id 2).
    std::vector<std::int64_t> want;
    for (std::int64_t i = 0; i < 8; ++i) {
        want.push_back(greedy_[0][i].item<std::int64_t>());
        if (want.back() == eos)
            break;
    }
    std::istringstream stream(result.out);
    std::vector<std::int64_t> got;
    for (std::int64_t id = 0; stream >> id;)
        got.push_back(id);
    EXPECT_EQ(got, want) << describe(result);
}

TEST(MistralCliTest, ModelsListListsMistral)
{
    CommandResult result = fs2("models list");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_NE(result.out.find("\nmistral         mistral         7b\n"), std::string::npos) << describe(result);

    result = fs2("models archs mistral");
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "7b\n");
}

}  // namespace
}  // namespace fairseq2

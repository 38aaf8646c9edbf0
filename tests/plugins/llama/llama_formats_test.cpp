// Loading llama checkpoints in every layout users have (Hugging Face
// safetensors, sharded or not, pytorch_model.bin, tied embeddings, bfloat16;
// Meta's consolidated.00.pth) and in the layouts we write (fairseq2 .pt,
// safetensors, Hugging Face export), against the logits of an independent
// PyTorch implementation (tests/reference/make_llama_formats.py).
//
// Tolerance: max abs diff 1e-4 (float32) against the reference's float64
// logits rounded to float32.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using models::DecoderModel;
using models::ModelHandler;
using test::CommandResult;
using test::describe;
using test::shell_quote;
using test::TempDir;

constexpr double tolerance = 1e-4;

std::shared_ptr<host::Host> formats_host()
{
    static std::shared_ptr<host::Host> host = [] {
        auto h = std::make_shared<host::Host>(
            host::HostOptions{.plugin_dirs = {FAIRSEQ2_TEST_PLUGIN_DIR}, .use_plugin_path_env = false, .use_default_plugin_dir = false});
        h->load_plugins();
        return h;
    }();
    return host;
}

// `fairseq2 --log-level warn ARGS` with the llama plugin only.
CommandResult fs2(const std::string& args)
{
    return test::run_command("FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= " + test::cli() + " --no-default-plugins --plugin-dir " +
                             shell_quote(FAIRSEQ2_TEST_PLUGIN_DIR) + " --log-level warn " + args);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Whether `address` lies in a memory mapping of `file` (/proc/self/maps).
bool points_into(const void* address, const fs::path& file)
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    const auto target = reinterpret_cast<std::uintptr_t>(address);
    while (std::getline(maps, line)) {
        std::uintptr_t begin = 0;
        std::uintptr_t end = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) == 2 && target >= begin && target < end)
            return line.ends_with(file.string());
    }
    return false;
}

// The reference files, made by make_llama_formats.py on first use and shared
// by the test processes of this build (ctest runs each test in its own
// process) until the script changes. Made in a staging folder and renamed,
// so a concurrent process never sees them half-written; they are only read.
fs::path reference_files()
{
    const fs::path script = test::reference_script("make_llama_formats.py");
    const fs::path dir = fs::path(FAIRSEQ2_TEST_WORK_DIR) / ("llama_formats-" + std::to_string(std::hash<std::string>{}(test::read_file(script))));
    if (fs::is_regular_file(dir / "logits.pt"))
        return dir;
    fs::create_directories(dir.parent_path());
    fs::path staging = dir;
    staging += ".tmp-" + std::to_string(::getpid());
    fs::remove_all(staging);
    CommandResult made = test::run_command(test::python() + " " + shell_quote(script.string()) + " --out " + shell_quote(staging.string()));
    if (made.exit_code != 0) {
        fs::remove_all(staging);
        throw std::runtime_error("make_llama_formats.py (needs " FAIRSEQ2_TEST_PYTHON " with torch) failed:\n" + describe(made));
    }
    std::error_code error;
    fs::rename(staging, dir, error);
    if (error)  // another process got there first
        fs::remove_all(staging);
    return dir;
}

class LlamaFormatsTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        ASSERT_NO_THROW(dir_ = reference_files());
        c10::impl::GenericDict logits = checkpoint::read_torch_archive(dir_ / "logits.pt").toGenericDict();
        tokens_ = logits.at(c10::IValue("tokens")).toTensor();
        logits_ = logits.at(c10::IValue("logits")).toTensor();
        logits_tied_ = logits.at(c10::IValue("logits_tied")).toTensor();
        logits_bf16_ = logits.at(c10::IValue("logits_bf16")).toTensor();
        ASSERT_GT(logits_.std().item<double>(), 0.1) << "degenerate reference logits say little";
    }

    void SetUp() override
    {
        handler = formats_host()->context().get_registry<ModelHandler>().get("llama");
        ASSERT_NE(handler, nullptr);
    }

    static fs::path path(const std::string& name) { return dir_ / name; }

    // The model of `checkpoint` with the config derived from the files beside it.
    std::shared_ptr<DecoderModel> load(const fs::path& checkpoint, std::optional<c10::ScalarType> dtype = std::nullopt,
                                       bool mmap = true) const
    {
        std::optional<json::value> config = handler->config_from_checkpoint(checkpoint);
        if (!config)
            throw std::runtime_error("No config derived for " + checkpoint.string());
        auto model = std::dynamic_pointer_cast<DecoderModel>(handler->load_from_path(checkpoint, *config, at::kCPU, dtype, {.mmap = mmap}));
        if (!model)
            throw std::runtime_error("The llama handler did not return a DecoderModel.");
        return model;
    }

    // The model of a checkpoint that records its config (written by us).
    std::shared_ptr<DecoderModel> load_recorded(const fs::path& checkpoint) const
    {
        checkpoint::LoadedCheckpoint loaded = checkpoint::load_checkpoint(checkpoint);
        EXPECT_TRUE(loaded.fairseq2_layout);
        if (!loaded.model)
            throw std::runtime_error(checkpoint.string() + " records no model.");
        EXPECT_EQ(loaded.model->family, "llama");
        json::value config = loaded.model->config;
        return std::dynamic_pointer_cast<DecoderModel>(handler->load_from_checkpoint(std::move(loaded), config, at::kCPU));
    }

    static at::Tensor forward(DecoderModel& model)
    {
        c10::InferenceMode guard;
        return model.forward(tokens_).to(at::kFloat);
    }

    static double check(DecoderModel& model, const at::Tensor& expected, const std::string& what)
    {
        at::Tensor logits = forward(model);
        EXPECT_EQ(logits.sizes(), expected.sizes()) << what;
        double diff = max_abs_diff(logits, expected);
        std::printf("[ measured ] %s: max abs diff %.3g\n", what.c_str(), diff);
        EXPECT_LE(diff, tolerance) << what;
        return diff;
    }

    std::string load_error(const fs::path& checkpoint) const
    {
        try {
            load(checkpoint);
        } catch (const Error& error) {
            return error.what();
        }
        return "(no error)";
    }

    static inline fs::path dir_;
    static inline at::Tensor tokens_;
    static inline at::Tensor logits_;
    static inline at::Tensor logits_tied_;
    static inline at::Tensor logits_bf16_;

    std::shared_ptr<ModelHandler> handler;
};

TEST_F(LlamaFormatsTest, ConfigJsonGivesTheConfig)
{
    std::optional<json::value> config = handler->config_from_checkpoint(path("hf"));
    ASSERT_TRUE(config.has_value());
    const json::object& c = config->as_object();
    EXPECT_EQ(c.at("model_dim").as_int64(), 64);
    EXPECT_EQ(c.at("num_layers").as_int64(), 2);
    EXPECT_EQ(c.at("num_attn_heads").as_int64(), 4);
    EXPECT_EQ(c.at("num_key_value_heads").as_int64(), 2);
    EXPECT_EQ(c.at("ffn_inner_dim").as_int64(), 192);
    EXPECT_EQ(c.at("ffn_inner_dim_scale").as_double(), 1.0);
    EXPECT_EQ(c.at("ffn_inner_dim_to_multiple").as_int64(), 1);
    EXPECT_EQ(c.at("max_seq_len").as_int64(), 256);
    EXPECT_EQ(c.at("rope_theta").as_double(), 500000.0);
    EXPECT_TRUE(c.at("use_scaled_rope").as_bool());
    EXPECT_EQ(c.at("rope_scaling").at("factor").as_double(), 8.0);
    EXPECT_EQ(c.at("rope_scaling").at("original_context_length").as_int64(), 8192);
    EXPECT_FALSE(c.at("tied_embeddings").as_bool());
    EXPECT_EQ(c.at("vocab_info"), json::parse(R"({"size": 128, "unk_idx": null, "bos_idx": 1, "eos_idx": 2, "pad_idx": null})"));

    // params.json describes the same model (Meta's GLU width formula gives 192).
    std::optional<json::value> meta = handler->config_from_checkpoint(path("meta") / "consolidated.00.pth");
    ASSERT_TRUE(meta.has_value());
    for (const char* key : {"model_dim", "num_layers", "num_attn_heads", "num_key_value_heads", "ffn_inner_dim", "max_seq_len",
                            "rope_theta", "use_scaled_rope", "rope_scaling"})
        EXPECT_EQ(meta->at(key), c.at(key)) << key;
    EXPECT_EQ(meta->at("vocab_info"), json::parse(R"({"size": 128, "unk_idx": 0, "bos_idx": 1, "eos_idx": 2, "pad_idx": null})"));

    EXPECT_TRUE(handler->config_from_checkpoint(path("hf_tied")).value().at("tied_embeddings").as_bool());
    // Nothing describes a bare file's folder.
    EXPECT_FALSE(handler->config_from_checkpoint(path("logits.pt")).has_value());
}

TEST_F(LlamaFormatsTest, HuggingFaceSafetensorsMatchesPythonWithoutCopies)
{
    auto model = load(path("hf"));
    check(*model, logits_, "hf/model.safetensors");
    // v_proj needs no permutation: the parameter uses the file's pages.
    at::Tensor v = model->named_parameters().find("decoder.layers.1.self_attn.v_proj.weight")->detach();
    EXPECT_TRUE(points_into(v.data_ptr(), path("hf") / "model.safetensors"));
    EXPECT_EQ(v.scalar_type(), at::kFloat);

    auto copied = load(path("hf"), std::nullopt, /*mmap=*/false);
    check(*copied, logits_, "hf/model.safetensors --no-mmap");
    at::Tensor w = copied->named_parameters().find("decoder.layers.1.self_attn.v_proj.weight")->detach();
    EXPECT_FALSE(points_into(w.data_ptr(), path("hf") / "model.safetensors"));
}

TEST_F(LlamaFormatsTest, ShardedAndBinVariantsMatchPython)
{
    for (const char* name : {"hf_sharded", "hf_bin", "hf_bin_sharded"}) {
        auto model = load(path(name));
        check(*model, logits_, name);
    }
}

TEST_F(LlamaFormatsTest, TiedEmbeddingsMatchPython)
{
    auto model = load(path("hf_tied"));
    check(*model, logits_tied_, "hf_tied");
    auto params = model->named_parameters();
    EXPECT_TRUE(params.find("final_proj.weight")->is_same(*params.find("decoder_frontend.embed.weight")));

    // No lm_head.weight and a config saying untied: the projection shares
    // the embedding tensor.
    std::optional<json::value> config = handler->config_from_checkpoint(path("hf_tied"));
    config->as_object()["tied_embeddings"] = false;
    auto untied = std::dynamic_pointer_cast<DecoderModel>(handler->load_from_path(path("hf_tied"), *config, at::kCPU));
    check(*untied, logits_tied_, "hf_tied loaded untied");
}

TEST_F(LlamaFormatsTest, Bfloat16KeepsItsDtypeUnlessAsked)
{
    auto kept = load(path("hf_bf16"));
    for (const auto& item : kept->named_parameters())
        EXPECT_EQ(item.value().scalar_type(), at::kBFloat16) << item.key();
    EXPECT_LE(max_abs_diff(forward(*kept), logits_bf16_), 0.1) << "bfloat16 compute, loosely";

    auto converted = load(path("hf_bf16"), at::kFloat);
    for (const auto& item : converted->named_parameters())
        EXPECT_EQ(item.value().scalar_type(), at::kFloat) << item.key();
    check(*converted, logits_bf16_, "hf_bf16 as float32");
}

TEST_F(LlamaFormatsTest, MetaReferenceMatchesPython)
{
    for (const fs::path& checkpoint : {path("meta"), path("meta") / "consolidated.00.pth"}) {
        auto model = load(checkpoint);
        check(*model, logits_, checkpoint.string());
    }
    EXPECT_EQ(load_error(path("meta_sharded")),
              "The checkpoint directory '" + path("meta_sharded").string() +
                  "' holds 2 model-parallel shards ('consolidated.00.pth', 'consolidated.01.pth'); sharded reference checkpoints need "
                  "tensor parallelism, which is not supported yet, so merge them into one consolidated.00.pth or use a Hugging Face "
                  "checkpoint.");
}

TEST_F(LlamaFormatsTest, StrictLoadingReportsEveryProblemOfAForeignCheckpoint)
{
    TempDir dir;
    fs::copy_file(path("hf") / "config.json", dir / "config.json");
    checkpoint::StateDict tensors = checkpoint::read_safetensors(path("hf") / "model.safetensors").tensors;
    tensors.erase("model.layers.1.mlp.up_proj.weight");
    tensors["model.layers.0.self_attn.extra.weight"] = at::zeros({4, 4});
    tensors["model.layers.0.mlp.gate_proj.weight"] = at::zeros({100, 64});
    checkpoint::write_safetensors(dir / "model.safetensors", tensors);
    EXPECT_EQ(load_error(dir.path()), "The checkpoint at '" + dir.path().string() +
                                          "' does not match the model:\n"
                                          "  missing keys (1):\n"
                                          "    decoder.layers.1.ffn.inner_proj.weight\n"
                                          "  unexpected keys (1):\n"
                                          "    model.layers.0.self_attn.extra.weight\n"
                                          "  shape mismatches (1):\n"
                                          "    `decoder.layers.0.ffn.gate_proj.weight` has a shape of (100, 64) in the checkpoint, but "
                                          "(192, 64) in the model.");
}

TEST_F(LlamaFormatsTest, ConfigFilesOfOtherModelsAreRefused)
{
    TempDir dir;
    fs::copy_file(path("hf") / "model.safetensors", dir / "model.safetensors");
    json::object config = json::parse(test::read_file(path("hf") / "config.json")).as_object();
    config["model_type"] = "qwen2";
    test::write_file(dir / "config.json", json::serialize(config));
    try {
        handler->config_from_checkpoint(dir.path());
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()), "The file '" + (dir / "config.json").string() +
                                                 "' describes a 'qwen2' model, but the llama family loads only model_type 'llama'.");
    }
    config["model_type"] = "llama";
    config["rope_scaling"] = json::parse(R"({"rope_type": "yarn", "factor": 4.0})");
    test::write_file(dir / "config.json", json::serialize(config));
    try {
        handler->config_from_checkpoint(dir.path());
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()), "The field 'rope_scaling' of '" + (dir / "config.json").string() +
                                                 "' has the type 'yarn', but llama models support only 'llama3' scaling.");
    }
    config.erase("rope_scaling");
    config["hidden_size"] = "64";
    test::write_file(dir / "config.json", json::serialize(config));
    try {
        handler->config_from_checkpoint(dir.path());
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_EQ(std::string(error.what()),
                  "The field 'hidden_size' of '" + (dir / "config.json").string() + "' is \"64\"; expected an integer.");
    }
}

// --- through the `fairseq2` program -----------------------------------------

TEST_F(LlamaFormatsTest, ConvertWritesFilesThatLoadAndMatchPython)
{
    TempDir out;
    const std::string from = " --checkpoint " + shell_quote(path("hf").string());
    CommandResult result = fs2("convert" + from + " --to fairseq2 --out " + shell_quote((out / "model.pt").string()));
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    result = fs2("convert" + from + " --to safetensors --out " + shell_quote((out / "model.safetensors").string()));
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(result.out, "");
    for (const auto& entry : fs::directory_iterator(out.path()))
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();

    for (const char* name : {"model.pt", "model.safetensors"}) {
        auto model = load_recorded(out / name);
        ASSERT_NE(model, nullptr);
        check(*model, logits_, std::string("converted ") + name);
    }

    // The fairseq2 file is what Python fairseq2 reads.
    test::write_file(out / "read.py", "import sys, torch\nc = torch.load(sys.argv[1])\n"
                                      "print(c['fs2'], c['model_key'], c['model_family'], c['model_config']['model_dim'], "
                                      "tuple(c['model']['decoder.layers.1.ffn.gate_proj.weight'].shape))\n");
    result = test::run_command(test::python() + " " + shell_quote((out / "read.py").string()) + " " +
                               shell_quote((out / "model.pt").string()));
    EXPECT_EQ(result.out, "True model llama 64 (192, 64)\n") << describe(result);
}

TEST_F(LlamaFormatsTest, HuggingFaceRoundTripGivesIdenticalTensors)
{
    for (const char* name : {"hf", "hf_tied", "hf_bf16"}) {
        TempDir out;
        CommandResult result = fs2("convert --checkpoint " + shell_quote(path(name).string()) + " --to fairseq2 --out " +
                                   shell_quote((out / "model.pt").string()));
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        // No --family: the fairseq2 checkpoint records it, and its config.
        result = fs2("convert --checkpoint " + shell_quote((out / "model.pt").string()) + " --to hf --out " +
                     shell_quote((out / "hf").string()));
        ASSERT_EQ(result.exit_code, 0) << describe(result);

        checkpoint::StateDict original = checkpoint::read_safetensors(path(name) / "model.safetensors").tensors;
        checkpoint::StateDict exported = checkpoint::read_safetensors(out / "hf" / "model.safetensors").tensors;
        ASSERT_EQ(exported.size(), original.size()) << name;
        for (const auto& [key, tensor] : original) {
            ASSERT_TRUE(exported.contains(key)) << name << ": " << key;
            EXPECT_EQ(exported.at(key).scalar_type(), tensor.scalar_type()) << name << ": " << key;
            EXPECT_TRUE(at::equal(exported.at(key), tensor)) << name << ": " << key;
        }

        json::object expected = json::parse(test::read_file(path(name) / "config.json")).as_object();
        json::object written = json::parse(test::read_file(out / "hf" / "config.json")).as_object();
        for (const char* key : {"model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                "num_key_value_heads", "vocab_size", "bos_token_id", "eos_token_id", "max_position_embeddings",
                                "rope_theta", "tie_word_embeddings", "torch_dtype", "rms_norm_eps"})
            EXPECT_EQ(written.at(key), expected.at(key)) << name << ": " << key;
        EXPECT_EQ(written.at("rope_scaling"), expected.at("rope_scaling")) << name;
    }
}

TEST_F(LlamaFormatsTest, GenerateAcceptsEveryFormat)
{
    TempDir out;
    ASSERT_EQ(fs2("convert --checkpoint " + shell_quote(path("meta").string()) + " --to safetensors --out " +
                  shell_quote((out / "m.safetensors").string()))
                  .exit_code,
              0);
    // The reference's most likely token after the first prompt.
    const std::int64_t expected = logits_[0][-1].argmax().item<std::int64_t>();
    std::string prompt;
    for (std::int64_t i = 0; i < tokens_.size(1); ++i)
        prompt += (i == 0 ? "" : " ") + std::to_string(tokens_[0][i].item<std::int64_t>());

    std::string first_output;
    const std::pair<fs::path, const char*> runs[] = {
        {path("hf"), ""},
        {path("hf"), " --no-mmap"},
        {path("hf_sharded"), ""},
        {path("hf_bin_sharded") / "pytorch_model.bin.index.json", ""},
        {path("meta"), ""},
        {out / "m.safetensors", ""},
        {out / "m.safetensors", " --no-mmap"},
    };
    for (const auto& [checkpoint, flags] : runs) {
        CommandResult result = fs2("generate --checkpoint " + shell_quote(checkpoint.string()) + " --prompt-ids '" + prompt +
                                   "' --max-new-tokens 4" + flags);
        ASSERT_EQ(result.exit_code, 0) << checkpoint << flags << "\n" << describe(result);
        std::istringstream ids(result.out);
        std::int64_t first = -1;
        ids >> first;
        EXPECT_EQ(first, expected) << checkpoint << flags << "\n" << describe(result);
        if (first_output.empty())
            first_output = result.out;
        EXPECT_EQ(result.out, first_output) << checkpoint << flags;
    }
}

TEST_F(LlamaFormatsTest, DtypeIsConvertedOnlyWhenAskedOrNeeded)
{
    TempDir out;
    const fs::path f16 = out / "f16.safetensors";
    CommandResult result = fs2("convert --checkpoint " + shell_quote(path("hf").string()) + " --dtype float16 --to safetensors --out " +
                               shell_quote(f16.string()));
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    for (const auto& [key, tensor] : checkpoint::read_safetensors(f16).tensors)
        EXPECT_EQ(tensor.scalar_type(), at::kHalf) << key;
    // convert keeps the dtype by default.
    const fs::path kept = out / "kept.safetensors";
    ASSERT_EQ(fs2("convert --checkpoint " + shell_quote(f16.string()) + " --to safetensors --out " + shell_quote(kept.string())).exit_code,
              0);
    EXPECT_EQ(checkpoint::read_safetensors(kept).tensors.at("final_proj.weight").scalar_type(), at::kHalf);

    // generate runs float16 weights in float32 on the CPU, and says so.
    result = test::run_command("FAIRSEQ2_PLUGIN_PATH= " + test::cli() + " --no-default-plugins --plugin-dir " + shell_quote(FAIRSEQ2_TEST_PLUGIN_DIR) +
                               " --log-level info generate --checkpoint " + shell_quote(f16.string()) + " --max-new-tokens 2");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_NE(result.err.find("'" + f16.string() + "' holds float16 weights, which LibTorch cannot compute with on the CPU; running in float32."),
              std::string::npos)
        << describe(result);
}

TEST_F(LlamaFormatsTest, CommandLineOverridesAndErrors)
{
    // --set applies on top of the derived config; --arch replaces it.
    CommandResult result = fs2("generate --checkpoint " + shell_quote(path("hf").string()) + " --set max_seq_len=16 --max-new-tokens 2");
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    result = fs2("generate --checkpoint " + shell_quote(path("hf").string()) +
                 " --arch llama2_7b --set model_dim=64 --set num_layers=2 --set num_attn_heads=4 --set num_key_value_heads=2 "
                 "--set vocab_info.size=128");
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    EXPECT_NE(result.err.find("error: The checkpoint at '" + path("hf").string() + "' does not match the model:"), std::string::npos)
        << describe(result);

    TempDir out;
    result = fs2("convert --checkpoint " + shell_quote(path("hf").string()) + " --to onnx --out " + shell_quote((out / "x").string()));
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    EXPECT_EQ(result.err, "error: --to: 'onnx' is not a layout the 'llama' family can write; use fairseq2, safetensors, hf.\n");

    // A bare file with nothing beside it needs --family.
    fs::copy_file(path("hf") / "model.safetensors", out / "w.safetensors");
    result = fs2("generate --checkpoint " + shell_quote((out / "w.safetensors").string()));
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    const std::string start = "error: Cannot tell the model family of the checkpoint '" + (out / "w.safetensors").string() +
                              "': it records none, '" + out.path().string() +
                              "' has no config.json with a model_type, and no registered family ('llama'";
    const std::string end = ") recognises it; give the family with --family.\n";
    EXPECT_EQ(result.err.substr(0, start.size()), start) << result.err;
    EXPECT_TRUE(result.err.ends_with(end)) << result.err;
}

}  // namespace
}  // namespace fairseq2

// End-to-end tests of the llama plugin: the real plugin is loaded by the
// host, its handler loads checkpoints written by an independent plain-PyTorch
// llama (tests/reference/llama_reference.py, run with FAIRSEQ2_TEST_PYTHON),
// and the logits of the C++ model are compared with the reference's.
//
// Tolerances (float32): logits within 1e-4 (max abs) of the reference (which
// computes in float64 and rounds to float32); incremental decoding and
// padded batches within 1e-5 of the C++ full pass.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/generation/generator.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/padding_mask.hpp"
#include "plugins/llama/plugin_host.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

using fairseq2::models::DecoderModel;
using fairseq2::models::ModelHandler;
using fairseq2::test::TempDir;

namespace {

constexpr double reference_tolerance = 1e-4;    // C++ float32 vs the Python reference
constexpr double consistency_tolerance = 1e-5;  // C++ vs C++ (incremental, padding)

using TokenBatch = std::vector<std::vector<std::int64_t>>;

// The reference's output for one config, seed and token batch.
struct Reference {
    fs::path checkpoint;
    at::Tensor logits;  // float32 (N, S, vocab)
    json::object info;
};

double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

void report(const std::string& what, double value)
{
    std::printf("[ measured ] %s: %.3g\n", what.c_str(), value);
}

at::Tensor to_tensor(const TokenBatch& tokens)
{
    std::vector<std::int64_t> flat;
    for (const auto& row : tokens)
        flat.insert(flat.end(), row.begin(), row.end());
    return at::tensor(flat, at::kLong).view({static_cast<std::int64_t>(tokens.size()), static_cast<std::int64_t>(tokens.at(0).size())});
}

std::string to_json_text(const TokenBatch& tokens)
{
    json::array rows;
    for (const auto& row : tokens) {
        json::array r;
        for (auto t : row)
            r.push_back(t);
        rows.push_back(std::move(r));
    }
    return json::serialize(rows);
}

// Runs llama_reference.py; throws (failing the test) with Python's stderr
// when Python, torch or the script is missing or fails.
Reference run_reference(const fs::path& dir, const json::value& config, int seed, const TokenBatch& tokens,
                        const std::vector<std::string>& extra_args = {})
{
    using fairseq2::test::shell_quote;

    fs::create_directories(dir);
    fairseq2::test::write_file(dir / "config.json", json::serialize(config));

    fs::path script = fairseq2::test::reference_script("llama_reference.py");
    if (!fs::exists(script))
        throw std::runtime_error("The reference script " + script.string() + " does not exist.");

    std::string command = fairseq2::test::python() + " " + shell_quote(script.string()) + " --config " +
                          shell_quote((dir / "config.json").string()) + " --seed " + std::to_string(seed) + " --tokens " +
                          shell_quote(to_json_text(tokens)) + " --out " + shell_quote(dir.string());
    for (const auto& arg : extra_args) {
        command += ' ';
        command += shell_quote(arg);
    }

    auto result = fairseq2::test::run_command(command);
    if (result.exit_code != 0) {
        std::string message = "The llama reference (";
        message += FAIRSEQ2_TEST_PYTHON;
        message += " with torch) failed with exit code ";
        message += std::to_string(result.exit_code);
        message += "; Python with torch is required by these tests.\ncommand: ";
        message += command;
        message += "\nstderr:\n";
        message += result.err;
        throw std::runtime_error(message);
    }

    Reference ref;
    ref.checkpoint = dir / "model.pt";
    c10::IValue logits = fairseq2::checkpoint::read_torch_archive(dir / "logits.pt");
    ref.logits = logits.toGenericDict().at(c10::IValue("logits")).toTensor();
    ref.info = json::parse(fairseq2::test::read_file(dir / "info.json")).as_object();
    return ref;
}

// The token batch most tests use: two sequences of 12 tokens, bos first.
const TokenBatch& default_tokens()
{
    static const TokenBatch tokens{
        {1, 17, 99, 3, 45, 45, 127, 8, 64, 2, 33, 71},
        {1, 5, 120, 88, 14, 9, 101, 56, 0, 76, 42, 2},
    };
    return tokens;
}

class LlamaForwardTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        auto host = fairseq2::test::plugin_host();
        bool loaded = false;
        std::string errors;
        for (const auto& plugin : host->plugins()) {
            if (plugin.status == fairseq2::host::PluginStatus::loaded)
                for (const auto& family : plugin.families)
                    loaded = loaded || family == "llama";
            if (plugin.status == fairseq2::host::PluginStatus::failed)
                errors += plugin.file.string() + ": " + plugin.error + "\n";
        }
        ASSERT_TRUE(loaded) << "the llama plugin did not load from " << FAIRSEQ2_TEST_PLUGIN_DIR << "\n" << errors;
    }

    void SetUp() override
    {
        handler = fairseq2::test::plugin_host()->context().get_registry<ModelHandler>().get("llama");
        ASSERT_NE(handler, nullptr);
    }

    // llama3_8b made small: 3 layers, dim 64, 8 heads / 2 kv heads (head dim
    // 8), FFN int(int(96 * 1.3) * 2/3) = 82 rounded up to 32 -> 96, vocab 128.
    json::value small_config() const
    {
        return fairseq2::test::small_llama_config({.model_dim = 64,
                                                   .num_layers = 3,
                                                   .num_attn_heads = 8,
                                                   .num_key_value_heads = 2,
                                                   .ffn_inner_dim = 96,
                                                   .ffn_inner_dim_to_multiple = 32,
                                                   .vocab_size = 128,
                                                   .max_seq_len = 64});
    }

    std::shared_ptr<DecoderModel> load(const fs::path& checkpoint, const json::value& config, at::ScalarType dtype = at::kFloat) const
    {
        auto module = handler->load_from_path(checkpoint, handler->check_config(config), at::kCPU, dtype);
        auto model = std::dynamic_pointer_cast<DecoderModel>(module);
        if (!model)
            throw std::runtime_error("The llama handler did not return a DecoderModel.");
        return model;
    }

    static at::Tensor forward(DecoderModel& model, const at::Tensor& tokens, const fairseq2::nn::PaddingMask* mask = nullptr)
    {
        c10::InferenceMode guard;
        return model.forward(tokens, mask, nullptr);
    }

    // Loads the reference checkpoint with `config` and compares the logits
    // of `tokens` with the reference's.
    double check_against_reference(const Reference& ref, const json::value& config, const TokenBatch& tokens)
    {
        auto model = load(ref.checkpoint, config);
        at::Tensor logits = forward(*model, to_tensor(tokens));
        EXPECT_EQ(logits.scalar_type(), at::kFloat);
        EXPECT_EQ(logits.sizes(), ref.logits.sizes());
        if (logits.sizes() != ref.logits.sizes())
            return 1e30;
        // The logits must not be degenerate, or the comparison says little.
        EXPECT_GT(ref.logits.std().item<double>(), 0.1);
        double diff = max_abs_diff(logits, ref.logits);
        EXPECT_LE(diff, reference_tolerance);
        return diff;
    }

    // Config (a) and its reference, shared by several tests.
    const Reference& reference_a()
    {
        // Cached only once it succeeded, so a failure fails every user.
        static TempDir dir;
        static std::optional<Reference> ref;
        if (!ref)
            ref = run_reference(dir.path() / "a", small_config(), 1234, default_tokens());
        return *ref;
    }

    std::shared_ptr<ModelHandler> handler;
};

// (a) grouped-query attention (8 heads, 2 kv heads), plain RoPE (theta 5e5).
TEST_F(LlamaForwardTest, GroupedQueryPlainRopeMatchesReference)
{
    const Reference& ref = reference_a();
    ASSERT_EQ(ref.info.at("ffn_inner_dim").as_int64(), 96);

    auto model = load(ref.checkpoint, small_config());
    EXPECT_EQ(model->model_dim(), 64);
    EXPECT_EQ(model->vocab_info().size, 128);
    // The FFN width of the C++ model is the reference's.
    auto params = model->named_parameters();
    ASSERT_TRUE(params.contains("decoder.layers.2.ffn.gate_proj.weight"));
    EXPECT_EQ(params["decoder.layers.2.ffn.gate_proj.weight"].sizes(), (at::IntArrayRef{96, 64}));
    EXPECT_EQ(params["decoder.layers.0.self_attn.k_proj.weight"].sizes(), (at::IntArrayRef{16, 64}));

    double diff = check_against_reference(ref, small_config(), default_tokens());
    report("(a) GQA plain rope vs reference", diff);
}

// (b) Llama 3.1 scaled RoPE with all three frequency branches in use.
TEST_F(LlamaForwardTest, ScaledRopeMatchesReference)
{
    TempDir dir;
    json::value config = small_config();
    using fairseq2::config::set_path;
    // Head dim 16, theta 1e4: wavelengths 2*pi*10^(i/2) = 6.3, 19.9, 62.8, ...
    // With original context 32 and factors (1, 4): < 8 kept, 8..32 smoothed,
    // > 32 divided by the factor.
    set_path(config, "num_attn_heads", 4);
    set_path(config, "num_key_value_heads", 2);
    set_path(config, "rope_theta", 10000.0);
    set_path(config, "use_scaled_rope", true);
    set_path(config, "rope_scaling.factor", 8.0);
    set_path(config, "rope_scaling.frequency_factors", json::array{1.0, 4.0});
    set_path(config, "rope_scaling.original_context_length", 32);
    set_path(config, "max_seq_len", 128);  // more than the 40 positions used

    TokenBatch tokens(2);
    for (std::int64_t i = 0; i < 40; ++i) {
        tokens[0].push_back((i * 37 + 11) % 128);
        tokens[1].push_back((i * 53 + 7) % 128);
    }
    Reference ref = run_reference(dir.path(), config, 99, tokens);

    const auto& branches = ref.info.at("rope_branches").as_object();
    EXPECT_GE(branches.at("kept").as_int64(), 1);
    EXPECT_GE(branches.at("smoothed").as_int64(), 1);
    EXPECT_GE(branches.at("scaled").as_int64(), 1);
    EXPECT_EQ(branches.at("kept").as_int64() + branches.at("smoothed").as_int64() + branches.at("scaled").as_int64(), 8);

    double diff = check_against_reference(ref, config, tokens);
    report("(b) scaled rope vs reference", diff);

    // The scaling matters: the same weights without it give other logits.
    json::value unscaled = config;
    set_path(unscaled, "use_scaled_rope", false);
    auto model = load(ref.checkpoint, unscaled);
    double change = max_abs_diff(forward(*model, to_tensor(tokens)), ref.logits);
    report("(b) unscaled rope vs scaled reference (must be large)", change);
    EXPECT_GT(change, 1e-2);
}

// (c) tied embeddings: the checkpoint may hold final_proj.weight (the same
// tensor, as PyTorch saves tied modules) or leave it out.
TEST_F(LlamaForwardTest, TiedEmbeddingsMatchReferenceWithAndWithoutFinalProjKey)
{
    TempDir dir;
    json::value config = small_config();
    fairseq2::config::set_path(config, "tied_embeddings", true);

    Reference with_key = run_reference(dir.path() / "with", config, 7, default_tokens());
    Reference without_key = run_reference(dir.path() / "without", config, 7, default_tokens(), {"--omit-key", "final_proj.weight"});

    // The Python side really wrote the two layouts.
    auto has_key = [](const Reference& ref, const std::string& key) {
        for (const auto& k : ref.info.at("keys").as_array())
            if (k.as_string() == key)
                return true;
        return false;
    };
    ASSERT_TRUE(has_key(with_key, "final_proj.weight"));
    ASSERT_FALSE(has_key(without_key, "final_proj.weight"));
    ASSERT_TRUE(has_key(without_key, "decoder_frontend.embed.weight"));
    ASSERT_LE(max_abs_diff(with_key.logits, without_key.logits), 0.0);

    double diff_with = check_against_reference(with_key, config, default_tokens());
    double diff_without = check_against_reference(without_key, config, default_tokens());
    report("(c) tied, with final_proj.weight, vs reference", diff_with);
    report("(c) tied, without final_proj.weight, vs reference", diff_without);

    // The projection shares the embedding's storage after loading.
    auto model = load(without_key.checkpoint, config);
    auto params = model->named_parameters();
    ASSERT_TRUE(params.contains("final_proj.weight"));
    EXPECT_EQ(params["final_proj.weight"].data_ptr(), params["decoder_frontend.embed.weight"].data_ptr());
}

// (d) as many key/value heads as query heads (no grouping).
TEST_F(LlamaForwardTest, FullKeyValueHeadsMatchReference)
{
    TempDir dir;
    json::value config = small_config();
    fairseq2::config::set_path(config, "num_key_value_heads", 8);
    Reference ref = run_reference(dir.path(), config, 4321, default_tokens());

    double diff = check_against_reference(ref, config, default_tokens());
    report("(d) kv heads == heads vs reference", diff);
}

// Incremental decoding with a state bag gives the logits of one full pass:
// one token per step; a prefill then single steps; a prefill, a chunk of
// several tokens (causal mask with an offset), then single steps.
TEST_F(LlamaForwardTest, IncrementalDecodingMatchesFullPass)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config());
    at::Tensor tokens = to_tensor(default_tokens());
    const std::int64_t seq_len = tokens.size(1);

    at::Tensor full = forward(*model, tokens);
    ASSERT_LE(max_abs_diff(full, ref.logits), reference_tolerance);

    // Chunk sizes to feed, in order.
    std::vector<std::vector<std::int64_t>> schedules{
        std::vector<std::int64_t>(static_cast<std::size_t>(seq_len), 1),
        {5, 1, 1, 1, 1, 1, 1, 1},
        {5, 4, 1, 1, 1},
    };
    for (const auto& schedule : schedules) {
        c10::InferenceMode guard;
        fairseq2::nn::IncrementalStateBag bag(seq_len);
        std::vector<at::Tensor> pieces;
        std::int64_t pos = 0;
        for (std::int64_t n : schedule) {
            ASSERT_EQ(bag.step_nr(), pos);
            at::Tensor step = model->forward(tokens.narrow(1, pos, n), nullptr, &bag);
            ASSERT_EQ(step.sizes(), (at::IntArrayRef{tokens.size(0), n, 128}));
            pieces.push_back(step);
            bag.increment_step_nr(n);
            pos += n;
        }
        ASSERT_EQ(pos, seq_len);
        at::Tensor incremental = at::cat(pieces, 1);
        double diff = max_abs_diff(incremental, full);
        report("incremental (first chunk " + std::to_string(schedule[0]) + ", second " + std::to_string(schedule[1]) + ") vs full pass",
               diff);
        EXPECT_LE(diff, consistency_tolerance);
    }
}

// A decoder model that passes everything to another and records how many
// positions each decode() call got.
class RecordingDecoder final : public DecoderModel {
public:
    explicit RecordingDecoder(std::shared_ptr<DecoderModel> inner)
        : DecoderModel(inner->model_dim(), inner->max_seq_len(), inner->vocab_info()), inner_{std::move(inner)}
    {
    }

    at::Tensor decode(const at::Tensor& seqs, const fairseq2::nn::PaddingMask* padding_mask,
                      fairseq2::nn::IncrementalStateBag* state_bag) override
    {
        chunks.push_back(seqs.size(1));
        return inner_->decode(seqs, padding_mask, state_bag);
    }

    at::Tensor project(const at::Tensor& decoder_output) override { return inner_->project(decoder_output); }

    void reset_parameters() override { inner_->reset_parameters(); }

    std::vector<std::int64_t> chunks;

private:
    std::shared_ptr<DecoderModel> inner_;
};

// The generator's prefill feeds the prompt in chunks of the size asked,
// gives the last position's logits of one full pass whatever that size,
// leaves the bag at the prompt's end, and rejects a negative chunk size.
TEST_F(LlamaForwardTest, ChunkedPrefillGivesTheLogitsOfOnePass)
{
    const Reference& ref = reference_a();
    RecordingDecoder model(load(ref.checkpoint, small_config()));
    at::Tensor tokens = to_tensor(default_tokens());
    const std::int64_t seq_len = tokens.size(1);
    ASSERT_EQ(seq_len, 12);
    at::Tensor last = ref.logits.select(1, seq_len - 1);  // (N, vocab)
    c10::InferenceMode guard;
    const std::vector<std::pair<std::int64_t, std::vector<std::int64_t>>> cases{
        {0, {12}}, {1, std::vector<std::int64_t>(12, 1)}, {5, {5, 5, 2}}, {12, {12}}, {100, {12}}};
    for (const auto& [chunk, expected_chunks] : cases) {
        fairseq2::nn::IncrementalStateBag bag(seq_len + 1);
        model.chunks.clear();
        at::Tensor logits = fairseq2::generation::prefill(model, tokens, bag, chunk);
        EXPECT_EQ(model.chunks, expected_chunks) << chunk;
        ASSERT_EQ(logits.sizes(), last.sizes()) << chunk;
        EXPECT_EQ(bag.step_nr(), seq_len) << chunk;
        const double diff = max_abs_diff(logits, last);
        report("prefill in chunks of " + std::to_string(chunk) + " vs reference", diff);
        EXPECT_LE(diff, reference_tolerance) << chunk;
    }
    fairseq2::nn::IncrementalStateBag bag(seq_len);
    EXPECT_THROW(fairseq2::generation::prefill(model, tokens, bag, -1), fairseq2::InvalidArgumentError);
}

// A bfloat16 model decoding one token at a time (the CPU kernels) stays as
// close to the float32 reference as its full pass does: max abs diff <=
// 5e-2 * max |logits|.
TEST_F(LlamaForwardTest, BFloat16IncrementalDecodingIsCloseToFloat32)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config(), at::kBFloat16);
    at::Tensor tokens = to_tensor(default_tokens());
    const std::int64_t seq_len = tokens.size(1);
    c10::InferenceMode guard;
    fairseq2::nn::IncrementalStateBag bag(seq_len);
    std::vector<at::Tensor> steps;
    for (std::int64_t pos = 0; pos < seq_len; ++pos) {
        steps.push_back(model->forward(tokens.narrow(1, pos, 1), nullptr, &bag));
        bag.increment_step_nr(1);
    }
    at::Tensor incremental = at::cat(steps, 1);
    ASSERT_EQ(incremental.scalar_type(), at::kBFloat16);
    const double scale = ref.logits.abs().max().item<double>();
    const double diff = max_abs_diff(incremental, ref.logits);
    report("bfloat16 incremental decoding vs reference (logit scale " + std::to_string(scale) + ")", diff);
    EXPECT_LE(diff, 5e-2 * scale);
}

// Steps through positions [first, S) of `tokens` (N, S) with decode_step()
// after a prefill of `first` positions through forward(), and returns each
// step's logits (copied, (N, vocab)) and whether every step returned the
// same buffer (the fused kernel's, kept in the bag).
struct SteppedLogits {
    std::vector<at::Tensor> logits;
    bool one_buffer = true;
};

SteppedLogits step_through(DecoderModel& model, const at::Tensor& tokens, std::int64_t first)
{
    const std::int64_t seq_len = tokens.size(1);
    fairseq2::nn::IncrementalStateBag bag(seq_len);
    if (first > 0) {
        model.forward(tokens.narrow(1, 0, first), nullptr, &bag);
        bag.increment_step_nr(first);
    }
    SteppedLogits result;
    const void* buffer = nullptr;
    for (std::int64_t pos = first; pos < seq_len; ++pos) {
        at::Tensor logits = model.decode_step(tokens.narrow(1, pos, 1), bag);
        bag.increment_step_nr(1);
        EXPECT_EQ(logits.sizes(), (at::IntArrayRef{tokens.size(0), model.vocab_info().size}));
        result.one_buffer = result.one_buffer && (buffer == nullptr || logits.data_ptr() == buffer);
        buffer = logits.data_ptr();
        result.logits.push_back(logits.clone());
    }
    return result;
}

// The same positions through forward(), one token per step (the modules'
// path), (N, vocab) each.
std::vector<at::Tensor> module_steps(DecoderModel& model, const at::Tensor& tokens, std::int64_t first)
{
    const std::int64_t seq_len = tokens.size(1);
    fairseq2::nn::IncrementalStateBag bag(seq_len);
    if (first > 0) {
        model.forward(tokens.narrow(1, 0, first), nullptr, &bag);
        bag.increment_step_nr(first);
    }
    std::vector<at::Tensor> steps;
    for (std::int64_t pos = first; pos < seq_len; ++pos) {
        steps.push_back(model.forward(tokens.narrow(1, pos, 1), nullptr, &bag).select(1, 0));
        bag.increment_step_nr(1);
    }
    return steps;
}

// Max abs diff between stepped logits and the reference's positions from `first`.
double diff_to_reference(const std::vector<at::Tensor>& steps, const at::Tensor& reference, std::int64_t first)
{
    double diff = 0.0;
    for (std::size_t i = 0; i < steps.size(); ++i)
        diff = std::max(diff, max_abs_diff(steps[i], reference.select(1, first + static_cast<std::int64_t>(i))));
    return diff;
}

double diff_between(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b)
{
    EXPECT_EQ(a.size(), b.size());
    double diff = 0.0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        diff = std::max(diff, max_abs_diff(a[i], b[i]));
    return diff;
}

// Restores LibTorch's thread count when a test changes it.
class ThreadCount {
public:
    ThreadCount() : saved_{at::get_num_threads()} {}
    ~ThreadCount() { at::set_num_threads(saved_); }
    ThreadCount(const ThreadCount&) = delete;
    ThreadCount& operator=(const ThreadCount&) = delete;

private:
    int saved_;
};

// decode_step() of a float32 model runs the fused kernel (one logits buffer
// for every step) and gives the reference's logits at every position, from
// an empty bag and after a prefill; the modules' own steps agree with it.
TEST_F(LlamaForwardTest, DecodeStepMatchesReferenceAndTheModules)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config());
    at::Tensor tokens = to_tensor(default_tokens());
    c10::InferenceMode guard;
    for (std::int64_t first : {0, 5}) {
        SteppedLogits fused = step_through(*model, tokens, first);
        EXPECT_TRUE(fused.one_buffer) << "decode_step() did not take the fused kernel";
        const double diff = diff_to_reference(fused.logits, ref.logits, first);
        const double modules = diff_between(fused.logits, module_steps(*model, tokens, first));
        report("decode_step after a prefill of " + std::to_string(first) + " vs reference", diff);
        report("decode_step after a prefill of " + std::to_string(first) + " vs the modules' steps", modules);
        EXPECT_LE(diff, reference_tolerance);
        EXPECT_LE(modules, consistency_tolerance);
    }
}

// A model large enough for the kernel to share each product between
// threads (dim 384, head dim 64, 6 heads over 2 key/value heads, FFN 1024):
// the logits are the reference's at 1, 2 and 3 threads (3: uneven shares),
// and a batch of 11 gets the modules' logits.
TEST_F(LlamaForwardTest, DecodeStepSharedBetweenThreadsMatchesReference)
{
    TempDir dir;
    json::value config = small_config();
    using fairseq2::config::set_path;
    set_path(config, "model_dim", 384);
    set_path(config, "num_layers", 2);
    set_path(config, "num_attn_heads", 6);
    set_path(config, "num_key_value_heads", 2);
    set_path(config, "ffn_inner_dim", 1024);  // int(int(1024 * 1.3) * 2/3) = 887, up to 1024
    set_path(config, "ffn_inner_dim_to_multiple", 256);
    Reference ref = run_reference(dir.path(), config, 77, default_tokens());
    ASSERT_EQ(ref.info.at("ffn_inner_dim").as_int64(), 1024);
    auto model = load(ref.checkpoint, config);
    at::Tensor tokens = to_tensor(default_tokens());
    ThreadCount restore;
    c10::InferenceMode guard;
    const std::vector<at::Tensor> modules = module_steps(*model, tokens, 3);
    for (int threads : {1, 2, 3}) {
        at::set_num_threads(threads);
        SteppedLogits fused = step_through(*model, tokens, 3);
        EXPECT_TRUE(fused.one_buffer) << threads;
        const double diff = diff_to_reference(fused.logits, ref.logits, 3);
        report("decode_step on " + std::to_string(threads) + " threads vs reference", diff);
        EXPECT_LE(diff, reference_tolerance) << threads;
        EXPECT_LE(diff_between(fused.logits, modules), consistency_tolerance) << threads;
    }

    // 11 sequences: groups of 4, 4 and 3 sharing each pass over tiles of
    // the weights.
    at::set_num_threads(2);
    at::Tensor eleven = at::randint(0, 128, {11, 12}, at::TensorOptions().dtype(at::kLong));
    const double batch_diff = diff_between(step_through(*model, eleven, 2).logits, module_steps(*model, eleven, 2));
    report("decode_step of 11 sequences vs the modules' steps", batch_diff);
    EXPECT_LE(batch_diff, consistency_tolerance);

    // bfloat16: the kernel rounds where the modules round, so its logits
    // are the modules' within 1e-2 * max |logits| (about two bfloat16 steps
    // at that scale; float32 libm and ATen's vectorised exp in the SiLU may
    // round a value differently), and the reference's within 5e-2 * max.
    auto bf16 = load(ref.checkpoint, config, at::kBFloat16);
    const double scale = ref.logits.abs().max().item<double>();
    const std::vector<at::Tensor> bf16_modules = module_steps(*bf16, tokens, 3);
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        SteppedLogits fused = step_through(*bf16, tokens, 3);
        EXPECT_TRUE(fused.one_buffer) << threads;
        ASSERT_EQ(fused.logits.front().scalar_type(), at::kBFloat16);
        const double modules_diff = diff_between(fused.logits, bf16_modules);
        const double diff = diff_to_reference(fused.logits, ref.logits, 3);
        report("bfloat16 decode_step on " + std::to_string(threads) + " threads vs the modules' steps (logit scale " +
                   std::to_string(scale) + ")",
               modules_diff);
        report("bfloat16 decode_step on " + std::to_string(threads) + " threads vs reference", diff);
        EXPECT_LE(modules_diff, 1e-2 * scale) << threads;
        EXPECT_LE(diff, 5e-2 * scale) << threads;
    }
}

// The caches grow past their first 256 positions in the middle of fused
// steps (to the bag's 300), keeping every earlier position: the last
// logits are those of one full pass over the 300 tokens.
TEST_F(LlamaForwardTest, DecodeStepKeepsThePositionsAsTheCachesGrow)
{
    const Reference& ref = reference_a();
    json::value config = small_config();
    fairseq2::config::set_path(config, "max_seq_len", 320);
    auto model = load(ref.checkpoint, config);
    std::vector<std::int64_t> ids;
    for (std::int64_t i = 0; i < 300; ++i)
        ids.push_back((i * 37 + 11) % 128);
    at::Tensor tokens = at::tensor(ids, at::kLong).unsqueeze(0);
    c10::InferenceMode guard;
    at::Tensor full = model->forward(tokens, nullptr, nullptr);  // (1, 300, vocab)
    SteppedLogits fused = step_through(*model, tokens, 0);
    EXPECT_TRUE(fused.one_buffer);
    double diff = 0.0;
    for (std::int64_t pos : {0, 100, 255, 256, 257, 299})
        diff = std::max(diff, max_abs_diff(fused.logits[static_cast<std::size_t>(pos)], full.select(1, pos)));
    report("decode_step across the cache's growth vs full pass", diff);
    EXPECT_LE(diff, consistency_tolerance);
}

// With autograd recording (parameters requiring gradients, no inference
// mode) decode_step() goes through the modules: new logits each step, part
// of the graph, with the reference's values.
TEST_F(LlamaForwardTest, DecodeStepUnderAutogradUsesTheModules)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config());
    ASSERT_TRUE(model->parameters().front().requires_grad());
    at::Tensor tokens = to_tensor(default_tokens());
    SteppedLogits stepped;
    {
        fairseq2::nn::IncrementalStateBag bag(tokens.size(1));
        std::vector<at::Tensor> kept;
        for (std::int64_t pos = 0; pos < tokens.size(1); ++pos) {
            at::Tensor logits = model->decode_step(tokens.narrow(1, pos, 1), bag);
            bag.increment_step_nr(1);
            EXPECT_TRUE(logits.requires_grad());
            for (const at::Tensor& before : kept)
                EXPECT_NE(before.data_ptr(), logits.data_ptr());
            kept.push_back(logits);
            stepped.logits.push_back(logits.detach());
        }
    }
    EXPECT_LE(diff_to_reference(stepped.logits, ref.logits, 0), reference_tolerance);
}

// Bad ids get one clear error and change nothing: ids not (N, 1), an id
// outside the vocabulary, a batch of another size than the bag's caches.
TEST_F(LlamaForwardTest, DecodeStepRejectsBadIds)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config());
    c10::InferenceMode guard;
    fairseq2::nn::IncrementalStateBag bag(8);
    const auto expect_message = [&](const at::Tensor& ids, const std::string& expected) {
        try {
            model->decode_step(ids, bag);
            ADD_FAILURE() << "no error for " << expected;
        } catch (const fairseq2::InvalidArgumentError& error) {
            EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
        }
    };
    expect_message(at::zeros({2, 2}, at::kLong), "must have shape (batch, 1), but have shape [2, 2]");
    expect_message(at::zeros({2}, at::kLong), "must have shape (batch, 1), but have shape [2]");
    expect_message(at::tensor({5, 128}, at::kLong).view({2, 1}),
                   "The token id 128 of sequence 1 is outside the embedding table (0 to 127).");
    expect_message(at::tensor({-1}, at::kLong).view({1, 1}), "The token id -1 of sequence 0");
    EXPECT_EQ(bag.step_nr(), 0);

    at::Tensor first = model->decode_step(at::tensor({5, 9}, at::kLong).view({2, 1}), bag).clone();
    bag.increment_step_nr(1);
    expect_message(at::tensor({5}, at::kLong).view({1, 1}), "The batch size changed from 2 to 1");
    // The bag still works for the batch it holds.
    at::Tensor second = model->decode_step(at::tensor({7, 7}, at::kLong).view({2, 1}), bag);
    EXPECT_EQ(second.sizes(), (at::IntArrayRef{2, 128}));
    EXPECT_GT(max_abs_diff(first, second), 1e-3);
}

// A right-padded batch: real positions give the logits of each sequence run
// alone (and of the reference), whatever the pad tokens hold.
TEST_F(LlamaForwardTest, PaddedBatchMatchesSequencesRunAlone)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config());
    const std::int64_t seq_len = 12;
    const std::vector<std::int64_t> lengths{12, 7};

    at::Tensor tokens = to_tensor(default_tokens());
    tokens[1].narrow(0, lengths[1], seq_len - lengths[1]).fill_(0);  // pad with 0
    fairseq2::nn::PaddingMask mask(at::tensor(lengths, at::kLong), seq_len);
    at::Tensor padded = forward(*model, tokens, &mask);
    ASSERT_EQ(padded.sizes(), (at::IntArrayRef{2, seq_len, 128}));

    for (std::size_t i = 0; i < lengths.size(); ++i) {
        std::int64_t len = lengths[i];
        at::Tensor real = padded[static_cast<std::int64_t>(i)].narrow(0, 0, len);
        at::Tensor alone = forward(*model, tokens[static_cast<std::int64_t>(i)].narrow(0, 0, len).unsqueeze(0))[0];
        double diff_alone = max_abs_diff(real, alone);
        // Causal: a prefix's logits are the full sequence's first positions.
        double diff_ref = max_abs_diff(real, ref.logits[static_cast<std::int64_t>(i)].narrow(0, 0, len));
        report("padded row " + std::to_string(i) + " vs run alone", diff_alone);
        report("padded row " + std::to_string(i) + " vs reference prefix", diff_ref);
        EXPECT_LE(diff_alone, consistency_tolerance);
        EXPECT_LE(diff_ref, reference_tolerance);
    }

    // Other pad values change nothing at real positions.
    at::Tensor repadded_tokens = tokens.clone();
    repadded_tokens[1].narrow(0, lengths[1], seq_len - lengths[1]).copy_(at::tensor({99, 3, 127, 64, 1}, at::kLong));
    at::Tensor repadded = forward(*model, repadded_tokens, &mask);
    double diff_pads = max_abs_diff(repadded[1].narrow(0, 0, lengths[1]), padded[1].narrow(0, 0, lengths[1]));
    report("real positions with other pad tokens", diff_pads);
    EXPECT_LE(diff_pads, 1e-6);
    EXPECT_LE(max_abs_diff(repadded[0], padded[0]), 1e-6);
    // ... while the padded positions themselves do see the new tokens.
    EXPECT_GT(max_abs_diff(repadded[1].narrow(0, lengths[1], seq_len - lengths[1]),
                           padded[1].narrow(0, lengths[1], seq_len - lengths[1])),
              1e-3);
}

// Loading in bfloat16 converts the float32 checkpoint; the logits stay close
// to float32's: max abs diff <= 5e-2 * max |logits|.
TEST_F(LlamaForwardTest, BFloat16LoadIsCloseToFloat32)
{
    const Reference& ref = reference_a();
    auto model = load(ref.checkpoint, small_config(), at::kBFloat16);
    for (const auto& param : model->named_parameters())
        ASSERT_EQ(param.value().scalar_type(), at::kBFloat16) << param.key();

    at::Tensor logits = forward(*model, to_tensor(default_tokens()));
    ASSERT_EQ(logits.scalar_type(), at::kBFloat16);
    ASSERT_EQ(logits.sizes(), ref.logits.sizes());

    double scale = ref.logits.abs().max().item<double>();
    double diff = max_abs_diff(logits, ref.logits);
    report("bfloat16 vs reference (logit scale " + std::to_string(scale) + ")", diff);
    EXPECT_LE(diff, 5e-2 * scale);
    EXPECT_GT(diff, 0.0);  // it did compute in bfloat16
}

// Applications load and run models under InferenceMode.
TEST_F(LlamaForwardTest, LoadingInsideInferenceModeWorks)
{
    const Reference& ref = reference_a();
    c10::InferenceMode guard;
    auto model = load(ref.checkpoint, small_config());
    at::Tensor logits = model->forward(to_tensor(default_tokens()), nullptr, nullptr);
    double diff = max_abs_diff(logits, ref.logits);
    report("loaded under InferenceMode vs reference", diff);
    EXPECT_LE(diff, reference_tolerance);

    auto bf16 = load(ref.checkpoint, small_config(), at::kBFloat16);
    EXPECT_LE(max_abs_diff(bf16->forward(to_tensor(default_tokens()), nullptr, nullptr), ref.logits),
              5e-2 * ref.logits.abs().max().item<double>());
}

// Every problem of a checkpoint is reported at once, naming the path.
TEST_F(LlamaForwardTest, StrictLoadingReportsMissingUnexpectedAndMismatchedKeys)
{
    TempDir dir;
    Reference ref = run_reference(dir.path(), small_config(), 5, default_tokens(),
                                  {"--omit-key", "decoder.layers.1.ffn.gate_proj.weight", "--extra-key",
                                   "decoder.layers.0.self_attn.extra_proj.weight", "--wrong-shape",
                                   "decoder.layers.0.self_attn.q_proj.weight"});
    try {
        load(ref.checkpoint, small_config());
        FAIL() << "loading a damaged checkpoint succeeded";
    } catch (const fairseq2::CheckpointError& error) {
        std::string message = error.what();
        std::printf("[ message  ] %s\n", message.c_str());
        EXPECT_NE(message.find(ref.checkpoint.string()), std::string::npos) << message;
        EXPECT_NE(message.find("missing keys"), std::string::npos) << message;
        EXPECT_NE(message.find("decoder.layers.1.ffn.gate_proj.weight"), std::string::npos) << message;
        EXPECT_NE(message.find("unexpected keys"), std::string::npos) << message;
        EXPECT_NE(message.find("decoder.layers.0.self_attn.extra_proj.weight"), std::string::npos) << message;
        EXPECT_NE(message.find("`decoder.layers.0.self_attn.q_proj.weight` has a shape of (32, 64) in the checkpoint, but "
                               "(64, 64) in the model."),
                  std::string::npos)
            << message;
        // Nothing else is reported.
        EXPECT_EQ(message.find("decoder.layers.2"), std::string::npos) << message;
    }
}

// Without tied embeddings final_proj.weight is required.
TEST_F(LlamaForwardTest, UntiedCheckpointWithoutFinalProjIsRejected)
{
    TempDir dir;
    Reference ref = run_reference(dir.path(), small_config(), 5, default_tokens(), {"--omit-key", "final_proj.weight"});
    try {
        load(ref.checkpoint, small_config());
        FAIL() << "an untied model loaded without final_proj.weight";
    } catch (const fairseq2::CheckpointError& error) {
        std::string message = error.what();
        EXPECT_NE(message.find(ref.checkpoint.string()), std::string::npos) << message;
        EXPECT_NE(message.find("missing keys"), std::string::npos) << message;
        EXPECT_NE(message.find("final_proj.weight"), std::string::npos) << message;
        EXPECT_EQ(message.find("unexpected keys"), std::string::npos) << message;
    }
}

}  // namespace

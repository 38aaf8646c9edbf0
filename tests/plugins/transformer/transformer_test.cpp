// The transformer (encoder-decoder) family through the real plugin: its
// presets against fairseq2's table (shared/docs/fairseq2-families.md), and
// models of tests/reference/transformer_reference.py (post-norm with
// separate source and target embeddings; pre-norm with one shared, tied
// embedding) against that script's float64 logits of padded batches and its
// own beam search, run on each source alone; the same weights as a fairseq
// (v1) translation checkpoint, loaded with no arch given.
//
// Tolerances: logits max abs diff 1e-4 (float32 against float64);
// incremental decoding within 1e-5 of a full pass, relative to the largest
// logit (float32 products of other shapes round differently); beam search: the same
// hypotheses (ids, in order), scores and step scores within 1e-4.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "fairseq2/data/tokenizers/translation_tokenizer.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/generation/seq2seq_generator.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/encoder_decoder_model.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq_checkpoint.hpp"
#include "hf_checkpoint.hpp"
#include "plugins/hf_decoder_support.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

using generation::Seq2SeqGeneratorOptions;
using generation::Seq2SeqHypothesis;
using models::EncoderDecoderModel;
using models::TransformerEncoderDecoderModel;
using test::hf_decoders::handler;
using test::hf_decoders::max_abs_diff;
using test::hf_decoders::plugin_host;

constexpr double tolerance = 1e-4;
constexpr double incremental_tolerance = 1e-5;
constexpr double score_tolerance = 1e-4;

using Ids = std::vector<std::vector<std::int64_t>>;

// --- presets ---------------------------------------------------------------------

struct PresetRow {
    const char* arch;
    std::int64_t dim, layers, heads, ffn;
    double dropout;
    const char* norm;
    std::int64_t vocab;
};

TEST(TransformerPresets, MatchTheReferenceTable)
{
    const std::vector<PresetRow> rows{
        {"base", 512, 6, 8, 2048, 0.1, "post", 32768},          {"big", 1024, 6, 16, 4096, 0.3, "post", 32768},
        {"nllb_dense_300m", 1024, 6, 16, 4096, 0.3, "pre", 256206}, {"nllb_dense_600m", 1024, 12, 16, 4096, 0.1, "pre", 256206},
        {"nllb_dense_1b", 1024, 24, 16, 8192, 0.1, "pre", 256206},  {"nllb_dense_3b", 2048, 24, 16, 8192, 0.1, "pre", 256206},
    };
    auto transformer = handler("transformer");
    ASSERT_TRUE(transformer) << "the transformer plugin did not load";
    EXPECT_EQ(transformer->default_arch(), "base");
    std::vector<std::string> archs;
    for (const auto& row : rows) {
        archs.emplace_back(row.arch);
        const json::object config = transformer->get_config(row.arch).as_object();
        SCOPED_TRACE(row.arch);
        EXPECT_EQ(config.at("model_dim").as_int64(), row.dim);
        EXPECT_EQ(config.at("num_encoder_layers").as_int64(), row.layers);
        EXPECT_EQ(config.at("num_decoder_layers").as_int64(), row.layers);
        EXPECT_EQ(config.at("num_encoder_attn_heads").as_int64(), row.heads);
        EXPECT_EQ(config.at("num_decoder_attn_heads").as_int64(), row.heads);
        EXPECT_EQ(config.at("ffn_inner_dim").as_int64(), row.ffn);
        EXPECT_DOUBLE_EQ(config.at("dropout_p").as_double(), row.dropout);
        EXPECT_EQ(config.at("norm_order").as_string(), row.norm);
        EXPECT_EQ(config.at("max_seq_len").as_int64(), 1024);
        const json::object& vocab = config.at("vocab_info").as_object();
        EXPECT_EQ(vocab.at("size").as_int64(), row.vocab);
        if (row.vocab == 256206) {
            // NLLB: pad 0, unk 1, bos 2, eos 3.
            EXPECT_EQ(vocab.at("pad_idx").as_int64(), 0);
            EXPECT_EQ(vocab.at("unk_idx").as_int64(), 1);
            EXPECT_EQ(vocab.at("bos_idx").as_int64(), 2);
            EXPECT_EQ(vocab.at("eos_idx").as_int64(), 3);
        } else {
            EXPECT_EQ(vocab.at("eos_idx").as_int64(), 1);
            EXPECT_EQ(vocab.at("pad_idx").as_int64(), 0);
            EXPECT_TRUE(vocab.at("unk_idx").is_null());
        }
    }
    std::sort(archs.begin(), archs.end());
    EXPECT_EQ(transformer->archs(), archs);
}

TEST(TransformerPresets, InvalidConfigsNameTheField)
{
    auto transformer = handler("transformer");
    json::value config = transformer->get_config("base");
    config.as_object()["norm_order"] = "sandwich";
    try {
        transformer->check_config(config);
        FAIL() << "a norm order of 'sandwich' was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'norm_order'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("sandwich"), std::string::npos) << e.what();
    }
    config = transformer->get_config("base");
    config.as_object()["source_vocab_size"] = 100;  // with shared embeddings
    EXPECT_THROW(transformer->check_config(config), ConfigError);
}

// --- the reference models ---------------------------------------------------------

struct Variant {
    const char* name;
    json::value config;
    Ids sources;
    Ids targets;
    std::vector<std::int64_t> prompt;
    Seq2SeqGeneratorOptions options;  // beam size set per check
    std::string extra_args;           // for the reference script
};

json::value small_config(const char* norm, bool shared, bool tied, json::value vocab_info, json::value source_vocab_size)
{
    return json::object{
        {"model_dim", 32},
        {"max_seq_len", 64},
        {"vocab_info", std::move(vocab_info)},
        {"source_vocab_size", std::move(source_vocab_size)},
        {"num_encoder_layers", 2},
        {"num_decoder_layers", 2},
        {"num_encoder_attn_heads", 4},
        {"num_decoder_attn_heads", 4},
        {"ffn_inner_dim", 64},
        {"norm_order", norm},
        {"dropout_p", 0.1},
        {"shared_embeddings", shared},
        {"tied_final_proj", tied},
    };
}

// fairseq's dictionary: <s> 0, <pad> 1, </s> 2, <unk> 3.
json::value fairseq_vocab(std::int64_t size)
{
    return json::object{{"size", size}, {"unk_idx", 3}, {"bos_idx", 0}, {"eos_idx", 2}, {"pad_idx", 1}};
}

// NLLB's: <pad> 0, <unk> 1, <s> 2, </s> 3.
json::value nllb_vocab(std::int64_t size)
{
    return json::object{{"size", size}, {"unk_idx", 1}, {"bos_idx", 2}, {"eos_idx", 3}, {"pad_idx", 0}};
}

// Post-norm, separate source (48) and target (64) embeddings, an untied
// final projection, fairseq's vocabulary and prompt; also written as a
// fairseq checkpoint.
const Variant& post_separate()
{
    static const Variant variant = [] {
        Variant v{"post_separate", small_config("post", false, false, fairseq_vocab(64), 48),
                  {{5, 6, 7, 8, 2}, {9, 10, 2}, {20, 21, 22, 23, 24, 25, 26, 2}},
                  {{2, 10, 11, 12}, {2, 13}, {2, 30, 31, 32, 33, 34}},
                  {2},
                  {},
                  "--eos-boost 2 --max-len-a 0 --max-len-b 10 --fairseq-out fairseq --source-lang de --target-lang en"};
        v.options.max_gen_len_a = 0.0;
        v.options.max_gen_len_b = 10;
        return v;
    }();
    return variant;
}

// Pre-norm, one embedding shared by the encoder, the decoder and the final
// projection, NLLB's vocabulary and a two-token prompt (</s> and a
// language token), with a length limit per source, a minimum length, length
// and unknown-token penalties.
const Variant& pre_shared()
{
    static const Variant variant = [] {
        Variant v{"pre_shared", small_config("pre", true, true, nllb_vocab(64), nullptr),
                  {{40, 5, 6, 7, 3}, {41, 8, 3}, {42, 20, 21, 22, 23, 24, 25, 26, 3}},
                  {{3, 50, 10, 11}, {3, 50}, {3, 50, 30, 31, 32, 33}},
                  {3, 50},
                  {},
                  "--eos-boost 1 --max-len-a 1.5 --max-len-b 2 --min-gen-len 2 --len-penalty 0.7 --unk-penalty 0.5 --hf-out hf"};
        v.options.max_gen_len_a = 1.5;
        v.options.max_gen_len_b = 2;
        v.options.min_gen_len = 2;
        v.options.len_penalty = 0.7;
        v.options.unk_penalty = 0.5;
        return v;
    }();
    return variant;
}

std::string ids_json(const Ids& ids)
{
    json::array out;
    for (const auto& seq : ids)
        out.emplace_back(json::value_from(seq));
    return json::serialize(out);
}

fs::path reference_dir(const Variant& v)
{
    const std::string args = "--config " + test::shell_quote(json::serialize(v.config)) + " --seed 11 --sources " +
                             test::shell_quote(ids_json(v.sources)) + " --targets " + test::shell_quote(ids_json(v.targets)) +
                             " --prompt " + test::shell_quote(json::serialize(json::value_from(v.prompt))) + " --beam-sizes 1,2,5 " +
                             v.extra_args + " --out";
    return test::shared_reference_dir("transformer_reference.py", args);
}

// The base preset with the variant's config on top, checked.
json::value full_config(const json::value& small)
{
    json::value config = handler("transformer")->get_config("base");
    for (const auto& [key, value] : small.as_object())
        config.as_object()[key] = value;
    return handler("transformer")->check_config(config);
}

std::shared_ptr<TransformerEncoderDecoderModel> load_reference_model(const Variant& v)
{
    auto module = handler("transformer")->load_from_path(reference_dir(v) / "model.pt", full_config(v.config), c10::kCPU, c10::kFloat);
    auto model = std::dynamic_pointer_cast<TransformerEncoderDecoderModel>(module);
    if (!model)
        throw std::runtime_error("the transformer handler did not make a TransformerEncoderDecoderModel");
    return model;
}

// The right-padded batch of `ids` and its padding mask.
std::pair<at::Tensor, nn::PaddingMask> padded(const Ids& ids, std::int64_t pad)
{
    std::int64_t longest = 0;
    std::vector<std::int64_t> lens;
    for (const auto& seq : ids) {
        lens.push_back(static_cast<std::int64_t>(seq.size()));
        longest = std::max(longest, lens.back());
    }
    at::Tensor batch = at::full({static_cast<std::int64_t>(ids.size()), longest}, pad, at::kLong);
    for (std::size_t i = 0; i < ids.size(); ++i)
        for (std::size_t j = 0; j < ids[i].size(); ++j)
            batch[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = ids[i][j];
    return {batch, nn::PaddingMask(at::tensor(lens, at::kLong), longest)};
}

at::Tensor reference_logits(const fs::path& dir)
{
    c10::IValue archive = checkpoint::read_torch_archive(dir / "logits.pt");
    return archive.toGenericDict().at("logits").toTensor();
}

// Max abs difference over the real (unpadded) target positions.
double real_positions_diff(const at::Tensor& a, const at::Tensor& b, const Ids& targets)
{
    double worst = 0.0;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        const auto n = static_cast<std::int64_t>(targets[i].size());
        worst = std::max(worst, max_abs_diff(a[static_cast<std::int64_t>(i)].narrow(0, 0, n), b[static_cast<std::int64_t>(i)].narrow(0, 0, n)));
    }
    return worst;
}

class TransformerReference : public ::testing::TestWithParam<const Variant* (*)()> {
protected:
    const Variant& variant() const { return *GetParam()(); }
};

TEST_P(TransformerReference, LogitsOfPaddedBatchesMatch)
{
    const Variant& v = variant();
    auto model = load_reference_model(v);
    const at::Tensor expected = reference_logits(reference_dir(v));
    ASSERT_GT(expected.std().item<double>(), 0.1) << "degenerate reference logits say little";

    c10::InferenceMode inference;
    const std::int64_t pad = v.config.at("vocab_info").at("pad_idx").as_int64();
    auto [source, source_mask] = padded(v.sources, pad);
    auto [target, target_mask] = padded(v.targets, pad);
    const at::Tensor logits = model->forward(source, &source_mask, target, &target_mask);
    ASSERT_EQ(logits.sizes(), expected.sizes());
    EXPECT_LE(real_positions_diff(logits, expected, v.targets), tolerance);
}

TEST_P(TransformerReference, IncrementalDecodingEqualsAFullPass)
{
    const Variant& v = variant();
    auto model = load_reference_model(v);
    c10::InferenceMode inference;
    // The longest pair alone: no padding.
    const std::vector<std::int64_t>& src = v.sources.back();
    const std::vector<std::int64_t>& tgt = v.targets.back();
    const at::Tensor source = at::tensor(src, at::kLong).unsqueeze(0);
    const at::Tensor target = at::tensor(tgt, at::kLong).unsqueeze(0);
    const at::Tensor full = model->forward(source, nullptr, target);

    const double bound = incremental_tolerance * std::max(1.0, full.abs().max().item<double>());
    models::EncoderOutput encoded = model->encode(source, nullptr);
    nn::IncrementalStateBag bag(static_cast<std::int64_t>(tgt.size()));
    for (std::size_t t = 0; t < tgt.size(); ++t) {
        const at::Tensor step = target.narrow(1, static_cast<std::int64_t>(t), 1);
        const at::Tensor logits = model->project(model->decode(step, nullptr, encoded.output, nullptr, &bag));
        bag.increment_step_nr();
        EXPECT_LE(max_abs_diff(logits.select(1, 0), full.select(1, static_cast<std::int64_t>(t))), bound) << "step " << t;
    }
}

void expect_same_hypotheses(const std::vector<Seq2SeqHypothesis>& actual, const json::array& expected, const std::string& where)
{
    ASSERT_EQ(actual.size(), expected.size()) << where;
    for (std::size_t k = 0; k < actual.size(); ++k) {
        const json::object& want = expected[k].as_object();
        SCOPED_TRACE(where + ", hypothesis " + std::to_string(k));
        EXPECT_EQ(actual[k].ids, json::value_to<std::vector<std::int64_t>>(want.at("ids")));
        EXPECT_NEAR(actual[k].score, want.at("score").to_number<double>(), score_tolerance);
        const auto steps = json::value_to<std::vector<double>>(want.at("step_scores"));
        ASSERT_EQ(actual[k].step_scores.size(), steps.size());
        for (std::size_t s = 0; s < steps.size(); ++s)
            EXPECT_NEAR(actual[k].step_scores[s], steps[s], score_tolerance) << "step " << s;
    }
}

// The batch of all sources, padded, gives each the hypotheses the reference
// finds for it alone.
TEST_P(TransformerReference, BeamSearchMatchesTheReference)
{
    const Variant& v = variant();
    auto model = load_reference_model(v);
    const json::value beams = test::parse_json(test::read_file(reference_dir(v) / "beam.json"));
    std::size_t lengths_seen = 0;
    for (const std::int64_t beam : {1, 2, 5}) {
        Seq2SeqGeneratorOptions options = v.options;
        options.beam_size = beam;
        const generation::Seq2SeqResult result = generation::generate_seq2seq(*model, v.sources, v.prompt, options);
        const json::array& expected = beams.at("results").at(std::to_string(beam)).as_array();
        ASSERT_EQ(result.hypotheses.size(), v.sources.size());
        for (std::size_t i = 0; i < v.sources.size(); ++i) {
            expect_same_hypotheses(result.hypotheses[i], expected[i].as_array(),
                                   "beam " + std::to_string(beam) + ", source " + std::to_string(i));
            for (const auto& h : result.hypotheses[i])
                lengths_seen |= std::size_t{1} << std::min<std::size_t>(h.ids.size(), 30);
        }
    }
    // Hypotheses ended at several lengths: EOS was chosen, not only forced.
    EXPECT_GE(__builtin_popcountll(lengths_seen), 3);
}

TEST_P(TransformerReference, NbestKeepsTheBestAndEachSourceIsIndependentOfItsBatch)
{
    const Variant& v = variant();
    auto model = load_reference_model(v);
    Seq2SeqGeneratorOptions options = v.options;
    options.beam_size = 5;
    options.nbest = 2;
    const auto batch = generation::generate_seq2seq(*model, v.sources, v.prompt, options);
    for (std::size_t i = 0; i < v.sources.size(); ++i) {
        const auto alone = generation::generate_seq2seq(*model, {v.sources[i]}, v.prompt, options);
        ASSERT_EQ(batch.hypotheses[i].size(), 2U);
        ASSERT_EQ(alone.hypotheses[0].size(), 2U);
        for (std::size_t k = 0; k < 2; ++k) {
            EXPECT_EQ(batch.hypotheses[i][k].ids, alone.hypotheses[0][k].ids) << "source " << i;
            EXPECT_NEAR(batch.hypotheses[i][k].score, alone.hypotheses[0][k].score, 1e-5);
        }
        EXPECT_GE(batch.hypotheses[i][0].score, batch.hypotheses[i][1].score);
    }
}

const Variant* post_separate_variant()
{
    return &post_separate();
}

const Variant* pre_shared_variant()
{
    return &pre_shared();
}

INSTANTIATE_TEST_SUITE_P(Variants, TransformerReference, ::testing::Values(&post_separate_variant, &pre_shared_variant),
                         [](const auto& info) { return std::string(info.param()->name); });

// --- generation options and errors --------------------------------------------------

TEST(Seq2SeqGenerator, RefusesBadInputWithOneClearError)
{
    auto model = load_reference_model(post_separate());
    Seq2SeqGeneratorOptions options;
    const auto message = [&](const Ids& sources, const std::vector<std::int64_t>& prompt, const Seq2SeqGeneratorOptions& o) {
        try {
            generation::generate_seq2seq(*model, sources, prompt, o);
        } catch (const InvalidArgumentError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message({{5, 2}, {}}, {2}, options).find("Source 1 is empty"), std::string::npos);
    EXPECT_NE(message({{5, 2}}, {}, options).find("prompt is empty"), std::string::npos);
    EXPECT_NE(message({{5, 2}}, {64}, options).find("outside the target vocabulary"), std::string::npos);
    EXPECT_NE(message({{5, 48}}, {2}, options).find("outside the embedding table (0 to 47)"), std::string::npos);
    options.beam_size = 0;
    EXPECT_NE(message({{5, 2}}, {2}, options).find("beam size must be at least 1"), std::string::npos);
    options.beam_size = 2;
    options.nbest = 3;
    EXPECT_NE(message({{5, 2}}, {2}, options).find("nbest (3) must not exceed the beam size (2)"), std::string::npos);
}

TEST(Seq2SeqGenerator, SamplingIsSeededAndEndsWithEos)
{
    auto model = load_reference_model(post_separate());
    Seq2SeqGeneratorOptions options;
    options.beam_search = false;
    options.max_gen_len_a = 0.0;
    options.max_gen_len_b = 10;
    options.top_p = 0.9;
    options.seed = 3;
    const Ids sources = post_separate().sources;
    const auto first = generation::generate_seq2seq(*model, sources, {2}, options);
    const auto second = generation::generate_seq2seq(*model, sources, {2}, options);
    for (std::size_t i = 0; i < sources.size(); ++i) {
        ASSERT_EQ(first.hypotheses[i].size(), 1U);
        EXPECT_EQ(first.hypotheses[i][0].ids, second.hypotheses[i][0].ids);
        EXPECT_EQ(first.hypotheses[i][0].ids.back(), 2);
        EXPECT_LE(first.hypotheses[i][0].ids.size(), 10U);
        for (const std::int64_t id : first.hypotheses[i][0].ids)
            EXPECT_NE(id, 1) << "the pad token was sampled";
    }
}

// --- fairseq (v1) checkpoints -------------------------------------------------------

TEST(FairseqCheckpoint, LoadsWithNoArchGivenAndMatchesTheReference)
{
    const Variant& v = post_separate();
    const fs::path dir = reference_dir(v);
    models::ModelHub hub(plugin_host()->context());
    models::OpenedCheckpoint opened = hub.open_checkpoint(dir / "fairseq" / "checkpoint.pt");
    ASSERT_EQ(opened.handler->family(), "transformer");

    // The config fairseq's args describe, vocabulary sizes from the tables.
    const json::object& config = opened.config.as_object();
    EXPECT_EQ(config.at("model_dim").as_int64(), 32);
    EXPECT_EQ(config.at("num_encoder_layers").as_int64(), 2);
    EXPECT_EQ(config.at("num_decoder_attn_heads").as_int64(), 4);
    EXPECT_EQ(config.at("ffn_inner_dim").as_int64(), 64);
    EXPECT_EQ(config.at("max_seq_len").as_int64(), 64);
    EXPECT_EQ(config.at("norm_order").as_string(), "post");
    EXPECT_FALSE(config.at("shared_embeddings").as_bool());
    EXPECT_FALSE(config.at("tied_final_proj").as_bool());
    EXPECT_EQ(config.at("source_vocab_size").as_int64(), 48);
    EXPECT_EQ(config.at("vocab_info"), fairseq_vocab(64));

    // What the checkpoint holds besides its tensors; never its optimizer state.
    EXPECT_TRUE(opened.checkpoint.extras.contains("args"));
    EXPECT_TRUE(opened.checkpoint.extras.contains("optimizer_history"));
    EXPECT_FALSE(opened.checkpoint.extras.contains("last_optimizer_state"));
    EXPECT_EQ(opened.checkpoint.extras.at("args").at("source_lang"), "de");

    auto module = opened.handler->load_from_checkpoint(std::move(opened.checkpoint), opened.config, c10::kCPU, c10::kFloat);
    auto model = std::dynamic_pointer_cast<TransformerEncoderDecoderModel>(module);
    ASSERT_TRUE(model);
    c10::InferenceMode inference;
    auto [source, source_mask] = padded(v.sources, 1);
    auto [target, target_mask] = padded(v.targets, 1);
    EXPECT_LE(real_positions_diff(model->forward(source, &source_mask, target, &target_mask), reference_logits(dir), v.targets), tolerance);

    Seq2SeqGeneratorOptions options = v.options;
    options.beam_size = 5;
    const auto result = generation::generate_seq2seq(*model, v.sources, v.prompt, options);
    const json::value beams = test::parse_json(test::read_file(dir / "beam.json"));
    for (std::size_t i = 0; i < v.sources.size(); ++i)
        expect_same_hypotheses(result.hypotheses[i], beams.at("results").at("5").at(i).as_array(), "source " + std::to_string(i));
}

// fairseq's own NLLB checkpoints (what NLLB's cards point at) keep fairseq's
// dictionary order in the first four embedding rows, and NLLB-100's one row
// too many; loaded with an NLLB arch, they match the NLLB-layout model.
TEST(FairseqCheckpoint, AnNllbCheckpointInFairseqsLayoutLoadsAsNllb)
{
    const Variant& v = pre_shared();
    const fs::path dir = reference_dir(v);
    c10::IValue archive = checkpoint::read_torch_archive(dir / "model.pt");
    const checkpoint::StateDict fs2 = checkpoint::extract_state_dict(archive, "model.pt");

    // The same weights under fairseq's names, as fairseq saves NLLB.
    const checkpoint::KeyMap to_fairseq = {
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.self_attn\.output_proj\.)", R"(\1.layers.\2.self_attn.out_proj.)"},
        {R"(^decoder\.layers\.([0-9]+)\.encoder_decoder_attn\.output_proj\.)", R"(decoder.layers.\1.encoder_attn.out_proj.)"},
        {R"(^decoder\.layers\.([0-9]+)\.encoder_decoder_attn_layer_norm\.)", R"(decoder.layers.\1.encoder_attn_layer_norm.)"},
        {R"(^decoder\.layers\.([0-9]+)\.encoder_decoder_attn\.)", R"(decoder.layers.\1.encoder_attn.)"},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.ffn\.inner_proj\.)", R"(\1.layers.\2.fc1.)"},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.ffn\.output_proj\.)", R"(\1.layers.\2.fc2.)"},
        {R"(^(encoder|decoder)\.layers\.([0-9]+)\.ffn_layer_norm\.)", R"(\1.layers.\2.final_layer_norm.)"},
    };
    checkpoint::StateDict layers = fs2;
    for (const char* key : {"encoder_frontend.embed.weight", "decoder_frontend.embed.weight", "final_proj.weight"})
        layers.erase(key);
    layers = checkpoint::convert_state_dict(std::move(layers), to_fairseq);
    // fairseq's rows: <s> <pad> </s> <unk>, then one row NLLB-100 has too many.
    const at::Tensor nllb = fs2.at("decoder_frontend.embed.weight");
    at::Tensor rows = nllb.clone();
    rows.narrow(0, 0, 4).copy_(nllb.index_select(0, at::tensor(std::vector<std::int64_t>{2, 0, 3, 1}, at::kLong)));
    rows = at::cat({rows, at::randn({1, nllb.size(1)})});
    c10::impl::GenericDict model(c10::StringType::get(), c10::TensorType::get());
    for (const auto& [key, tensor] : layers)
        model.insert(key, tensor);
    for (const char* key : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "decoder.output_projection.weight"})
        model.insert(key, rows);
    model.insert("encoder.version", at::tensor({3.0F}));
    model.insert("decoder.embed_positions._float_tensor", at::zeros({1}));
    c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
    root.insert("model", model);
    test::TempDir temp;
    checkpoint::write_torch_archive(temp / "nllb.pt", root);

    auto module = handler("transformer")->load_from_path(temp / "nllb.pt", full_config(v.config), c10::kCPU, c10::kFloat);
    auto loaded = std::dynamic_pointer_cast<TransformerEncoderDecoderModel>(module);
    ASSERT_TRUE(loaded);
    c10::InferenceMode inference;
    auto [source, source_mask] = padded(v.sources, 0);
    auto [target, target_mask] = padded(v.targets, 0);
    EXPECT_LE(real_positions_diff(loaded->forward(source, &source_mask, target, &target_mask), reference_logits(dir), v.targets), tolerance);
    // One tensor still serves the encoder, the decoder and the projection.
    EXPECT_TRUE(loaded->encoder_frontend->embed->weight.is_same(loaded->decoder_frontend->embed->weight));
}

TEST(FairseqCheckpoint, OptimizerStateIsNeverRead)
{
    const fs::path file = reference_dir(post_separate()) / "fairseq" / "checkpoint.pt";
    std::uint64_t everything = 0;
    const c10::IValue all = checkpoint::read_torch_archive(file, [&](std::uint64_t bytes) { everything += bytes; });
    ASSERT_TRUE(all.toGenericDict().contains("last_optimizer_state"));

    std::uint64_t read = 0;
    const c10::IValue model_only = checkpoint::read_torch_checkpoint(file, [&](std::uint64_t bytes) { read += bytes; });
    const c10::impl::GenericDict root = model_only.toGenericDict();
    EXPECT_FALSE(root.contains("last_optimizer_state"));
    EXPECT_TRUE(root.contains("args"));
    EXPECT_TRUE(root.contains("extra_state"));

    // Exactly the model's storages were read: Adam keeps two more tensors
    // per parameter, so they are about a third of the whole.
    std::uint64_t model_bytes = 0;
    std::set<const void*> seen;
    for (const auto& entry : root.at("model").toGenericDict()) {
        const at::Tensor& tensor = entry.value().toTensor();
        if (seen.insert(tensor.storage().unsafeGetStorageImpl()).second)
            model_bytes += tensor.storage().nbytes();
        EXPECT_NE(tensor.data_ptr(), nullptr) << entry.key().toStringRef();
    }
    EXPECT_EQ(read, model_bytes);
    EXPECT_LT(read * 5, everything * 2);
}

TEST(FairseqCheckpoint, HyperparametersItCannotBuildAreRefusedByName)
{
    const auto refusal = [](json::object args) {
        args.emplace("arch", "transformer");
        try {
            models::transformer::transformer_config_from_fairseq(args, 64, 64, "/data/checkpoint.pt");
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::string message = refusal({{"encoder_learned_pos", true}});
    EXPECT_NE(message.find("'encoder_learned_pos'"), std::string::npos) << message;
    EXPECT_NE(message.find("/data/checkpoint.pt"), std::string::npos) << message;
    message = refusal({{"activation_fn", "gelu"}});
    EXPECT_NE(message.find("'activation_fn'"), std::string::npos) << message;
    EXPECT_NE(message.find("gelu"), std::string::npos) << message;
    message = refusal({{"encoder_embed_dim", 512}, {"decoder_embed_dim", 256}});
    EXPECT_NE(message.find("'decoder_embed_dim'"), std::string::npos) << message;
    message = refusal({{"encoder_normalize_before", true}});
    EXPECT_NE(message.find("'decoder_normalize_before'"), std::string::npos) << message;
    message = refusal({{"encoder_layers", "six"}});
    EXPECT_NE(message.find("'encoder_layers'"), std::string::npos) << message;

    json::object lstm{{"arch", "lstm"}};
    EXPECT_THROW(models::transformer::transformer_config_from_fairseq(lstm, 64, 64, "x.pt"), ConfigError);

    // fairseq's defaults fill what args leave out.
    const auto config = models::transformer::transformer_config_from_fairseq(json::object{{"arch", "transformer"}}, 100, 120, "x.pt");
    EXPECT_EQ(config.model_dim, 512);
    EXPECT_EQ(config.num_encoder_layers, 6);
    EXPECT_EQ(config.norm_order, "post");
    EXPECT_EQ(config.vocab_info.size, 120);
    EXPECT_EQ(config.source_vocab_size, 100);
    EXPECT_FALSE(config.shared_embeddings);
}

// --- Hugging Face M2M100 (NLLB) directories ---------------------------------------

TEST(HuggingFaceCheckpoint, AnM2M100DirectoryLoadsWithNoFamilyOrArch)
{
    const Variant& v = pre_shared();
    const fs::path dir = reference_dir(v);
    models::ModelHub hub(plugin_host()->context());
    models::OpenedCheckpoint opened = hub.open_checkpoint(dir / "hf");
    ASSERT_EQ(opened.handler->family(), "transformer");
    // The config of config.json, in NLLB's vocabulary layout.
    EXPECT_EQ(opened.config, full_config(v.config));

    auto module = opened.handler->load_from_checkpoint(std::move(opened.checkpoint), opened.config, c10::kCPU, c10::kFloat);
    auto model = std::dynamic_pointer_cast<TransformerEncoderDecoderModel>(module);
    ASSERT_TRUE(model);
    c10::InferenceMode inference;
    auto [source, source_mask] = padded(v.sources, 0);
    auto [target, target_mask] = padded(v.targets, 0);
    EXPECT_LE(real_positions_diff(model->forward(source, &source_mask, target, &target_mask), reference_logits(dir), v.targets), tolerance);
}

TEST(HuggingFaceCheckpoint, ExportWritesTransformersLayoutAndReloads)
{
    const Variant& v = pre_shared();
    const fs::path dir = reference_dir(v);
    auto model = load_reference_model(v);
    test::TempDir temp;
    const fs::path out = temp / "exported";
    handler("transformer")->export_checkpoint(*model, full_config(v.config), "hf", out);

    // config.json as the reference writes it (the fields transformers reads).
    const json::value written = test::parse_json(test::read_file(out / "config.json"));
    const json::value expected = test::parse_json(test::read_file(dir / "hf" / "config.json"));
    for (const char* key : {"model_type", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
                            "encoder_ffn_dim", "decoder_ffn_dim", "vocab_size", "max_position_embeddings", "scale_embedding",
                            "activation_function", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
                            "tie_word_embeddings", "architectures"})
        EXPECT_EQ(written.at(key), expected.at(key)) << key;

    // The tensors of the reference's pytorch_model.bin under the same names
    // (the shared embedding once, in transformers' row order).
    const checkpoint::LoadedCheckpoint ours = checkpoint::load_checkpoint(out);
    const c10::IValue theirs = checkpoint::read_torch_archive(dir / "hf" / "pytorch_model.bin");
    std::size_t compared = 0;
    for (const auto& entry : theirs.toGenericDict()) {
        const std::string key = entry.key().toStringRef();
        if (key == "model.encoder.embed_tokens.weight" || key == "model.decoder.embed_tokens.weight" || key == "lm_head.weight")
            continue;  // aliases of model.shared.weight
        auto it = ours.state_dict.find(key);
        ASSERT_NE(it, ours.state_dict.end()) << "the export lacks " << key;
        EXPECT_TRUE(at::equal(it->second, entry.value().toTensor())) << key;
        ++compared;
    }
    EXPECT_EQ(compared, ours.state_dict.size());

    // And it loads back to the same logits.
    models::ModelHub hub(plugin_host()->context());
    auto reloaded = std::dynamic_pointer_cast<TransformerEncoderDecoderModel>(hub.load_model_from_path(out, c10::kCPU, c10::kFloat));
    ASSERT_TRUE(reloaded);
    c10::InferenceMode inference;
    auto [source, source_mask] = padded(v.sources, 0);
    auto [target, target_mask] = padded(v.targets, 0);
    // Within float32 rounding: the memory-mapped weights are multiplied one
    // projection at a time, the loaded ones fused.
    const at::Tensor expected_logits = model->forward(source, &source_mask, target, &target_mask);
    EXPECT_LE(max_abs_diff(reloaded->forward(source, &source_mask, target, &target_mask), expected_logits),
              incremental_tolerance * std::max(1.0, expected_logits.abs().max().item<double>()));
}

TEST(HuggingFaceCheckpoint, ModelsM2M100CannotHoldAreRefused)
{
    auto model = load_reference_model(post_separate());
    test::TempDir temp;
    try {
        handler("transformer")->export_checkpoint(*model, full_config(post_separate().config), "hf", temp / "out");
        FAIL() << "a post-norm model was exported as M2M100";
    } catch (const InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("post-norm"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(temp / "out" / "model.safetensors"));

    json::value config = test::parse_json(test::read_file(reference_dir(pre_shared()) / "hf" / "config.json"));
    config.as_object()["activation_function"] = "gelu";
    try {
        models::transformer::transformer_config_from_hf(config, "/data/config.json");
        FAIL() << "gelu was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'activation_function'"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("/data/config.json"), std::string::npos) << e.what();
    }
}

// --- fairseq dictionaries ----------------------------------------------------------

TEST(FairseqDictionary, ReadsSymbolsInFileOrderAndPadsAsFairseq)
{
    test::TempDir temp;
    test::write_file(temp / "dict.txt", "hello 10\nworld 7\nsplit word 3\nhello 1 #fairseq:overwrite\n");
    auto dict = tokenizers::load_fairseq_dictionary(temp / "dict.txt");
    // <s> <pad> </s> <unk>, 3 symbols, 1 madeupword to reach 8.
    ASSERT_EQ(dict->vocab_size(), 8);
    EXPECT_EQ(dict->id_to_token(0), "<s>");
    EXPECT_EQ(dict->id_to_token(1), "<pad>");
    EXPECT_EQ(dict->id_to_token(2), "</s>");
    EXPECT_EQ(dict->id_to_token(3), "<unk>");
    EXPECT_EQ(dict->token_to_id("hello"), 4);
    EXPECT_EQ(dict->token_to_id("world"), 5);
    EXPECT_EQ(dict->token_to_id("split word"), 6);  // split at the last space
    EXPECT_EQ(dict->id_to_token(7), "madeupword0000");
    const VocabularyInfo info = dict->vocab_info();
    EXPECT_EQ(info.bos_idx, 0);
    EXPECT_EQ(info.pad_idx, 1);
    EXPECT_EQ(info.eos_idx, 2);
    EXPECT_EQ(info.unk_idx, 3);

    // fairseq's encode_line: symbols, unknown ones as <unk>, then </s>.
    EXPECT_EQ(dict->encode("  hello   world nope "), (std::vector<std::int64_t>{4, 5, 3, 2}));
    EXPECT_EQ(dict->decode(std::vector<std::int64_t>{4, 3, 5, 2}, /*skip_special=*/true), "hello <unk> world");
    EXPECT_EQ(dict->decode(std::vector<std::int64_t>{0, 4, 2}), "<s> hello </s>");

    // An already padded file (as fairseq writes them) gains nothing.
    test::write_file(temp / "padded.txt", "a 1\nb 1\nc 1\nd 1\n");
    EXPECT_EQ(tokenizers::load_fairseq_dictionary(temp / "padded.txt")->vocab_size(), 8);
}

TEST(FairseqDictionary, MalformedLinesNameTheFileAndLine)
{
    test::TempDir temp;
    const auto error = [&](const std::string& content) {
        test::write_file(temp / "dict.txt", content);
        try {
            tokenizers::load_fairseq_dictionary(temp / "dict.txt");
        } catch (const tokenizers::TokenizerError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    std::string message = error("a 1\nb 2\na 3\n");
    EXPECT_NE(message.find("dict.txt' is invalid at line 3"), std::string::npos) << message;
    EXPECT_NE(message.find("'a' is already in the dictionary (id 4)"), std::string::npos) << message;
    message = error("a 1\nlonely\n");
    EXPECT_NE(message.find("line 2"), std::string::npos) << message;
    EXPECT_NE(message.find("expected 'SYMBOL COUNT'"), std::string::npos) << message;
    message = error("a many\n");
    EXPECT_NE(message.find("the count 'many' is not an integer"), std::string::npos) << message;
    EXPECT_THROW(tokenizers::load_fairseq_dictionary(temp / "missing.txt"), tokenizers::TokenizerError);
}

// --- NLLB's tokenizer -------------------------------------------------------------

// The files of nllb_tokenizer_reference.py: a small SentencePiece model and
// the ids Python's sentencepiece gives with NLLB's layout.
fs::path nllb_tokenizer_files()
{
    return test::shared_reference_dir("nllb_tokenizer_reference.py");
}

json::object nllb_tokenizer_config(const json::value& reference, const char* default_lang)
{
    return json::object{{"langs", reference.at("langs")}, {"default_lang", default_lang}};
}

std::shared_ptr<tokenizers::Tokenizer> load_nllb_tokenizer(const json::value& reference)
{
    auto tokenizer_handler = plugin_host()->context().get_registry<tokenizers::TokenizerHandler>().get("transformer");
    if (!tokenizer_handler)
        throw std::runtime_error("the transformer plugin registered no tokenizer handler");
    return tokenizer_handler->load(nllb_tokenizer_files() / "spm.model", nllb_tokenizer_config(reference, "eng_Latn"));
}

TEST(NllbTokenizer, PlacesLanguageTokensAsTheReference)
{
    const json::value reference = test::parse_json(test::read_file(nllb_tokenizer_files() / "reference.json"));
    auto tokenizer = load_nllb_tokenizer(reference);
    auto translation = std::dynamic_pointer_cast<tokenizers::TranslationTokenizer>(tokenizer);
    ASSERT_TRUE(translation) << "the NLLB tokenizer is no TranslationTokenizer";

    EXPECT_EQ(tokenizer->vocab_size(), reference.at("vocab_size").as_int64());
    const VocabularyInfo info = tokenizer->vocab_info();
    EXPECT_EQ(info.pad_idx, 0);
    EXPECT_EQ(info.unk_idx, 1);
    EXPECT_EQ(info.bos_idx, 2);
    EXPECT_EQ(info.eos_idx, 3);
    EXPECT_EQ(tokenizer->id_to_token(0), "<pad>");
    EXPECT_EQ(tokenizer->id_to_token(3), "</s>");
    for (const auto& [token, id] : reference.at("controls").as_object()) {
        EXPECT_EQ(tokenizer->token_to_id(token), id.as_int64()) << token;
        EXPECT_EQ(tokenizer->id_to_token(id.as_int64()), std::string(token));
    }
    EXPECT_EQ(translation->languages().size(), 16U);
    EXPECT_EQ(translation->default_language(), "eng_Latn");

    for (const auto& item : reference.at("cases").as_array()) {
        const std::string text(item.at("text").as_string());
        const std::string lang(item.at("lang").as_string());
        const auto ids = json::value_to<std::vector<std::int64_t>>(item.at("source_ids"));
        EXPECT_EQ(translation->encode_source(text, lang), ids) << text;
        EXPECT_EQ(translation->decode_target(ids), std::string(item.at("decoded").as_string())) << text;
        // Without skipping, the language token shows.
        EXPECT_EQ(tokenizer->decode(ids).rfind("__" + lang + "__", 0), 0U) << tokenizer->decode(ids);
    }
    for (const auto& [lang, ids] : reference.at("target_prefix").as_object())
        EXPECT_EQ(translation->target_prefix(std::string(lang)), json::value_to<std::vector<std::int64_t>>(ids)) << lang;

    try {
        translation->encode_source("cat", "xxx_Latn");
        FAIL() << "an unknown language was accepted";
    } catch (const InvalidArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("'xxx_Latn' is not one of the 16 languages"), std::string::npos) << e.what();
    }
}

TEST(NllbTokenizer, BadConfigsAreOneClearError)
{
    const json::value reference = test::parse_json(test::read_file(nllb_tokenizer_files() / "reference.json"));
    auto tokenizer_handler = plugin_host()->context().get_registry<tokenizers::TokenizerHandler>().get("transformer");
    const fs::path model = nllb_tokenizer_files() / "spm.model";
    EXPECT_THROW(tokenizer_handler->load(model, json::object{{"langs", "eng_Latn"}, {"default_lang", ""}}), ConfigError);
    EXPECT_THROW(tokenizer_handler->load(model, json::object{{"langs", json::array{"a", "a"}}, {"default_lang", ""}}), ConfigError);
    EXPECT_THROW(tokenizer_handler->load(model, nllb_tokenizer_config(reference, "zzz_Latn")), ConfigError);
    EXPECT_THROW(tokenizer_handler->load(model, json::object{{"languages", json::array{}}}), ConfigError);
}

// --- the translate command ---------------------------------------------------------

// `fairseq2 --log-level warn translate ARGS` with the build's plugins, fed `input`.
test::CommandResult translate(const std::string& args, const std::string& input = {})
{
    const std::string feed = input.empty() ? std::string("</dev/null ") : "printf %s " + test::shell_quote(input) + " | ";
    return test::run_command(feed + "FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= " + test::cli() + " --plugin-dir " +
                             test::shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) + " --log-level warn translate " + args);
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// The reference's translations of the fairseq sources as symbols, without
// the final </s>.
std::vector<std::vector<std::string>> reference_translations(const fs::path& dir, int beam)
{
    const json::value expected = test::parse_json(test::read_file(dir / "fairseq" / "translation.json"));
    std::vector<std::vector<std::string>> out;
    for (const auto& source : expected.at("results").at(std::to_string(beam)).as_array()) {
        std::vector<std::string> hypotheses;
        for (const auto& h : source.as_array()) {
            std::string tokens(h.at("tokens").as_string());
            if (tokens.ends_with("</s>"))
                tokens.erase(tokens.size() - std::min<std::size_t>(tokens.size(), tokens == "</s>" ? 4 : 5));
            hypotheses.push_back(tokens);
        }
        out.push_back(hypotheses);
    }
    return out;
}

// The fairseq sources as dictionary symbols, one line each, without </s>.
std::string source_lines(const Variant& v)
{
    std::string text;
    for (const auto& source : v.sources) {
        for (std::size_t i = 0; i + 1 < source.size(); ++i)
            text.append(i == 0 ? "" : " ").append("s").append(std::to_string(source[i]));
        text += "\n";
    }
    return text;
}

TEST(TranslateCli, TranslatesAFairseqCheckpointWithItsDictionaries)
{
    const Variant& v = post_separate();
    const fs::path dir = reference_dir(v);
    const std::string checkpoint = test::shell_quote((dir / "fairseq" / "checkpoint.pt").string());
    const auto expected = reference_translations(dir, 5);

    // Each line of standard input, as one batch.
    test::CommandResult result = translate("--checkpoint " + checkpoint + " --beam 5 --max-len-a 0 --max-len-b 10", source_lines(v));
    ASSERT_EQ(result.exit_code, 0) << test::describe(result);
    const std::vector<std::string> lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), v.sources.size()) << result.out;
    for (std::size_t i = 0; i < lines.size(); ++i)
        EXPECT_EQ(lines[i], expected[i][0]) << "source " << i;

    // TEXT, with the two best and their scores as JSON.
    const std::string first = lines_of(source_lines(v)).front();
    result = translate("--checkpoint " + checkpoint + " --beam 5 --nbest 2 --max-len-a 0 --max-len-b 10 --json " + test::shell_quote(first));
    ASSERT_EQ(result.exit_code, 0) << test::describe(result);
    const json::value object = test::parse_json(lines_of(result.out).front());
    const json::array& hypotheses = object.at("hypotheses").as_array();
    ASSERT_EQ(hypotheses.size(), 2U);
    const json::value beams = test::parse_json(test::read_file(dir / "beam.json"));
    for (std::size_t k = 0; k < 2; ++k) {
        EXPECT_EQ(hypotheses[k].at("text").as_string(), expected[0][k]);
        const json::value& want = beams.at("results").at("5").at(0).at(k);
        EXPECT_EQ(hypotheses[k].at("ids"), want.at("ids"));
        EXPECT_NEAR(hypotheses[k].at("score").to_number<double>(), want.at("score").to_number<double>(), score_tolerance);
    }

    // Greedy is beam size 1.
    result = translate("--checkpoint " + checkpoint + " --greedy --max-len-a 0 --max-len-b 10 " + test::shell_quote(first));
    ASSERT_EQ(result.exit_code, 0) << test::describe(result);
    EXPECT_EQ(lines_of(result.out), std::vector<std::string>{reference_translations(dir, 1)[0][0]});
}

TEST(TranslateCli, DictionariesAreFoundOrNamed)
{
    const Variant& v = post_separate();
    const fs::path dir = reference_dir(v);
    test::TempDir temp;
    // The checkpoint alone, without its data-bin folder.
    fs::copy_file(dir / "fairseq" / "checkpoint.pt", temp / "checkpoint.pt");
    const std::string checkpoint = test::shell_quote((temp / "checkpoint.pt").string());
    test::CommandResult result = translate("--checkpoint " + checkpoint + " 's5 s6'");
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.err.find("'dict.de.txt' is neither in"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("--source-dict"), std::string::npos) << result.err;

    // Given explicitly, they work.
    const fs::path data = dir / "fairseq" / "data-bin";
    result = translate("--checkpoint " + checkpoint + " --max-len-a 0 --max-len-b 10 --source-dict " +
                       test::shell_quote((data / "dict.de.txt").string()) + " --target-dict " +
                       test::shell_quote((data / "dict.en.txt").string()) + " " + test::shell_quote(lines_of(source_lines(v)).front()));
    ASSERT_EQ(result.exit_code, 0) << test::describe(result);
    EXPECT_EQ(lines_of(result.out), std::vector<std::string>{reference_translations(dir, 5)[0][0]});

    // A dictionary of another model is refused by its size.
    result = translate("--checkpoint " + checkpoint + " --source-dict " + test::shell_quote((data / "dict.de.txt").string()) +
                       " --target-dict " + test::shell_quote((data / "dict.de.txt").string()) + " 's5'");
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.err.find("target vocabulary of the tokenizer has 48 symbols"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("do not belong together"), std::string::npos) << result.err;
}

TEST(TranslateCli, SourceIdsAndTheWrongCommand)
{
    const Variant& v = post_separate();
    const fs::path dir = reference_dir(v);
    const std::string checkpoint = test::shell_quote((dir / "model.pt").string());
    const std::string config = " --family transformer --set model_dim=32 --set max_seq_len=64 --set num_encoder_layers=2 "
                               "--set num_decoder_layers=2 --set num_encoder_attn_heads=4 --set num_decoder_attn_heads=4 "
                               "--set ffn_inner_dim=64 --set shared_embeddings=false --set tied_final_proj=false --set source_vocab_size=48 "
                               "--set vocab_info.size=64 --set vocab_info.unk_idx=3 --set vocab_info.bos_idx=0 --set vocab_info.eos_idx=2 "
                               "--set vocab_info.pad_idx=1";
    std::string ids;
    for (const auto id : v.sources[1])
        ids.append(ids.empty() ? "" : " ").append(std::to_string(id));
    test::CommandResult result =
        translate("--checkpoint " + checkpoint + config + " --max-len-a 0 --max-len-b 10 --source-ids " + test::shell_quote(ids));
    ASSERT_EQ(result.exit_code, 0) << test::describe(result);
    const json::value beams = test::parse_json(test::read_file(dir / "beam.json"));
    std::string want;
    for (const auto& id : beams.at("results").at("5").at(1).at(0).at("ids").as_array())
        want.append(want.empty() ? "" : " ").append(std::to_string(id.as_int64()));
    EXPECT_EQ(lines_of(result.out), std::vector<std::string>{want});

    // generate refuses an encoder-decoder model and names translate.
    result = test::run_command("FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= " + test::cli() + " --plugin-dir " +
                               test::shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) + " --log-level warn generate --checkpoint " + checkpoint +
                               config);
    EXPECT_NE(result.exit_code, 0);
    EXPECT_NE(result.err.find("use `fairseq2 translate`"), std::string::npos) << result.err;
}

// A user card with NLLB's layout: the pre-norm shared model of
// pre_shared()'s config, the small NLLB tokenizer with 16 languages; its
// sources are the tokenizer reference's texts in German (the card's
// default), translated into French, checked against the model reference's
// beam search of those very ids.
TEST(TranslateCli, TranslatesTextWithACardAndItsNllbTokenizer)
{
    const json::value tokens = test::parse_json(test::read_file(nllb_tokenizer_files() / "reference.json"));
    const std::int64_t deu = tokens.at("controls").at("__deu_Latn__").as_int64();
    Variant v = pre_shared();
    v.name = "nllb_tokenized";
    v.sources.clear();
    std::vector<std::string> texts;
    for (const auto& item : tokens.at("cases").as_array()) {
        auto ids = json::value_to<std::vector<std::int64_t>>(item.at("source_ids"));
        ids.front() = deu;
        v.sources.push_back(ids);
        texts.emplace_back(item.at("text").as_string());
    }
    v.targets.resize(v.sources.size(), std::vector<std::int64_t>{3, 47});
    v.prompt = json::value_to<std::vector<std::int64_t>>(tokens.at("target_prefix").at("fra_Latn"));
    const fs::path dir = reference_dir(v);

    test::TempDir assets;
    fs::create_directories(assets / "user");
    fs::create_directories(assets / "system");
    std::string card = "name: tiny_nllb\nmodel_family: transformer\nmodel_arch: nllb_dense_600m\nmodel_config:\n";
    for (const char* key : {"model_dim", "max_seq_len", "num_encoder_layers", "num_decoder_layers", "num_encoder_attn_heads",
                            "num_decoder_attn_heads", "ffn_inner_dim"})
        card.append("  ").append(key).append(": ").append(json::serialize(v.config.at(key))).append("\n");
    card.append("  vocab_info:\n    size: 64\n");
    card.append("checkpoint: ").append((dir / "model.pt").string()).append("\n");
    card.append("tokenizer: ").append((nllb_tokenizer_files() / "spm.model").string()).append("\n");
    card.append("tokenizer_config:\n  default_lang: deu_Latn\n  langs: ").append(json::serialize(tokens.at("langs"))).append("\n");
    test::write_file(assets / "user" / "tiny_nllb.yaml", card);

    std::string input;
    for (const auto& text : texts)
        input.append(text).append("\n");
    const std::string command = "printf %s " + test::shell_quote(input) + " | FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_USER_ASSET_DIR=" +
                                test::shell_quote((assets / "user").string()) + " FAIRSEQ2_ASSET_DIR=" +
                                test::shell_quote((assets / "system").string()) + " FAIRSEQ2_CACHE_DIR=" +
                                test::shell_quote((assets / "cache").string()) + " " + test::cli() + " --plugin-dir " +
                                test::shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) +
                                " --log-level warn translate --model tiny_nllb --tgt-lang fra_Latn --beam 5 --nbest 5 --max-len-a 1.5 "
                                "--max-len-b 2 --min-len 2 --len-penalty 0.7 --unk-penalty 0.5 --json";
    const test::CommandResult result = test::run_command(command);
    ASSERT_EQ(result.exit_code, 0) << test::describe(result);
    const std::vector<std::string> lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), texts.size()) << result.out;

    const json::value beams = test::parse_json(test::read_file(dir / "beam.json"));
    const json::value reference = test::parse_json(test::read_file(nllb_tokenizer_files() / "reference.json"));
    auto tokenizer = std::dynamic_pointer_cast<tokenizers::TranslationTokenizer>(load_nllb_tokenizer(reference));
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const json::value line = test::parse_json(lines[i]);
        const json::array& got = line.at("hypotheses").as_array();
        const json::array& want = beams.at("results").at("5").at(i).as_array();
        ASSERT_EQ(got.size(), want.size()) << lines[i];
        for (std::size_t k = 0; k < got.size(); ++k) {
            EXPECT_EQ(got[k].at("ids"), want[k].at("ids")) << "source " << i << ", hypothesis " << k;
            EXPECT_NEAR(got[k].at("score").to_number<double>(), want[k].at("score").to_number<double>(), score_tolerance);
            const auto ids = json::value_to<std::vector<std::int64_t>>(got[k].at("ids"));
            EXPECT_EQ(got[k].at("text").as_string(), tokenizer->decode_target(ids));
        }
    }

    // A tokenizer with languages needs the target's.
    const test::CommandResult missing = test::run_command(
        "FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_USER_ASSET_DIR=" + test::shell_quote((assets / "user").string()) +
        " FAIRSEQ2_ASSET_DIR=" + test::shell_quote((assets / "system").string()) + " " + test::cli() + " --plugin-dir " +
        test::shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) + " --log-level warn translate --model tiny_nllb cat");
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("--tgt-lang"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace fairseq2

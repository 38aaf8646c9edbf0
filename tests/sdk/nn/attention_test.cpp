// Unit tests of the SDK's nn blocks against values computed here with plain
// ATen ops: multi-head attention (padding, grouped-query heads, rotary
// positions, key/value cache), rotary frequencies, GLU widths, RMSNorm,
// padding masks and incremental state bags.

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/error.hpp"
#include "fairseq2/nn/feed_forward.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/multihead_attention.hpp"
#include "fairseq2/nn/padding_mask.hpp"
#include "fairseq2/nn/layer_norm.hpp"
#include "fairseq2/nn/position_encoder.hpp"
#include "sdk/nn/random_parameters.hpp"

using fairseq2::InvalidArgumentError;
using namespace fairseq2::nn;
using fairseq2::test::randomize;

namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// x: (N, H, S, d). Rotates the pairs (x[2i], x[2i+1]) at position p by
// p * freqs[i] as a complex multiplication.
at::Tensor reference_rope(const at::Tensor& x, const at::Tensor& freqs, std::int64_t start)
{
    std::int64_t seq_len = x.size(-2);
    at::Tensor positions = at::arange(start, start + seq_len, at::kDouble);
    at::Tensor angles = at::outer(positions, freqs.to(at::kDouble));
    at::Tensor rotation = at::polar(at::ones_like(angles), angles);
    std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
    shape.push_back(x.size(-1) / 2);
    shape.push_back(2);
    at::Tensor pairs = at::view_as_complex(x.to(at::kDouble).reshape(shape).contiguous());
    return at::view_as_real(pairs * rotation).flatten(-2).to(x.scalar_type());
}

struct ReferenceAttentionOptions {
    bool causal = true;
    std::optional<at::Tensor> key_mask{};  // bool (N, T), true = real
    std::optional<at::Tensor> freqs{};     // rotary frequencies
    bool tile_heads = false;             // repeat instead of repeat_interleave (a wrong grouping)
};

// Multi-head attention from its definition, with k/v heads expanded by
// repeat_interleave (query head h uses kv head h / (H / H_kv)).
at::Tensor reference_attention(const MultiheadAttention& mha, const at::Tensor& x, const ReferenceAttentionOptions& o)
{
    const std::int64_t n = x.size(0), s = x.size(1);
    const std::int64_t heads = mha.options.num_heads;
    const std::int64_t kv_heads = mha.options.num_key_value_heads;
    const std::int64_t d = mha.options.model_dim / heads;

    at::Tensor q = at::linear(x, mha.q_proj->weight).view({n, s, heads, d}).transpose(1, 2);
    at::Tensor k = at::linear(x, mha.k_proj->weight).view({n, s, kv_heads, d}).transpose(1, 2);
    at::Tensor v = at::linear(x, mha.v_proj->weight).view({n, s, kv_heads, d}).transpose(1, 2);
    if (o.freqs) {
        q = reference_rope(q, *o.freqs, 0);
        k = reference_rope(k, *o.freqs, 0);
    }
    if (o.tile_heads) {
        k = k.repeat({1, heads / kv_heads, 1, 1});
        v = v.repeat({1, heads / kv_heads, 1, 1});
    } else {
        k = k.repeat_interleave(heads / kv_heads, 1);
        v = v.repeat_interleave(heads / kv_heads, 1);
    }
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(d));
    const double neg_inf = -std::numeric_limits<double>::infinity();
    if (o.causal)
        scores = scores.masked_fill(at::ones({s, s}, at::kBool).triu(1), neg_inf);
    if (o.key_mask)
        scores = scores.masked_fill(o.key_mask->logical_not().view({n, 1, 1, s}), neg_inf);
    at::Tensor out = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({n, s, heads * d});
    return at::linear(out, mha.output_proj->weight);
}

std::shared_ptr<MultiheadAttention> make_attention(std::int64_t dim, std::int64_t heads, std::int64_t kv_heads, bool causal,
                                                   std::shared_ptr<RotaryEncoder> rope, std::uint64_t seed)
{
    MultiheadAttentionOptions options;
    options.model_dim = dim;
    options.num_heads = heads;
    options.num_key_value_heads = kv_heads;
    options.causal = causal;
    auto mha = std::make_shared<MultiheadAttention>(options, std::move(rope), at::TensorOptions().dtype(at::kFloat));
    randomize(*mha, seed);
    return mha;
}

// ------------------------------------------------------------ attention

TEST(MultiheadAttentionTest, NonCausalWithKeyPaddingMatchesReference)
{
    c10::InferenceMode guard;
    auto mha = make_attention(32, 4, 4, /*causal=*/false, nullptr, 1);
    at::manual_seed(11);
    at::Tensor x = at::randn({2, 6, 32});
    PaddingMask mask(at::tensor({6, 4}, at::kLong), 6);

    at::Tensor out = mha->forward(x, &mask, nullptr);
    ASSERT_EQ(out.sizes(), (at::IntArrayRef{2, 6, 32}));
    at::Tensor expected = reference_attention(*mha, x, {.causal = false, .key_mask = mask.materialize()});
    double diff = max_abs_diff(out, expected);
    std::printf("[ measured ] non-causal padded attention vs reference: %.3g\n", diff);
    EXPECT_LE(diff, 1e-5);

    // Non-causal: without the mask row 1 would see its last two keys.
    at::Tensor unmasked = mha->forward(x, nullptr, nullptr);
    EXPECT_LE(max_abs_diff(unmasked, reference_attention(*mha, x, {.causal = false})), 1e-5);
    EXPECT_GT(max_abs_diff(unmasked[1].narrow(0, 0, 4), out[1].narrow(0, 0, 4)), 1e-3);

    // New inputs at the masked positions change no real position.
    at::Tensor changed = x.clone();
    changed[1].narrow(0, 4, 2).copy_(at::randn({2, 32}) * 3.0);
    at::Tensor out2 = mha->forward(changed, &mask, nullptr);
    double masked_change = max_abs_diff(out2[1].narrow(0, 0, 4), out[1].narrow(0, 0, 4));
    std::printf("[ measured ] real positions after changing masked keys: %.3g\n", masked_change);
    EXPECT_LE(masked_change, 1e-6);
    EXPECT_LE(max_abs_diff(out2[0], out[0]), 1e-6);
    // ... which they would without the mask.
    EXPECT_GT(max_abs_diff(mha->forward(changed, nullptr, nullptr)[1].narrow(0, 0, 4), unmasked[1].narrow(0, 0, 4)), 1e-3);
}

TEST(MultiheadAttentionTest, PaddingMaskOfWrongLengthIsRejected)
{
    c10::InferenceMode guard;
    auto mha = make_attention(32, 4, 4, false, nullptr, 1);
    PaddingMask mask(at::tensor({5, 4}, at::kLong), 5);
    EXPECT_THROW(mha->forward(at::randn({2, 6, 32}), &mask, nullptr), InvalidArgumentError);
}

TEST(MultiheadAttentionTest, GroupedQueryAttentionRepeatsKeyValueHeadsInterleaved)
{
    c10::InferenceMode guard;
    auto mha = make_attention(64, 8, 2, /*causal=*/true, nullptr, 2);
    EXPECT_EQ(mha->k_proj->weight.sizes(), (at::IntArrayRef{16, 64}));
    EXPECT_EQ(mha->v_proj->weight.sizes(), (at::IntArrayRef{16, 64}));
    at::manual_seed(12);
    at::Tensor x = at::randn({2, 7, 64});

    at::Tensor out = mha->forward(x, nullptr, nullptr);
    double diff = max_abs_diff(out, reference_attention(*mha, x, {}));
    std::printf("[ measured ] GQA vs repeat_interleave reference: %.3g\n", diff);
    EXPECT_LE(diff, 1e-5);
    // The test tells the groupings apart: tiling the heads gives other values.
    EXPECT_GT(max_abs_diff(out, reference_attention(*mha, x, {.tile_heads = true})), 1e-3);
    // Causal: the first position only sees itself, so it does not depend on later inputs.
    at::Tensor changed = x.clone();
    changed.narrow(1, 3, 4).normal_();
    EXPECT_LE(max_abs_diff(mha->forward(changed, nullptr, nullptr).narrow(1, 0, 3), out.narrow(1, 0, 3)), 1e-6);
}

TEST(MultiheadAttentionTest, RotaryAttentionMatchesReference)
{
    c10::InferenceMode guard;
    auto rope = std::make_shared<RotaryEncoder>(16, 64, 10000.0);
    auto mha = make_attention(64, 4, 2, /*causal=*/true, rope, 3);
    at::manual_seed(13);
    at::Tensor x = at::randn({2, 9, 64});
    at::Tensor out = mha->forward(x, nullptr, nullptr);
    at::Tensor freqs = at::pow(10000.0, -2.0 * at::arange(8, at::kDouble) / 16.0);
    double diff = max_abs_diff(out, reference_attention(*mha, x, {.freqs = freqs}));
    std::printf("[ measured ] rotary GQA attention vs reference: %.3g\n", diff);
    EXPECT_LE(diff, 1e-5);
    EXPECT_GT(max_abs_diff(out, reference_attention(*mha, x, {})), 1e-3);  // positions matter
}

// Long prompts attend in chunks of query positions whose float32 scores stay
// under 2^20 elements. Here 4 sequences x 64 key/value heads x 4 queries per
// head x 70 keys make chunks of 16 positions (four, then one of 6), with key
// padding, and after a cached prefix.
TEST(MultiheadAttentionTest, LongPromptsInQueryChunksMatchReference)
{
    c10::InferenceMode guard;
    const std::int64_t seq_len = 70;
    auto mha = make_attention(512, 256, 64, /*causal=*/true, nullptr, 5);
    at::manual_seed(15);
    at::Tensor x = at::randn({4, seq_len, 512});
    PaddingMask mask(at::tensor({seq_len, std::int64_t{60}, std::int64_t{33}, std::int64_t{1}}, at::kLong), seq_len);

    at::Tensor out = mha->forward(x, &mask, nullptr);
    double diff = max_abs_diff(out, reference_attention(*mha, x, {.key_mask = mask.materialize()}));
    std::printf("[ measured ] 70-position chunked attention vs reference: %.3g\n", diff);
    EXPECT_LE(diff, 1e-5);

    // A 20-position prefix in the cache, then the other 50 in one call.
    IncrementalStateBag bag(seq_len);
    at::Tensor prefix = mha->forward(x.narrow(1, 0, 20), nullptr, &bag);
    bag.increment_step_nr(20);
    at::Tensor rest = mha->forward(x.narrow(1, 20, seq_len - 20), nullptr, &bag);
    EXPECT_LE(max_abs_diff(at::cat({prefix, rest}, 1), reference_attention(*mha, x, {})), 1e-5);
}

// Outside inference mode attention records autograd: gradients reach the
// projections, and they match the reference's.
TEST(MultiheadAttentionTest, GradientsMatchReference)
{
    auto mha = make_attention(64, 8, 2, /*causal=*/true, nullptr, 6);
    at::manual_seed(16);
    at::Tensor x = at::randn({2, 7, 64});
    at::Tensor direction = at::randn({2, 7, 64});

    (mha->forward(x, nullptr, nullptr) * direction).sum().backward();
    at::Tensor grad = mha->q_proj->weight.grad().clone();
    ASSERT_TRUE(grad.defined());
    mha->zero_grad();
    (reference_attention(*mha, x, {}) * direction).sum().backward();
    at::Tensor expected = mha->q_proj->weight.grad();
    EXPECT_GT(expected.abs().max().item<double>(), 1e-3);
    EXPECT_LE(max_abs_diff(grad, expected), 1e-4 * expected.abs().max().item<double>());
}

// The cache starts at 256 positions and grows; 300 single steps (and
// prefills crossing 256) give the values of one full pass.
TEST(MultiheadAttentionTest, KeyValueCacheGrowsPast256Positions)
{
    c10::InferenceMode guard;
    const std::int64_t seq_len = 300;
    auto rope = std::make_shared<RotaryEncoder>(8, 1024, 10000.0);
    auto mha = make_attention(32, 4, 2, /*causal=*/true, rope, 4);
    at::manual_seed(14);
    at::Tensor x = at::randn({2, seq_len, 32});

    at::Tensor full = mha->forward(x, nullptr, nullptr);
    at::Tensor freqs = at::pow(10000.0, -2.0 * at::arange(4, at::kDouble) / 8.0);
    double ref_diff = max_abs_diff(full, reference_attention(*mha, x, {.freqs = freqs}));
    std::printf("[ measured ] 300-position attention vs reference: %.3g\n", ref_diff);
    EXPECT_LE(ref_diff, 1e-4);

    struct Case {
        std::int64_t bag_size;
        std::vector<std::int64_t> chunks;  // the last chunk size repeats
    };
    std::vector<Case> cases{
        {300, {1}},          // capacity 256, then the bag's 300
        {1000, {1}},         // capacity 256, then doubled to 512
        {300, {250, 7}},     // a chunk crossing 256
        {1000, {255, 1, 44}},  // exactly 256, then growth by a chunk
    };
    for (const auto& c : cases) {
        IncrementalStateBag bag(c.bag_size);
        std::vector<at::Tensor> pieces;
        std::int64_t pos = 0;
        std::size_t i = 0;
        while (pos < seq_len) {
            std::int64_t n = std::min(c.chunks[std::min(i, c.chunks.size() - 1)], seq_len - pos);
            pieces.push_back(mha->forward(x.narrow(1, pos, n), nullptr, &bag));
            bag.increment_step_nr(n);
            pos += n;
            ++i;
        }
        at::Tensor incremental = at::cat(pieces, 1);
        double diff = max_abs_diff(incremental, full);
        std::printf("[ measured ] incremental (bag %lld, first chunk %lld) vs full pass: %.3g\n", static_cast<long long>(c.bag_size),
                    static_cast<long long>(c.chunks[0]), diff);
        EXPECT_LE(diff, 1e-5);
    }
}

// ------------------------------------------------------------ rotary

TEST(RotaryTest, FrequenciesWithoutScalingAreThetaPowers)
{
    at::Tensor freqs = rotary_frequencies(RotaryEncoderOptions{.encoding_dim = 16, .max_seq_len = 64, .theta = 10000.0});
    ASSERT_EQ(freqs.scalar_type(), at::kFloat);
    ASSERT_EQ(freqs.sizes(), (at::IntArrayRef{8}));
    for (std::int64_t i = 0; i < 8; ++i) {
        double expected = std::pow(10000.0, -2.0 * static_cast<double>(i) / 16.0);
        EXPECT_NEAR(freqs[i].item<double>(), expected, 1e-6 * expected) << i;
    }
    EXPECT_THROW(rotary_frequencies(RotaryEncoderOptions{.encoding_dim = 7, .max_seq_len = 64}), InvalidArgumentError);
}

// A family's scaler sees each base frequency once, in order, and its result
// is the frequency used.
TEST(RotaryTest, FrequencyScalerMapsEachFrequency)
{
    std::vector<double> seen;
    RotaryEncoderOptions options{.encoding_dim = 8, .max_seq_len = 16, .theta = 100.0};
    options.frequency_scaler = [&](double freq) {
        seen.push_back(freq);
        return freq * 0.5;
    };
    at::Tensor freqs = rotary_frequencies(options);
    ASSERT_EQ(seen.size(), 4u);
    for (std::int64_t i = 0; i < 4; ++i) {
        double base = std::pow(100.0, -2.0 * static_cast<double>(i) / 8.0);
        EXPECT_NEAR(seen[static_cast<std::size_t>(i)], base, 1e-12);
        EXPECT_NEAR(freqs[i].item<double>(), 0.5 * base, 1e-6 * base);
    }
}

TEST(RotaryTest, EncoderRotatesConsecutivePairsFromTheStartStep)
{
    c10::InferenceMode guard;
    RotaryEncoderOptions options{.encoding_dim = 16, .max_seq_len = 32, .theta = 10000.0};
    options.frequency_scaler = [](double freq) { return freq > 0.1 ? freq : freq / 8.0; };
    RotaryEncoder encoder(options);
    at::manual_seed(21);
    at::Tensor x = at::randn({2, 3, 5, 16});
    at::Tensor freqs = rotary_frequencies(options);
    for (std::int64_t start : {0, 7, 27}) {
        at::Tensor out = encoder.forward(x, start);
        double diff = max_abs_diff(out, reference_rope(x, freqs, start));
        EXPECT_LE(diff, 1e-5) << start;
    }
    // bfloat16 in, bfloat16 out.
    EXPECT_EQ(encoder.forward(x.to(at::kBFloat16), 0).scalar_type(), at::kBFloat16);
    // Position 0 is the identity.
    EXPECT_LE(max_abs_diff(encoder.forward(x, 0).select(-2, 0), x.select(-2, 0)), 1e-7);
    // Past max_seq_len (32) is an error.
    EXPECT_THROW(encoder.forward(x, 28), InvalidArgumentError);

    // Positions along another dimension: (N, S, H, d) gives the same as
    // (N, H, S, d) transposed.
    at::Tensor bshd = x.transpose(1, 2).contiguous();
    EXPECT_LE(max_abs_diff(encoder.forward(bshd, 7, 1), reference_rope(x, freqs, 7).transpose(1, 2)), 1e-5);
    EXPECT_THROW(encoder.forward(x, 0, 3), InvalidArgumentError);
}

// ------------------------------------------------------------ feed-forward

TEST(FeedForwardTest, GluInnerDimOfThePresets)
{
    // glu_inner_dim(int(ffn_inner_dim * multiplier), 2/3, to_multiple).
    struct Case {
        std::int64_t ffn_inner_dim;
        double multiplier;
        std::int64_t to_multiple;
        std::int64_t expected;
    };
    std::vector<Case> cases{
        {16384, 1.0, 256, 11008},   // 7b, llama2_7b
        {20480, 1.0, 256, 13824},   // 13b
        {26624, 1.0, 256, 17920},   // 33b
        {32768, 1.0, 256, 22016},   // 65b
        {32768, 1.3, 4096, 28672},  // llama2_70b, llama3_70b
        {16384, 1.3, 1024, 14336},  // llama3_8b, llama3_1_8b
        {12288, 1.0, 256, 8192},    // llama3_2_3b
        {8192, 1.5, 256, 8192},     // llama3_2_1b
    };
    for (const auto& c : cases) {
        auto inner = static_cast<std::int64_t>(static_cast<double>(c.ffn_inner_dim) * c.multiplier);
        EXPECT_EQ(glu_inner_dim(inner, 2.0 / 3.0, c.to_multiple), c.expected) << c.ffn_inner_dim << " * " << c.multiplier;
    }
    EXPECT_EQ(glu_inner_dim(124, 2.0 / 3.0, 32), 96);  // int(82.67) = 82 -> 96
    EXPECT_EQ(glu_inner_dim(96, 0.5, 1), 48);          // no rounding
    EXPECT_EQ(glu_inner_dim(100, 1.0, 7), 105);
}

TEST(FeedForwardTest, GluNetworkComputesGatedProduct)
{
    c10::InferenceMode guard;
    GLUFeedForwardNetwork ffn(16, 124, 2.0 / 3.0, 32, at::TensorOptions().dtype(at::kFloat));
    EXPECT_EQ(ffn.inner_dim, 96);
    EXPECT_EQ(ffn.gate_proj->weight.sizes(), (at::IntArrayRef{96, 16}));
    EXPECT_EQ(ffn.output_proj->weight.sizes(), (at::IntArrayRef{16, 96}));
    randomize(ffn, 31);
    at::Tensor x = at::randn({2, 3, 16});
    at::Tensor expected = at::matmul(at::silu(at::matmul(x, ffn.gate_proj->weight.t())) * at::matmul(x, ffn.inner_proj->weight.t()),
                                     ffn.output_proj->weight.t());
    EXPECT_LE(max_abs_diff(ffn.forward(x), expected), 1e-5);
}

// ------------------------------------------------------------ fused projections

TEST(FusedProjectionTest, MatchesThePartsAndAliasesTheirWeights)
{
    c10::InferenceMode guard;
    const auto options = at::TensorOptions().dtype(at::kFloat);
    auto a = std::make_shared<Linear>(8, 6, true, options);
    auto b = std::make_shared<Linear>(8, 2, true, options);
    at::manual_seed(7);
    a->reset_parameters();
    b->reset_parameters();
    at::Tensor a_weight = a->weight.clone();
    at::Tensor b_bias = b->bias.clone();
    FusedProjection fused({a, b});

    for (const auto& shape : {std::vector<std::int64_t>{1, 1, 8}, std::vector<std::int64_t>{3, 4, 8}}) {
        at::Tensor x = at::randn(shape);
        auto outputs = fused.forward(x);
        ASSERT_EQ(outputs.size(), 2u);
        EXPECT_EQ(outputs[0].size(-1), 6);
        EXPECT_EQ(outputs[1].size(-1), 2);
        EXPECT_LE(max_abs_diff(outputs[0], at::linear(x, a_weight, a->bias)), 1e-6);
        EXPECT_LE(max_abs_diff(outputs[1], at::linear(x, b->weight, b_bias)), 1e-6);
        EXPECT_LE(max_abs_diff(fused.forward_joined(x), at::cat({outputs[0], outputs[1]}, -1)), 0.0);
    }
    // The parts' weights now live in one buffer, b's rows right after a's.
    EXPECT_EQ(static_cast<char*>(b->weight.data_ptr()), static_cast<char*>(a->weight.data_ptr()) + 6 * 8 * sizeof(float));
    EXPECT_EQ(static_cast<char*>(b->bias.data_ptr()), static_cast<char*>(a->bias.data_ptr()) + 6 * sizeof(float));
    EXPECT_LE(max_abs_diff(a->weight, a_weight), 0.0);

    // In-place changes of a part reach the fused product ...
    a->weight.mul_(2.0);
    at::Tensor x = at::randn({2, 8});
    EXPECT_LE(max_abs_diff(fused.forward(x)[0], at::linear(x, a_weight * 2.0, a->bias)), 1e-5);
    // ... and so does a replaced weight (a checkpoint loaded with set_data).
    at::Tensor replacement = at::randn({2, 8});
    b->weight.set_data(replacement);
    EXPECT_LE(max_abs_diff(fused.forward(x)[1], at::linear(x, replacement, b->bias)), 1e-6);
    EXPECT_EQ(static_cast<char*>(b->weight.data_ptr()), static_cast<char*>(a->weight.data_ptr()) + 6 * 8 * sizeof(float));
}

TEST(FusedProjectionTest, FallsBackToThePartsWhenOnlySomeHaveBias)
{
    c10::InferenceMode guard;
    auto a = std::make_shared<Linear>(4, 3, true, at::TensorOptions().dtype(at::kFloat));
    auto b = std::make_shared<Linear>(4, 5, false, at::TensorOptions().dtype(at::kFloat));
    a->reset_parameters();
    b->reset_parameters();
    const void* b_weight = b->weight.data_ptr();
    FusedProjection fused({a, b});
    at::Tensor x = at::randn({2, 4});
    auto outputs = fused.forward(x);
    EXPECT_LE(max_abs_diff(outputs[0], at::linear(x, a->weight, a->bias)), 1e-6);
    EXPECT_LE(max_abs_diff(outputs[1], at::linear(x, b->weight)), 1e-6);
    EXPECT_EQ(b->weight.data_ptr(), b_weight);  // not moved into a fused buffer
    EXPECT_LE(max_abs_diff(fused.forward_joined(x), at::cat({outputs[0], outputs[1]}, -1)), 1e-6);
}

TEST(FusedProjectionTest, LeavesMemoryItDoesNotOwnInPlace)
{
    // Weights in foreign memory (as a memory-mapped checkpoint hands them
    // over) are not copied into a fused buffer.
    c10::InferenceMode guard;
    auto a = std::make_shared<Linear>(4, 3, false, at::TensorOptions().dtype(at::kFloat));
    auto b = std::make_shared<Linear>(4, 2, false, at::TensorOptions().dtype(at::kFloat));
    a->reset_parameters();
    std::vector<float> mapped(2 * 4);
    for (std::size_t i = 0; i < mapped.size(); ++i)
        mapped[i] = 0.25f * static_cast<float>(i) - 1.0f;
    b->weight.set_data(at::from_blob(mapped.data(), {2, 4}, at::TensorOptions().dtype(at::kFloat)));
    FusedProjection fused({a, b});
    at::Tensor x = at::randn({1, 4});
    auto outputs = fused.forward(x);
    EXPECT_LE(max_abs_diff(outputs[0], at::linear(x, a->weight)), 1e-6);
    EXPECT_LE(max_abs_diff(outputs[1], at::linear(x, b->weight)), 1e-6);
    EXPECT_EQ(b->weight.data_ptr(), static_cast<void*>(mapped.data()));
}

TEST(FusedProjectionTest, FusedParametersStayUsableOutsideInferenceMode)
{
    // Parameters created outside inference mode, fused inside it, must still
    // work with autograd afterwards.
    GLUFeedForwardNetwork ffn(8, 12, 1.0, 1, at::TensorOptions().dtype(at::kFloat));
    ffn.reset_parameters();
    at::Tensor x = at::randn({1, 8});
    at::Tensor expected;
    {
        c10::InferenceMode guard;
        expected = ffn.forward(x).clone();
    }
    EXPECT_FALSE(ffn.gate_proj->weight.is_inference());
    at::Tensor out = ffn.forward(x);
    out.sum().backward();
    EXPECT_TRUE(ffn.inner_proj->weight.grad().defined());
    EXPECT_LE(max_abs_diff(out.detach(), expected), 1e-6);
}

// ------------------------------------------------------------ RMSNorm

TEST(RMSNormTest, NormalisesByRootMeanSquareTimesWeight)
{
    c10::InferenceMode guard;
    RMSNorm norm(16, 1e-5, at::TensorOptions().dtype(at::kFloat));
    norm.reset_parameters();
    EXPECT_LE(max_abs_diff(norm.weight, at::ones({16})), 0.0);
    {
        at::NoGradGuard no_grad;
        norm.weight.copy_(1.0 + 0.5 * at::randn({16}));
    }
    at::manual_seed(41);
    at::Tensor x = at::randn({3, 5, 16}) * 4.0;
    at::Tensor x64 = x.to(at::kDouble);
    at::Tensor expected = x64 / at::sqrt(x64.pow(2).mean(-1, true) + 1e-5) * norm.weight.to(at::kDouble);
    at::Tensor out = norm.forward(x);
    EXPECT_EQ(out.scalar_type(), at::kFloat);
    EXPECT_LE(max_abs_diff(out, expected), 1e-5);

    // eps matters for tiny inputs: rms 1e-3 -> 1/sqrt(1e-6 + 1e-5).
    at::Tensor tiny = at::full({1, 16}, 1e-3);
    at::Tensor tiny_expected = 1e-3 / std::sqrt(1e-6 + 1e-5) * norm.weight.to(at::kDouble);
    EXPECT_LE(max_abs_diff(norm.forward(tiny)[0], tiny_expected), 1e-5);

    // bfloat16 in: computed in float32, returned in bfloat16.
    at::Tensor xb = x.to(at::kBFloat16);
    at::Tensor outb = norm.forward(xb);
    EXPECT_EQ(outb.scalar_type(), at::kBFloat16);
    at::Tensor xb64 = xb.to(at::kDouble);
    at::Tensor expected_b = xb64 / at::sqrt(xb64.pow(2).mean(-1, true) + 1e-5) * norm.weight.to(at::kDouble);
    EXPECT_LE(max_abs_diff(outb, expected_b), 2e-2 * expected_b.abs().max().item<double>());
}

// ------------------------------------------------------------ padding masks

TEST(PaddingMaskTest, MaterializeMarksRealPositions)
{
    PaddingMask mask(at::tensor({3, 0, 5}, at::kLong), 5);
    EXPECT_EQ(mask.batch_seq_len(), 5);
    at::Tensor m = mask.materialize();
    ASSERT_EQ(m.scalar_type(), at::kBool);
    ASSERT_EQ(m.sizes(), (at::IntArrayRef{3, 5}));
    at::Tensor expected = at::tensor({1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}, at::kLong).view({3, 5}).to(at::kBool);
    EXPECT_TRUE(at::equal(m, expected)) << m;
}

TEST(PaddingMaskTest, LengthsOutsideTheBatchAreRejected)
{
    try {
        PaddingMask(at::tensor({3, 6}, at::kLong), 5);
        FAIL() << "a length of 6 in a batch of 5 was accepted";
    } catch (const InvalidArgumentError& error) {
        std::string message = error.what();
        EXPECT_NE(message.find("5"), std::string::npos) << message;
        EXPECT_NE(message.find("6"), std::string::npos) << message;
    }
    EXPECT_THROW(PaddingMask(at::tensor({-1, 2}, at::kLong), 5), InvalidArgumentError);
    EXPECT_THROW(PaddingMask(at::tensor({1, 2}, at::kLong).view({1, 2}), 5), InvalidArgumentError);
    EXPECT_NO_THROW(PaddingMask(at::tensor({5, 0}, at::kLong), 5));
}

// ------------------------------------------------------------ state bags

TEST(IncrementalStateBagTest, StepsPastTheMaximumAreRejected)
{
    IncrementalStateBag bag(3);
    EXPECT_EQ(bag.max_num_steps(), 3);
    EXPECT_EQ(bag.step_nr(), 0);
    bag.increment_step_nr(2);
    EXPECT_EQ(bag.step_nr(), 2);
    try {
        bag.increment_step_nr(2);
        FAIL() << "the bag went to step 4 of 3";
    } catch (const InvalidArgumentError& error) {
        std::string message = error.what();
        EXPECT_NE(message.find("4"), std::string::npos) << message;
        EXPECT_NE(message.find("3"), std::string::npos) << message;
    }
    EXPECT_EQ(bag.step_nr(), 2);  // unchanged by the failed call
    bag.increment_step_nr();
    EXPECT_EQ(bag.step_nr(), 3);
    EXPECT_THROW(bag.increment_step_nr(), InvalidArgumentError);
    EXPECT_THROW(IncrementalStateBag(0), InvalidArgumentError);
}

}  // namespace

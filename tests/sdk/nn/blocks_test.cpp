// Unit tests of the family-neutral nn blocks against values computed here
// from their definitions with plain ATen ops in float64: layer norms, the
// standard feed-forward network, sinusoidal and learned positions, rotary
// encodings in the halves layout, attention with its own head dimension,
// q/k norms, biases, sliding windows (one pass, chunks, token by token, and
// the bounded cache), encoder-decoder attention with keys and values kept in
// the state bag, post-norm encoder layers, and key map reversal.

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/nn/feed_forward.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/layer_norm.hpp"
#include "fairseq2/nn/multihead_attention.hpp"
#include "fairseq2/nn/padding_mask.hpp"
#include "fairseq2/nn/position_encoder.hpp"
#include "fairseq2/nn/transformer_encoder.hpp"
#include "nn/key_value_cache.hpp"
#include "sdk/nn/random_parameters.hpp"

using fairseq2::InvalidArgumentError;
using namespace fairseq2::nn;
using fairseq2::test::randomize;

namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);

at::Tensor rms(const at::Tensor& x, const at::Tensor& w, double eps)
{
    at::Tensor x64 = x.to(at::kDouble);
    return x64 * at::rsqrt(x64.square().mean(-1, true) + eps) * w.to(at::kDouble);
}

TEST(LayerNormTest, RMSNormAndStandardLayerNormFollowTheirFormulas)
{
    c10::InferenceMode guard;
    at::manual_seed(3);
    at::Tensor x = at::randn({2, 5, 12}) * 3.0 + 1.0;

    RMSNorm rms_norm({.dim = 12, .eps = 1e-6}, f32);
    randomize(rms_norm, 4);
    EXPECT_LE(max_abs_diff(rms_norm.forward(x), rms(x, rms_norm.weight, 1e-6)), 1e-5);
    EXPECT_EQ(rms_norm.normalized_dim(), 12);

    RMSNorm with_bias({.dim = 12, .eps = 1e-5, .bias = true}, f32);
    randomize(with_bias, 5);
    EXPECT_LE(max_abs_diff(with_bias.forward(x), rms(x, with_bias.weight, 1e-5) + with_bias.bias.to(at::kDouble)), 1e-5);

    RMSNorm plain({.dim = 12, .elementwise_affine = false}, f32);
    EXPECT_TRUE(plain.parameters().empty());
    EXPECT_LE(max_abs_diff(plain.forward(x), rms(x, at::ones({12}), 1e-5)), 1e-5);

    StandardLayerNorm layer_norm({.dim = 12, .eps = 1e-5}, f32);
    randomize(layer_norm, 6);
    at::Tensor x64 = x.to(at::kDouble);
    at::Tensor centred = x64 - x64.mean(-1, true);
    at::Tensor expected = centred * at::rsqrt(centred.square().mean(-1, true) + 1e-5) * layer_norm.weight.to(at::kDouble) +
                          layer_norm.bias.to(at::kDouble);
    EXPECT_LE(max_abs_diff(layer_norm.forward(x), expected), 1e-5);
    auto names = layer_norm.named_parameters().keys();
    EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias"}));

    layer_norm.reset_parameters();
    EXPECT_EQ(layer_norm.weight.sum().item<double>(), 12.0);
    EXPECT_EQ(layer_norm.bias.abs().sum().item<double>(), 0.0);
    EXPECT_THROW(StandardLayerNorm({.dim = 0}, f32), InvalidArgumentError);
}

TEST(FeedForwardTest, StandardNetworkAndGeluGatedGlu)
{
    c10::InferenceMode guard;
    at::manual_seed(7);
    at::Tensor x = at::randn({2, 3, 8});

    StandardFeedForwardNetwork relu({.model_dim = 8, .inner_dim = 20}, f32);
    randomize(relu, 8);
    at::Tensor hidden = at::relu(at::linear(x.to(at::kDouble), relu.inner_proj->weight.to(at::kDouble), relu.inner_proj->bias.to(at::kDouble)));
    at::Tensor expected = at::linear(hidden, relu.output_proj->weight.to(at::kDouble), relu.output_proj->bias.to(at::kDouble));
    EXPECT_LE(max_abs_diff(relu.forward(x), expected), 1e-5);
    EXPECT_EQ(relu.named_parameters().keys(),
              (std::vector<std::string>{"inner_proj.weight", "inner_proj.bias", "output_proj.weight", "output_proj.bias"}));

    GLUFeedForwardNetwork glu({.model_dim = 8, .inner_dim = 12, .inner_dim_scale = 1.0, .bias = true, .gate_activation = Activation::gelu},
                              f32);
    randomize(glu, 9);
    at::Tensor x64 = x.to(at::kDouble);
    auto lin = [&](const Linear& l, const at::Tensor& in) { return at::linear(in, l.weight.to(at::kDouble), l.bias.to(at::kDouble)); };
    at::Tensor glu_expected = lin(*glu.output_proj, at::gelu(lin(*glu.gate_proj, x64)) * lin(*glu.inner_proj, x64));
    EXPECT_LE(max_abs_diff(glu.forward(x), glu_expected), 1e-5);
    EXPECT_EQ(glu.inner_dim, 12);
}

// fairseq's sinusoidal table: sin of the first half, cos of the second, of
// position * exp(-i ln(10000) / (d/2 - 1)); with a legacy pad index p the
// k-th token (0-based) takes position k + p + 1.
TEST(PositionEncoderTest, SinusoidalMatchesFairseqWithTheLegacyOffset)
{
    c10::InferenceMode guard;
    const std::int64_t d = 10;
    at::Tensor x = at::randn({2, 6, d});
    for (std::optional<std::int64_t> pad : {std::optional<std::int64_t>{}, std::optional<std::int64_t>{1}}) {
        SinusoidalPositionEncoder encoder({.encoding_dim = d, .max_seq_len = 32, .legacy_pad_idx = pad});
        EXPECT_TRUE(encoder.parameters().empty());
        for (std::int64_t start : {0, 5}) {
            at::Tensor expected = x.to(at::kDouble).clone();
            for (std::int64_t s = 0; s < 6; ++s) {
                const double position = static_cast<double>(start + s + (pad ? *pad + 1 : 0));
                for (std::int64_t i = 0; i < d / 2; ++i) {
                    const double freq = std::exp(-static_cast<double>(i) * std::log(10000.0) / static_cast<double>(d / 2 - 1));
                    expected.select(1, s).select(1, i).add_(std::sin(position * freq));
                    expected.select(1, s).select(1, i + d / 2).add_(std::cos(position * freq));
                }
            }
            EXPECT_LE(max_abs_diff(encoder.forward(x, start), expected), 1e-5) << start;
        }
        EXPECT_THROW(encoder.forward(x, 27), InvalidArgumentError);
    }
}

TEST(PositionEncoderTest, LearnedAddsItsRows)
{
    c10::InferenceMode guard;
    LearnedPositionEncoder encoder(4, 16, f32);
    encoder.reset_parameters();
    at::Tensor x = at::randn({3, 5, 4});
    EXPECT_LE(max_abs_diff(encoder.forward(x, 2), x + encoder.weight.narrow(0, 2, 5)), 1e-7);
    EXPECT_THROW(encoder.forward(x, 12), InvalidArgumentError);
    EXPECT_EQ(encoder.named_parameters().keys(), (std::vector<std::string>{"weight"}));
}

// Hugging Face's rotate_half: y = x cos + cat(-x2, x1) sin, with cos/sin of
// position * freq_i repeated over both halves.
at::Tensor rotate_half_reference(const at::Tensor& x, const at::Tensor& freqs, std::int64_t start)
{
    const std::int64_t seq_len = x.size(-2);
    const std::int64_t half = x.size(-1) / 2;
    at::Tensor angles = at::outer(at::arange(start, start + seq_len, at::kDouble), freqs.to(at::kDouble));
    at::Tensor cos = at::cat({angles.cos(), angles.cos()}, -1);
    at::Tensor sin = at::cat({angles.sin(), angles.sin()}, -1);
    at::Tensor x64 = x.to(at::kDouble);
    at::Tensor rotated = at::cat({-x64.narrow(-1, half, half), x64.narrow(-1, 0, half)}, -1);
    return x64 * cos + rotated * sin;
}

TEST(PositionEncoderTest, RotaryHalvesLayoutMatchesRotateHalf)
{
    c10::InferenceMode guard;
    RotaryEncoder encoder({.encoding_dim = 12, .max_seq_len = 64, .theta = 1e6, .layout = RotaryLayout::halves});
    at::Tensor x = at::randn({2, 3, 7, 12});
    for (std::int64_t start : {0, 9}) {
        // The one-pass kernel (float32, contiguous) and the ATen path
        // (a transposed view) agree with the reference.
        EXPECT_LE(max_abs_diff(encoder.forward(x, start), rotate_half_reference(x, encoder.frequencies(), start)), 1e-5);
        at::Tensor strided = x.transpose(1, 2).contiguous().transpose(1, 2);
        EXPECT_LE(max_abs_diff(encoder.forward(strided, start), rotate_half_reference(x, encoder.frequencies(), start)), 1e-5);
        at::Tensor bf16 = encoder.forward(x.to(at::kBFloat16), start);
        EXPECT_EQ(bf16.scalar_type(), at::kBFloat16);
        EXPECT_LE(max_abs_diff(bf16, rotate_half_reference(x.to(at::kBFloat16), encoder.frequencies(), start)), 0.05);
    }
}

struct AttentionSpec {
    std::int64_t dim = 16, heads = 4, kv_heads = 2, head_dim = 6, window = 0;
    bool bias = false, qk_norm = false;
    RotaryLayout layout = RotaryLayout::halves;
};

std::shared_ptr<MultiheadAttention> make_attention(const AttentionSpec& spec, std::uint64_t seed)
{
    MultiheadAttentionOptions options{.model_dim = spec.dim,
                                      .num_heads = spec.heads,
                                      .num_key_value_heads = spec.kv_heads,
                                      .head_dim = spec.head_dim,
                                      .causal = true,
                                      .sliding_window = spec.window,
                                      .qkv_bias = spec.bias,
                                      .output_bias = spec.bias};
    auto rope = std::make_shared<RotaryEncoder>(
        RotaryEncoderOptions{.encoding_dim = spec.head_dim, .max_seq_len = 256, .theta = 10000.0, .layout = spec.layout});
    std::shared_ptr<LayerNorm> q_norm, k_norm;
    if (spec.qk_norm) {
        q_norm = std::make_shared<RMSNorm>(spec.head_dim, 1e-6, f32);
        k_norm = std::make_shared<RMSNorm>(spec.head_dim, 1e-6, f32);
    }
    auto mha = std::make_shared<MultiheadAttention>(options, rope, f32, q_norm, k_norm);
    randomize(*mha, seed);
    if (spec.qk_norm) {
        // Norm weights around 1, so that a missing norm shows.
        at::NoGradGuard no_grad;
        mha->q_norm->named_parameters()["weight"].add_(1.0);
        mha->k_norm->named_parameters()["weight"].add_(1.0);
    }
    return mha;
}

// Attention from its definition in float64: projections, per-head norms,
// rotate-half positions, repeat_interleave'd key/value heads, a causal mask
// and the window's lower edge.
at::Tensor reference_attention(const MultiheadAttention& mha, const AttentionSpec& spec, const at::Tensor& x)
{
    const std::int64_t n = x.size(0), s = x.size(1), d = spec.head_dim;
    auto lin = [](const Linear& l, const at::Tensor& in) {
        return at::linear(in, l.weight.to(at::kDouble), l.bias.defined() ? l.bias.to(at::kDouble) : at::Tensor());
    };
    at::Tensor x64 = x.to(at::kDouble);
    at::Tensor q = lin(*mha.q_proj, x64).view({n, s, spec.heads, d});
    at::Tensor k = lin(*mha.k_proj, x64).view({n, s, spec.kv_heads, d});
    at::Tensor v = lin(*mha.v_proj, x64).view({n, s, spec.kv_heads, d}).transpose(1, 2);
    if (spec.qk_norm) {
        q = rms(q, std::static_pointer_cast<RMSNorm>(mha.q_norm)->weight, 1e-6);
        k = rms(k, std::static_pointer_cast<RMSNorm>(mha.k_norm)->weight, 1e-6);
    }
    const at::Tensor freqs = std::static_pointer_cast<RotaryEncoder>(mha.pos_encoder)->frequencies();
    q = rotate_half_reference(q.transpose(1, 2), freqs, 0);
    k = rotate_half_reference(k.transpose(1, 2), freqs, 0).repeat_interleave(spec.heads / spec.kv_heads, 1);
    v = v.repeat_interleave(spec.heads / spec.kv_heads, 1);
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(d));
    at::Tensor query_pos = at::arange(s).unsqueeze(1);
    at::Tensor key_pos = at::arange(s).unsqueeze(0);
    at::Tensor masked = key_pos > query_pos;
    if (spec.window > 0)
        masked = masked.logical_or(key_pos <= query_pos - spec.window);
    scores = scores.masked_fill(masked, -std::numeric_limits<double>::infinity());
    at::Tensor out = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({n, s, spec.heads * d});
    return lin(*mha.output_proj, out);
}

TEST(MultiheadAttentionTest, OwnHeadDimBiasesQkNormAndWindowMatchTheDefinition)
{
    c10::InferenceMode guard;
    std::vector<AttentionSpec> specs{
        {},                                                   // head dim 6 != 16 / 4
        {.bias = true},                                       // q/k/v and output biases
        {.qk_norm = true},                                    // per-head RMSNorm before the rotation
        {.window = 5},                                        // sliding window shorter than the sequence
        {.heads = 4, .kv_heads = 4, .head_dim = 4, .window = 3, .bias = true, .qk_norm = true},
    };
    at::manual_seed(11);
    at::Tensor x = at::randn({2, 13, 16});
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const AttentionSpec& spec = specs[i];
        auto mha = make_attention(spec, 100 + i);
        EXPECT_EQ(mha->q_proj->weight.size(0), spec.heads * spec.head_dim);
        EXPECT_EQ(mha->output_proj->weight.size(1), spec.heads * spec.head_dim);
        at::Tensor expected = reference_attention(*mha, spec, x);
        EXPECT_LE(max_abs_diff(mha->forward(x, nullptr, nullptr), expected), 1e-5) << "spec " << i;

        // Token by token, then in chunks of 4: each query still sees its
        // whole window, and the state keeps at most `window` positions.
        for (std::int64_t chunk : {1, 4}) {
            IncrementalStateBag bag(64);
            std::vector<at::Tensor> outputs;
            for (std::int64_t first = 0; first < x.size(1); first += chunk) {
                const std::int64_t len = std::min(chunk, x.size(1) - first);
                outputs.push_back(mha->forward(x.narrow(1, first, len), nullptr, &bag));
                bag.increment_step_nr(len);
                const auto* cache = bag.get_state_as<fairseq2::nn::detail::KeyValueCache>(mha.get());
                ASSERT_NE(cache, nullptr);
                EXPECT_EQ(cache->total(), first + len);
                if (spec.window > 0) {
                    EXPECT_EQ(cache->size(), std::min(first + len, spec.window));
                    EXPECT_LE(cache->key_buffer().size(2), spec.window);
                }
            }
            EXPECT_LE(max_abs_diff(at::cat(outputs, 1), expected), 1e-5) << "spec " << i << " chunk " << chunk;
        }
    }
}

TEST(MultiheadAttentionTest, EncoderDecoderAttentionProjectsTheEncoderOutputOnce)
{
    c10::InferenceMode guard;
    MultiheadAttention attn({.model_dim = 8, .num_heads = 2, .kv_input_dim = 6, .causal = false, .qkv_bias = true, .output_bias = true}, nullptr,
                            f32);
    randomize(attn, 21);
    at::Tensor encoder_output = at::randn({2, 5, 6});
    at::Tensor queries = at::randn({2, 3, 8});
    PaddingMask mask(at::tensor(std::vector<std::int64_t>{5, 3}), 5);

    auto lin = [](const Linear& l, const at::Tensor& in) { return at::linear(in, l.weight.to(at::kDouble), l.bias.to(at::kDouble)); };
    at::Tensor q = lin(*attn.q_proj, queries.to(at::kDouble)).view({2, 3, 2, 4}).transpose(1, 2);
    at::Tensor k = lin(*attn.k_proj, encoder_output.to(at::kDouble)).view({2, 5, 2, 4}).transpose(1, 2);
    at::Tensor v = lin(*attn.v_proj, encoder_output.to(at::kDouble)).view({2, 5, 2, 4}).transpose(1, 2);
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / 2.0;
    scores = scores.masked_fill(mask.materialize().logical_not().view({2, 1, 1, 5}), -std::numeric_limits<double>::infinity());
    at::Tensor expected = lin(*attn.output_proj, at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({2, 3, 8}));
    EXPECT_LE(max_abs_diff(attn.forward(queries, encoder_output, &mask, nullptr), expected), 1e-5);

    // In a state bag the keys and values are computed on the first step
    // and reused: changing the projection weights afterwards changes
    // nothing, and another encoder output is refused.
    IncrementalStateBag bag(8);
    at::Tensor first = attn.forward(queries.narrow(1, 0, 1), encoder_output, &mask, &bag);
    EXPECT_LE(max_abs_diff(first, expected.narrow(1, 0, 1)), 1e-5);
    {
        at::NoGradGuard no_grad;
        attn.k_proj->weight.zero_();
    }
    at::Tensor second = attn.forward(queries.narrow(1, 1, 1), encoder_output, &mask, &bag);
    EXPECT_LE(max_abs_diff(second, expected.narrow(1, 1, 1)), 1e-5);
    EXPECT_THROW(attn.forward(queries.narrow(1, 2, 1), encoder_output.clone(), &mask, &bag), InvalidArgumentError);
}

TEST(TransformerEncoderTest, PostNormLayerNormalisesAfterEachResidual)
{
    c10::InferenceMode guard;
    auto attn = std::make_shared<MultiheadAttention>(MultiheadAttentionOptions{.model_dim = 8, .num_heads = 2, .causal = false}, nullptr, f32);
    auto ffn = std::make_shared<StandardFeedForwardNetwork>(StandardFeedForwardNetworkOptions{.model_dim = 8, .inner_dim = 16}, f32);
    auto norm1 = std::make_shared<StandardLayerNorm>(StandardLayerNormOptions{.dim = 8}, f32);
    auto norm2 = std::make_shared<StandardLayerNorm>(StandardLayerNormOptions{.dim = 8}, f32);
    StandardTransformerEncoderLayer layer(attn, norm1, ffn, norm2, TransformerNormOrder::post);
    randomize(layer, 31);
    at::Tensor x = at::randn({2, 4, 8});
    PaddingMask mask(at::tensor(std::vector<std::int64_t>{4, 2}), 4);
    at::Tensor h = norm1->forward(x + attn->forward(x, &mask, nullptr));
    at::Tensor expected = norm2->forward(h + ffn->forward(h));
    EXPECT_LE(max_abs_diff(layer.forward(x, &mask), expected), 1e-6);
    EXPECT_EQ(layer.named_parameters().keys().front(), "self_attn_layer_norm.weight");
}

TEST(KeyMapTest, ReverseUndoesAnImportMap)
{
    const fairseq2::checkpoint::KeyMap map{
        {R"(^model\.layers\.([0-9]+)\.self_attn\.o_proj\.)", R"(decoder.layers.\1.self_attn.output_proj.)"},
        {R"(^model\.norm\.)", R"(decoder.layer_norm.)"},
        {R"(^lm_head\.)", R"(final_proj.)"},
    };
    const auto reversed = fairseq2::checkpoint::reverse_key_map(map);
    ASSERT_EQ(reversed.size(), 3u);
    EXPECT_EQ(reversed[0].first, R"(^decoder\.layers\.([0-9]+)\.self_attn\.output_proj\.)");
    EXPECT_EQ(reversed[0].second, R"(model.layers.\1.self_attn.o_proj.)");
    fairseq2::checkpoint::StateDict state_dict{{"model.layers.12.self_attn.o_proj.weight", at::zeros({1})},
                                               {"model.norm.weight", at::zeros({1})},
                                               {"lm_head.weight", at::zeros({1})}};
    auto there = fairseq2::checkpoint::convert_state_dict(state_dict, map);
    EXPECT_TRUE(there.contains("decoder.layers.12.self_attn.output_proj.weight"));
    auto back = fairseq2::checkpoint::convert_state_dict(there, reversed);
    std::vector<std::string> keys;
    for (const auto& [key, tensor] : back)
        keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"lm_head.weight", "model.layers.12.self_attn.o_proj.weight", "model.norm.weight"}));

    try {
        fairseq2::checkpoint::reverse_key_map({{R"(^a\.[0-9]+\.)", "b."}});
        FAIL() << "a character class outside a group has no inverse";
    } catch (const InvalidArgumentError& error) {
        EXPECT_NE(std::string(error.what()).find(R"(^a\.[0-9]+\.)"), std::string::npos) << error.what();
    }
}

}  // namespace

// The SDK's CPU kernels for RMSNorm, rotary encoding and decoding-step
// attention (sdk/src/nn/kernels/, compiled into this test) against the same
// maths computed here in float64 with ATen, and the modules' kernel paths
// (inference mode) against their ATen paths (taken while autograd records).
//
// Tolerances: float32 results within 1e-5 of float64 (values of order 1);
// bfloat16 results within one bfloat16 rounding of the float64 value
// computed from the same bfloat16 inputs (relative 2^-8, plus 1e-6).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/multihead_attention.hpp"
#include "fairseq2/nn/layer_norm.hpp"
#include "fairseq2/nn/position_encoder.hpp"
#include "nn/kernels/attention.hpp"
#include "nn/kernels/rms_norm.hpp"
#include "nn/kernels/rotary.hpp"
#include "sdk/nn/random_parameters.hpp"

using namespace fairseq2::nn;
using fairseq2::test::randomize;
using namespace fairseq2::nn::detail;

namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// |got - expected| within one bfloat16 rounding of `expected`, elementwise.
void expect_within_bf16_rounding(const at::Tensor& got, const at::Tensor& expected)
{
    at::Tensor error = (got.to(at::kDouble) - expected).abs();
    at::Tensor allowed = expected.abs() * std::ldexp(1.0, -8) + 1e-6;
    EXPECT_TRUE((error <= allowed).all().item<bool>()) << "worst excess " << (error - allowed).max().item<double>();
}

template <typename T>
T* raw(const at::Tensor& t)
{
    return static_cast<T*>(t.data_ptr());
}

// --------------------------------------------------------------- raw kernels

TEST(CpuKernelsTest, RmsNormRowsMatchFloat64)
{
    at::manual_seed(3);
    for (std::int64_t dim : {1, 7, 8, 64, 100}) {
        // Rows 3 apart in memory (x_stride), only 2 of every 3 used.
        at::Tensor storage = at::randn({5, dim + 3}) * 3.0;
        at::Tensor x = storage.narrow(1, 0, dim);
        at::Tensor weight = 1.0 + 0.5 * at::randn({dim});
        at::Tensor x64 = x.to(at::kDouble);
        at::Tensor expected = x64 / at::sqrt(x64.pow(2).mean(-1, true) + 1e-5) * weight.to(at::kDouble);

        at::Tensor y = at::full({5, dim}, 7.0f);
        rms_norm_rows(x.data_ptr<float>(), storage.stride(0), weight.data_ptr<float>(), 1e-5f, y.data_ptr<float>(), dim, 1, 4);
        EXPECT_LE(max_abs_diff(y.narrow(0, 1, 3), expected.narrow(0, 1, 3)), 1e-5) << dim;
        // Rows outside [first, last) are not written.
        EXPECT_EQ(y[0].eq(7.0f).all().item<bool>(), true);
        EXPECT_EQ(y[4].eq(7.0f).all().item<bool>(), true);

        at::Tensor xb = x.to(at::kBFloat16).contiguous();
        at::Tensor wb = weight.to(at::kBFloat16);
        at::Tensor yb = at::empty({5, dim}, at::kBFloat16);
        rms_norm_rows(raw<const std::uint16_t>(xb), dim, raw<const std::uint16_t>(wb), 1e-5f, raw<std::uint16_t>(yb), dim, 0, 5);
        at::Tensor xb64 = xb.to(at::kDouble);
        expect_within_bf16_rounding(yb, xb64 / at::sqrt(xb64.pow(2).mean(-1, true) + 1e-5) * wb.to(at::kDouble));
    }
}

TEST(CpuKernelsTest, RotatePairsTurnsEachPairByItsAngle)
{
    at::manual_seed(5);
    const std::int64_t count = 3;
    for (std::int64_t dim : {2, 6, 64}) {
        at::Tensor x = at::randn({count, dim});
        at::Tensor angles = at::rand({dim / 2}, at::kDouble) * 6.0;
        at::Tensor turns = at::stack({at::cos(angles), at::sin(angles)}, -1).to(at::kFloat).contiguous();  // (d/2, 2)
        at::Tensor c = turns.select(-1, 0).to(at::kDouble);
        at::Tensor s = turns.select(-1, 1).to(at::kDouble);
        auto expected_of = [&](const at::Tensor& in) {
            at::Tensor pairs = in.to(at::kDouble).view({count, dim / 2, 2});
            at::Tensor x0 = pairs.select(-1, 0);
            at::Tensor x1 = pairs.select(-1, 1);
            return at::stack({x0 * c - x1 * s, x0 * s + x1 * c}, -1).view({count, dim});
        };

        at::Tensor y = at::empty_like(x);
        rotate_pairs(x.data_ptr<float>(), y.data_ptr<float>(), count, dim, turns.data_ptr<float>());
        EXPECT_LE(max_abs_diff(y, expected_of(x)), 1e-5) << dim;
        // In place.
        at::Tensor z = x.clone();
        rotate_pairs(z.data_ptr<float>(), z.data_ptr<float>(), count, dim, turns.data_ptr<float>());
        EXPECT_LE(max_abs_diff(z, y), 0.0);

        at::Tensor xb = x.to(at::kBFloat16);
        at::Tensor yb = at::empty_like(xb);
        rotate_pairs(raw<const std::uint16_t>(xb), raw<std::uint16_t>(yb), count, dim, turns.data_ptr<float>());
        expect_within_bf16_rounding(yb, expected_of(xb));
    }
}

// softmax(q k^T / sqrt(d)) v per query head, key/value head h / group, in
// float64. q: (N, H, d); keys, values: (N, H_kv, T, d).
at::Tensor attention_float64(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values)
{
    const std::int64_t group = q.size(1) / keys.size(1);
    at::Tensor k = keys.to(at::kDouble).repeat_interleave(group, 1);
    at::Tensor v = values.to(at::kDouble).repeat_interleave(group, 1);
    at::Tensor scores = at::matmul(q.to(at::kDouble).unsqueeze(2), k.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(2)));
    return at::matmul(at::softmax(scores, -1), v).squeeze(2);  // (N, H, d)
}

template <typename T>
at::Tensor run_attention_kernel(const at::Tensor& q, const at::Tensor& cache_keys, const at::Tensor& cache_values, std::int64_t num_keys,
                                std::int64_t first, std::int64_t last, const at::Tensor& out)
{
    DecodeAttentionArgs<T> args;
    args.queries = raw<const T>(q);
    args.query_stride = q.stride(0);
    args.keys = raw<const T>(cache_keys);
    args.values = raw<const T>(cache_values);
    args.cache_stride = cache_keys.stride(0);
    args.head_stride = cache_keys.stride(1);
    args.out = raw<T>(out);
    args.out_stride = out.stride(0);
    args.num_heads = q.size(1);
    args.group = q.size(1) / cache_keys.size(1);
    args.num_keys = num_keys;
    args.head_dim = q.size(2);
    args.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.size(2))));
    std::vector<float> scratch(static_cast<std::size_t>(decode_attention_scratch(num_keys, q.size(2))), 1e30f);
    attend_one_position(args, first, last, scratch.data());
    return out;
}

TEST(CpuKernelsTest, DecodeAttentionMatchesFloat64)
{
    struct Shape {
        std::int64_t batch, heads, kv_heads, head_dim, num_keys, capacity;
    };
    // Grouped and plain heads, head dims that are and are not multiples of
    // 8, one key, and a cache larger than what it holds.
    const std::vector<Shape> shapes{{1, 12, 4, 64, 37, 64}, {3, 8, 2, 12, 5, 9}, {2, 4, 4, 8, 1, 4}, {1, 2, 1, 3, 300, 512}};
    at::manual_seed(9);
    for (const auto& s : shapes) {
        at::Tensor q = at::randn({s.batch, s.heads, s.head_dim}) * 2.0;
        at::Tensor cache_keys = at::randn({s.batch, s.kv_heads, s.capacity, s.head_dim}) * 2.0;
        at::Tensor cache_values = at::randn({s.batch, s.kv_heads, s.capacity, s.head_dim});
        at::Tensor keys = cache_keys.narrow(2, 0, s.num_keys);
        at::Tensor values = cache_values.narrow(2, 0, s.num_keys);
        at::Tensor expected = attention_float64(q, keys, values);

        // All heads at once, then in two ranges (as two threads split them).
        const std::int64_t total = s.batch * s.heads;
        at::Tensor out = at::full({s.batch, s.heads, s.head_dim}, 5.0f);
        run_attention_kernel<float>(q, cache_keys, cache_values, s.num_keys, 0, total, out);
        EXPECT_LE(max_abs_diff(out, expected), 1e-5) << s.heads << "/" << s.kv_heads << " d " << s.head_dim << " T " << s.num_keys;
        at::Tensor split = at::full({s.batch, s.heads, s.head_dim}, 5.0f);
        run_attention_kernel<float>(q, cache_keys, cache_values, s.num_keys, 0, total / 2, split);
        run_attention_kernel<float>(q, cache_keys, cache_values, s.num_keys, total / 2, total, split);
        EXPECT_LE(max_abs_diff(split, out), 0.0);

        at::Tensor qb = q.to(at::kBFloat16);
        at::Tensor kb = cache_keys.to(at::kBFloat16);
        at::Tensor vb = cache_values.to(at::kBFloat16);
        at::Tensor outb = at::empty({s.batch, s.heads, s.head_dim}, at::kBFloat16);
        run_attention_kernel<std::uint16_t>(qb, kb, vb, s.num_keys, 0, total, outb);
        // The float32 arithmetic inside adds a little to the one rounding.
        at::Tensor expected_b = attention_float64(qb, kb.narrow(2, 0, s.num_keys), vb.narrow(2, 0, s.num_keys));
        at::Tensor error = (outb.to(at::kDouble) - expected_b).abs();
        EXPECT_TRUE((error <= expected_b.abs() * std::ldexp(1.0, -8) + 1e-5).all().item<bool>())
            << "bfloat16, worst error " << error.max().item<double>();
    }
}

// --------------------------------------------------------------- modules

TEST(CpuKernelsTest, RmsNormKernelPathMatchesTheAtenPath)
{
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
        RMSNorm norm(48, 1e-5, at::TensorOptions().dtype(dtype));
        randomize(norm, 11);
        {
            at::NoGradGuard no_grad;
            norm.weight.add_(1.0);
        }
        at::Tensor x = (at::randn({2, 7, 48}) * 3.0).to(dtype);
        // Autograd records (the weight requires grad): the ATen expression.
        at::Tensor aten = norm.forward(x).detach();
        at::Tensor kernel;
        {
            c10::InferenceMode guard;
            kernel = norm.forward(x);
            // A non-contiguous input (every other row) takes the kernel too.
            at::Tensor strided = norm.forward(x.select(1, 3));
            EXPECT_LE(max_abs_diff(strided, kernel.select(1, 3)), 0.0);
        }
        EXPECT_EQ(kernel.scalar_type(), dtype);
        EXPECT_EQ(kernel.sizes(), x.sizes());
        const double tolerance = dtype == at::kFloat ? 1e-6 : 2e-2;  // bfloat16: the ATen path rounds twice
        EXPECT_LE(max_abs_diff(kernel, aten), tolerance) << c10::toString(dtype);
    }
}

TEST(CpuKernelsTest, RotaryKernelPathMatchesTheAtenPath)
{
    RotaryEncoder encoder(16, 64, 10000.0);
    at::manual_seed(13);
    // (N, S, H, d) inside a wider buffer, as attention hands over the query
    // and key heads: positions are not adjacent, heads within one are.
    at::Tensor wide = at::randn({2, 5, 7, 16}, at::TensorOptions().requires_grad(true));
    at::Tensor x = wide.narrow(2, 0, 6);
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
        at::Tensor input = x.to(dtype);
        at::Tensor aten = encoder.forward(input, 9, 1).detach();  // records: ATen
        at::Tensor kernel;
        {
            c10::InferenceMode guard;
            kernel = encoder.forward(input.detach(), 9, 1);
        }
        EXPECT_TRUE(kernel.is_contiguous());
        EXPECT_LE(max_abs_diff(kernel, aten), dtype == at::kFloat ? 1e-6 : 1e-2) << c10::toString(dtype);
    }
}

// A decoding step of a bfloat16 attention (the kernel, batch 3, grouped
// heads) gives what its full pass over the same positions gives, within
// bfloat16 accuracy, and float32 steps match to 1e-5.
TEST(CpuKernelsTest, DecodingStepsMatchTheFullPassInBothDtypes)
{
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
        c10::InferenceMode guard;
        MultiheadAttentionOptions options;
        options.model_dim = 48;
        options.num_heads = 8;
        options.num_key_value_heads = 2;
        auto rope = std::make_shared<RotaryEncoder>(6, 64, 10000.0);
        MultiheadAttention mha(options, rope, at::TensorOptions().dtype(dtype));
        randomize(mha, 17);
        at::manual_seed(19);
        const std::int64_t seq_len = 20;
        at::Tensor x = at::randn({3, seq_len, 48}).to(dtype);
        at::Tensor full = mha.forward(x, nullptr, nullptr);

        IncrementalStateBag bag(seq_len);
        std::vector<at::Tensor> steps{mha.forward(x.narrow(1, 0, 4), nullptr, &bag)};
        bag.increment_step_nr(4);
        for (std::int64_t pos = 4; pos < seq_len; ++pos) {
            steps.push_back(mha.forward(x.narrow(1, pos, 1), nullptr, &bag));
            bag.increment_step_nr(1);
        }
        at::Tensor incremental = at::cat(steps, 1);
        EXPECT_EQ(incremental.scalar_type(), dtype);
        const double scale = full.abs().max().item<double>();
        const double diff = max_abs_diff(incremental, full);
        std::printf("[ measured ] %s decoding steps vs full pass: %.3g (output scale %.3g)\n", c10::toString(dtype), diff, scale);
        EXPECT_LE(diff, dtype == at::kFloat ? 1e-5 : 2e-2 * scale);
    }
}

}  // namespace

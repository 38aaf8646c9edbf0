// The matrix-vector kernels (sdk/src/nn/kernels/gemv.cpp, compiled into this
// test) against sums computed here in double precision, and Linear's one-row
// paths against at::linear.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/nn/linear.hpp"
#include "nn/kernels/gemv.hpp"

using namespace fairseq2::nn;
using namespace fairseq2::nn::detail;

namespace {

std::uint32_t bits_of(float value)
{
    std::uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

float float_of(std::uint32_t bits)
{
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

struct Problem {
    std::int64_t rows;
    std::int64_t cols;
    std::int64_t row_stride;
    bool bias;
};

// Checks `kernel` on random data: every output within one bfloat16 rounding
// (2^-8 relative) of the exact sum, plus float32 accumulation error
// (cols * 2^-23 of the sum of |w x|, which matters only under cancellation).
void check(void (*kernel)(const Bf16GemvArgs&, std::int64_t, std::int64_t), const Problem& p, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<std::uint16_t> weight(static_cast<std::size_t>(p.rows * p.row_stride), 0xffff);  // NaN padding must never be read
    for (std::int64_t r = 0; r < p.rows; ++r)
        for (std::int64_t c = 0; c < p.cols; ++c)
            weight[static_cast<std::size_t>(r * p.row_stride + c)] = float_to_bf16(normal(rng));
    std::vector<std::uint16_t> x_bits(static_cast<std::size_t>(p.cols));
    for (auto& value : x_bits)
        value = float_to_bf16(normal(rng));
    std::vector<float> x(static_cast<std::size_t>(p.cols));
    gemv_input_bf16(x_bits.data(), p.cols, x.data());
    std::vector<std::uint16_t> bias(static_cast<std::size_t>(p.rows));
    for (auto& value : bias)
        value = float_to_bf16(normal(rng));
    std::vector<std::uint16_t> y(static_cast<std::size_t>(p.rows + 1), 0x1234);  // one guard element

    Bf16GemvArgs args;
    args.weight = weight.data();
    args.row_stride = p.row_stride;
    args.cols = p.cols;
    args.x = x.data();
    args.bias = p.bias ? bias.data() : nullptr;
    args.y = y.data();
    // Two calls over two halves of the rows, as threads would make them.
    const std::int64_t half = p.rows / 2;
    kernel(args, 0, half);
    kernel(args, half, p.rows);

    for (std::int64_t r = 0; r < p.rows; ++r) {
        double exact = p.bias ? bf16_to_float(bias[static_cast<std::size_t>(r)]) : 0.0;
        double magnitude = std::abs(exact);
        for (std::int64_t c = 0; c < p.cols; ++c) {
            double term = static_cast<double>(bf16_to_float(weight[static_cast<std::size_t>(r * p.row_stride + c)])) *
                          bf16_to_float(x_bits[static_cast<std::size_t>(c)]);
            exact += term;
            magnitude += std::abs(term);
        }
        const double got = bf16_to_float(y[static_cast<std::size_t>(r)]);
        const double tolerance = std::ldexp(std::abs(exact), -8) + static_cast<double>(p.cols) * std::ldexp(magnitude, -23);
        ASSERT_LE(std::abs(got - exact), tolerance) << "row " << r << " of " << p.rows << "x" << p.cols << (p.bias ? " with bias" : "");
    }
    EXPECT_EQ(y[static_cast<std::size_t>(p.rows)], 0x1234) << "wrote past the last row";
}

// Column counts cover the 32- and 16-column steps and every tail.
const std::vector<Problem> problems{
    {1, 1, 1, false},   {3, 7, 7, true},     {4, 16, 16, false},    {5, 17, 20, true},    {9, 33, 40, false},
    {6, 48, 48, true},  {7, 63, 64, false},  {37, 203, 211, true},  {64, 768, 768, false},
};

// The float32 kernels: within float32 accumulation error of the exact sum.
void check_f32(void (*kernel)(const F32GemvArgs&, std::int64_t, std::int64_t), const Problem& p, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    std::vector<float> weight(static_cast<std::size_t>(p.rows * p.row_stride), std::numeric_limits<float>::quiet_NaN());
    for (std::int64_t r = 0; r < p.rows; ++r)
        for (std::int64_t c = 0; c < p.cols; ++c)
            weight[static_cast<std::size_t>(r * p.row_stride + c)] = normal(rng);
    std::vector<float> x(static_cast<std::size_t>(p.cols));
    for (auto& value : x)
        value = normal(rng);
    std::vector<float> bias(static_cast<std::size_t>(p.rows));
    for (auto& value : bias)
        value = normal(rng);
    std::vector<float> y(static_cast<std::size_t>(p.rows + 1), 12.5f);

    F32GemvArgs args;
    args.weight = weight.data();
    args.row_stride = p.row_stride;
    args.cols = p.cols;
    args.x = x.data();
    args.bias = p.bias ? bias.data() : nullptr;
    args.y = y.data();
    const std::int64_t half = p.rows / 2;
    kernel(args, 0, half);
    kernel(args, half, p.rows);

    for (std::int64_t r = 0; r < p.rows; ++r) {
        double exact = p.bias ? bias[static_cast<std::size_t>(r)] : 0.0;
        double magnitude = std::abs(exact);
        for (std::int64_t c = 0; c < p.cols; ++c) {
            double term = static_cast<double>(weight[static_cast<std::size_t>(r * p.row_stride + c)]) * x[static_cast<std::size_t>(c)];
            exact += term;
            magnitude += std::abs(term);
        }
        const double tolerance = static_cast<double>(p.cols + 1) * std::ldexp(magnitude, -23);
        ASSERT_LE(std::abs(y[static_cast<std::size_t>(r)] - exact), tolerance) << "row " << r << " of " << p.rows << "x" << p.cols;
    }
    EXPECT_EQ(y[static_cast<std::size_t>(p.rows)], 12.5f) << "wrote past the last row";
}

}  // namespace

TEST(F32GemvTest, PortableKernelMatchesExactSums)
{
    std::uint32_t seed = 200;
    for (const auto& problem : problems)
        check_f32(gemv_f32_generic, problem, seed++);
}

TEST(F32GemvTest, Avx2KernelMatchesExactSums)
{
    if (!cpu_has_avx2_fma())
        GTEST_SKIP() << "this CPU has no AVX2 with FMA";
    std::uint32_t seed = 300;
    for (const auto& problem : problems)
        check_f32(gemv_f32_avx2, problem, seed++);
}

// Linear in float32 with one input row takes the kernel; it agrees with
// at::linear, with and without bias, and keeps autograd working.
TEST(F32GemvTest, LinearOneRowMatchesATen)
{
    at::manual_seed(4);
    for (bool with_bias : {false, true}) {
        Linear linear(203, 1031, with_bias, at::TensorOptions().dtype(at::kFloat));
        linear.reset_parameters();
        at::Tensor x = at::randn({1, 203});
        at::Tensor expected = at::linear(x.to(at::kDouble), linear.weight.to(at::kDouble),
                                         with_bias ? linear.bias.to(at::kDouble) : at::Tensor());
        {
            c10::InferenceMode guard;
            at::Tensor y = linear.forward(x);
            ASSERT_EQ(y.sizes(), (at::IntArrayRef{1, 1031}));
            EXPECT_LE((y.to(at::kDouble) - expected).abs().max().item<double>(), 1e-5);
        }
        at::Tensor y = linear.forward(x);
        y.sum().backward();
        ASSERT_TRUE(linear.weight.grad().defined());
        // d(sum y)/dW[r][c] = x[c] for every row.
        EXPECT_LE((linear.weight.grad() - x.expand({1031, 203})).abs().max().item<float>(), 1e-6);
    }
}

TEST(Bf16ConversionTest, RoundsToNearestEvenLikeLibTorch)
{
    EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(float_to_bf16(float_of(0x3f808000)), 0x3f80);  // tie, even below
    EXPECT_EQ(float_to_bf16(float_of(0x3f818000)), 0x3f82);  // tie, even above
    EXPECT_EQ(float_to_bf16(float_of(0x3f808001)), 0x3f81);  // just past the tie
    EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
    EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
    EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(float_of(0x7f800001)))));  // a NaN whose payload would round to infinity
    EXPECT_EQ(bf16_to_float(0xc0a0), -5.0f);

    // 100000 random floats of every magnitude convert as LibTorch converts them.
    at::manual_seed(7);
    at::Tensor values = at::randn({100000}) * at::pow(2.0, at::randint(-60, 60, {100000}, at::kDouble)).to(at::kFloat);
    at::Tensor expected = values.to(at::kBFloat16);
    const float* in = values.data_ptr<float>();
    const auto* want = static_cast<const std::uint16_t*>(expected.data_ptr());
    for (std::int64_t i = 0; i < values.numel(); ++i)
        ASSERT_EQ(float_to_bf16(in[i]), want[i]) << "value " << in[i] << " (bits " << std::hex << bits_of(in[i]) << ")";
}

TEST(Bf16GemvTest, PortableKernelMatchesExactSums)
{
    std::uint32_t seed = 1;
    for (const auto& problem : problems)
        check(gemv_bf16_generic, problem, seed++);
}

TEST(Bf16GemvTest, Avx2KernelMatchesExactSums)
{
    if (!cpu_has_avx2_fma())
        GTEST_SKIP() << "this CPU has no AVX2 with FMA";
    std::uint32_t seed = 100;
    for (const auto& problem : problems)
        check(gemv_bf16_avx2, problem, seed++);
}

// Linear with bfloat16 parameters and one input row (a decoding step) takes
// the kernel and agrees with at::linear computed in float32 and rounded;
// larger inputs, and products autograd must differentiate, keep at::linear.
TEST(Bf16GemvTest, LinearOneRowMatchesFloat32Product)
{
    at::manual_seed(3);
    Linear linear(203, 1031, /*bias=*/true, at::TensorOptions().dtype(at::kBFloat16));
    linear.reset_parameters();
    at::Tensor x = at::randn({1, 1, 203}).to(at::kBFloat16);
    at::Tensor expected = at::linear(x.to(at::kFloat), linear.weight.to(at::kFloat), linear.bias.to(at::kFloat));
    {
        c10::InferenceMode guard;
        at::Tensor y = linear.forward(x);
        ASSERT_EQ(y.scalar_type(), at::kBFloat16);
        ASSERT_EQ(y.sizes(), (at::IntArrayRef{1, 1, 1031}));
        at::Tensor error = (y.to(at::kFloat) - expected).abs();
        EXPECT_TRUE((error <= expected.abs() * std::ldexp(1.0, -8) + 1e-6).all().item<bool>())
            << "max error " << error.max().item<float>();
        // Batch 4: at::linear, same values row by row.
        at::Tensor rows = at::randn({4, 1, 203}).to(at::kBFloat16);
        at::Tensor batched = linear.forward(rows);
        for (std::int64_t i = 0; i < 4; ++i)
            EXPECT_LE((linear.forward(rows[i].unsqueeze(0)).to(at::kFloat) - batched[i].to(at::kFloat)).abs().max().item<float>(),
                      std::ldexp(batched[i].to(at::kFloat).abs().max().item<float>(), -7));
    }
    // With autograd recording, gradients reach the parameters.
    at::Tensor y = linear.forward(x);
    y.to(at::kFloat).sum().backward();
    ASSERT_TRUE(linear.weight.grad().defined());
    EXPECT_GT(linear.weight.grad().abs().sum().item<float>(), 0.0f);
}

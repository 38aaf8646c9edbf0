// The matrix-vector kernels (sdk/src/nn/kernels/gemv.cpp, compiled into this
// test) against sums computed here in double precision, and Linear's one-row
// paths against at::linear.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
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

// What the checks need to know of each kernel's element type.
struct Bf16 {
    using Value = std::uint16_t;  // bfloat16 bit pattern
    using Args = Bf16GemvArgs;
    static constexpr Value guard = 0x1234;
    static constexpr int rounding_bits = 8;  // the result is rounded to bfloat16
    static Value from_float(float value) { return float_to_bf16(value); }
    static double to_double(Value value) { return bf16_to_float(value); }
    static void input(const std::vector<Value>& x, std::vector<float>& out) { gemv_input_bf16(x.data(), static_cast<std::int64_t>(x.size()), out.data()); }
    static void natural(Args& args, const Value* x, std::int64_t stride)
    {
        args.x_bf16 = x;
        args.x_bf16_stride = stride;
    }
};

struct F32 {
    using Value = float;
    using Args = F32GemvArgs;
    static constexpr Value guard = 12.5f;
    static constexpr int rounding_bits = 0;  // no rounding beyond accumulation
    static Value from_float(float value) { return value; }
    static double to_double(Value value) { return value; }
    static void input(const std::vector<Value>& x, std::vector<float>& out) { out = x; }
    static void natural(Args& /*args*/, const Value* /*x*/, std::int64_t /*stride*/) {}
};

// Column counts cover the 32-, 16- and 8-column steps and every tail.
const std::vector<Problem> problems{
    {1, 1, 1, false},   {3, 7, 7, true},     {4, 16, 16, false},    {5, 17, 20, true},    {9, 33, 40, false},
    {6, 48, 48, true},  {7, 63, 64, false},  {37, 203, 211, true},  {64, 768, 768, false},
};

// Runs `kernel` on random data for every problem and `batch` inputs (input
// b at b * x_stride, output b at b * y_stride, strides wider than a row), over
// two halves of the rows as threads would split them, and checks every
// output against the exact sum: within one rounding to the output type
// (2^-8 relative for bfloat16) plus float32 accumulation error ((cols + 1) *
// 2^-23 of the sum of |w x|, which matters only under cancellation). Padding
// between rows holds NaN, which must never be read, and the guard elements
// after each output must stay untouched.
template <typename T>
void check(void (*kernel)(const typename T::Args&, std::int64_t, std::int64_t), std::uint32_t seed, std::int64_t batch = 1)
{
    using Value = typename T::Value;
    for (const Problem& p : problems) {
        SCOPED_TRACE(std::to_string(p.rows) + "x" + std::to_string(p.cols) + (p.bias ? " with bias" : "") + ", batch " +
                     std::to_string(batch));
        std::mt19937 rng(seed++);
        std::normal_distribution<float> normal;
        auto random_values = [&](std::size_t count) {
            std::vector<Value> values(count);
            for (auto& value : values)
                value = T::from_float(normal(rng));
            return values;
        };
        std::vector<Value> weight(static_cast<std::size_t>(p.rows * p.row_stride), T::from_float(std::numeric_limits<float>::quiet_NaN()));
        for (std::int64_t r = 0; r < p.rows; ++r)
            for (std::int64_t c = 0; c < p.cols; ++c)
                weight[static_cast<std::size_t>(r * p.row_stride + c)] = T::from_float(normal(rng));
        const std::int64_t x_stride = p.cols + 3;
        const std::int64_t y_stride = p.rows + 2;
        std::vector<std::vector<Value>> xs;
        std::vector<float> kernel_x(static_cast<std::size_t>(batch * x_stride), std::numeric_limits<float>::quiet_NaN());
        std::vector<Value> natural_x(static_cast<std::size_t>(batch * x_stride), T::from_float(std::numeric_limits<float>::quiet_NaN()));
        for (std::int64_t b = 0; b < batch; ++b) {
            xs.push_back(random_values(static_cast<std::size_t>(p.cols)));
            std::vector<float> widened(static_cast<std::size_t>(p.cols));
            T::input(xs.back(), widened);
            std::copy(widened.begin(), widened.end(), kernel_x.begin() + b * x_stride);
            std::copy(xs.back().begin(), xs.back().end(), natural_x.begin() + b * x_stride);
        }
        const std::vector<Value> bias = random_values(static_cast<std::size_t>(p.rows));
        std::vector<Value> y(static_cast<std::size_t>(batch * y_stride), T::guard);

        typename T::Args args;
        args.weight = weight.data();
        args.row_stride = p.row_stride;
        args.cols = p.cols;
        args.x = kernel_x.data();
        args.bias = p.bias ? bias.data() : nullptr;
        args.y = y.data();
        args.batch = batch;
        args.x_stride = x_stride;
        args.y_stride = y_stride;
        T::natural(args, natural_x.data(), x_stride);
        kernel(args, 0, p.rows / 2);
        kernel(args, p.rows / 2, p.rows);

        for (std::int64_t b = 0; b < batch; ++b) {
            const std::vector<Value>& x = xs[static_cast<std::size_t>(b)];
            for (std::int64_t r = 0; r < p.rows; ++r) {
                double exact = p.bias ? T::to_double(bias[static_cast<std::size_t>(r)]) : 0.0;
                double magnitude = std::abs(exact);
                for (std::int64_t c = 0; c < p.cols; ++c) {
                    double term =
                        T::to_double(weight[static_cast<std::size_t>(r * p.row_stride + c)]) * T::to_double(x[static_cast<std::size_t>(c)]);
                    exact += term;
                    magnitude += std::abs(term);
                }
                const double got = T::to_double(y[static_cast<std::size_t>(b * y_stride + r)]);
                double tolerance = static_cast<double>(p.cols + 1) * std::ldexp(magnitude, -23);
                if (T::rounding_bits > 0)
                    tolerance += std::ldexp(std::abs(exact), -T::rounding_bits);
                ASSERT_LE(std::abs(got - exact), tolerance) << "input " << b << ", row " << r;
            }
            for (std::int64_t r = p.rows; r < y_stride; ++r)
                EXPECT_EQ(y[static_cast<std::size_t>(b * y_stride + r)], T::guard) << "input " << b << ": wrote past the last row";
        }
    }
}

// Every batch size the kernels have a variant for.
const std::vector<std::int64_t> batches{1, 2, 3, 4};
static_assert(gemv_max_batch == 4);

}  // namespace

TEST(F32GemvTest, PortableKernelMatchesExactSums)
{
    for (std::int64_t batch : batches)
        check<F32>(gemv_f32_generic, 200 + 17 * static_cast<std::uint32_t>(batch), batch);
}

TEST(F32GemvTest, Avx2KernelMatchesExactSums)
{
    if (!cpu_has_avx2_fma())
        GTEST_SKIP() << "this CPU has no AVX2 with FMA";
    for (std::int64_t batch : batches)
        check<F32>(gemv_f32_avx2, 300 + 17 * static_cast<std::uint32_t>(batch), batch);
}

// The register-tiled kernel for small batches, at batch sizes that fill
// whole tiles of 4 inputs and leave every remainder.
TEST(F32GemvTest, SmallBatchKernelMatchesExactSums)
{
    if (!gemm_f32_small_batch_supported())
        GTEST_SKIP() << "this CPU has no AVX-512 (or ATEN_CPU_CAPABILITY caps it)";
    for (std::int64_t batch : {1, 2, 3, 4, 5, 7, 8, 13})
        check<F32>(gemm_f32_small_batch, 400 + 17 * static_cast<std::uint32_t>(batch), batch);
}

// Linear with a few input rows (a beam of hypotheses) takes the small-batch
// kernels, and past their limit BLAS; each agrees with at::linear in double.
TEST(F32GemvTest, LinearSmallBatchesMatchATen)
{
    at::manual_seed(5);
    c10::InferenceMode guard;
    for (bool with_bias : {false, true}) {
        Linear linear(203, 517, with_bias, at::TensorOptions().dtype(at::kFloat));
        linear.reset_parameters();
        for (std::int64_t rows : {2, 5, 17, 24, 25, 64, 96, 97}) {
            at::Tensor x = at::randn({rows, 1, 203});
            at::Tensor expected = at::linear(x.to(at::kDouble), linear.weight.to(at::kDouble),
                                             with_bias ? linear.bias.to(at::kDouble) : at::Tensor());
            at::Tensor y = linear.forward(x);
            ASSERT_EQ(y.sizes(), (at::IntArrayRef{rows, 1, 517}));
            EXPECT_LE((y.to(at::kDouble) - expected).abs().max().item<double>(), 1e-5) << rows << " rows";

            // bfloat16 (LibTorch's products): each output rounded once.
            Linear half(203, 517, with_bias, at::TensorOptions().dtype(at::kBFloat16));
            half.weight.copy_(linear.weight);
            if (with_bias)
                half.bias.copy_(linear.bias);
            at::Tensor xb = x.to(at::kBFloat16);
            at::Tensor expected_b = at::linear(xb.to(at::kDouble), half.weight.to(at::kDouble),
                                               with_bias ? half.bias.to(at::kDouble) : at::Tensor());
            at::Tensor yb = half.forward(xb).to(at::kDouble);
            EXPECT_LE(((yb - expected_b).abs() - expected_b.abs() * (1.0 / 128)).max().item<double>(), 1e-4) << rows << " rows, bfloat16";
        }
    }
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
    for (std::int64_t batch : batches)
        check<Bf16>(gemv_bf16_generic, 1 + 17 * static_cast<std::uint32_t>(batch), batch);
}

TEST(Bf16GemvTest, Avx2KernelMatchesExactSums)
{
    if (!cpu_has_avx2_fma())
        GTEST_SKIP() << "this CPU has no AVX2 with FMA";
    for (std::int64_t batch : batches)
        check<Bf16>(gemv_bf16_avx2, 100 + 17 * static_cast<std::uint32_t>(batch), batch);
}

TEST(Bf16GemvTest, Avx512Bf16KernelMatchesExactSums)
{
    if (!cpu_has_avx512_bf16())
        GTEST_SKIP() << "this CPU has no AVX-512 BF16";
    // Eight inputs a pass, unless ATEN_CPU_CAPABILITY caps the kernels below AVX-512.
    const char* capability = std::getenv("ATEN_CPU_CAPABILITY");
    const bool capped = capability != nullptr && (std::string(capability) == "default" || std::string(capability) == "avx2");
    EXPECT_EQ(gemv_bf16_max_batch(), capped ? gemv_max_batch : 8);
    for (std::int64_t batch = 1; batch <= 8; ++batch)
        check<Bf16>(gemv_bf16_avx512, 500 + 17 * static_cast<std::uint32_t>(batch), batch);
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

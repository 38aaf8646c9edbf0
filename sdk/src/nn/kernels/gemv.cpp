#include "gemv.hpp"

#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FAIRSEQ2_X86 1
#endif

namespace fairseq2::nn::detail {

namespace {

std::uint16_t finish_row(float sum, const Bf16GemvArgs& args, std::int64_t row)
{
    if (args.bias != nullptr)
        sum += bf16_to_float(args.bias[row]);
    return float_to_bf16(sum);
}

}  // namespace

void gemv_input_bf16(const std::uint16_t* x, std::int64_t cols, float* out)
{
    std::int64_t col = 0;
    for (; col + 16 <= cols; col += 16)
        for (int j = 0; j < 8; ++j) {
            out[col + j] = bf16_to_float(x[col + 2 * j]);
            out[col + 8 + j] = bf16_to_float(x[col + 2 * j + 1]);
        }
    for (; col < cols; ++col)
        out[col] = bf16_to_float(x[col]);
}

void gemv_bf16_generic(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    for (std::int64_t row = first; row < last; ++row) {
        const std::uint16_t* w = args.weight + row * args.row_stride;
        for (std::int64_t b = 0; b < args.batch; ++b) {
            const float* x = args.x + b * args.x_stride;
            // Partial sums per position in the block, so the compiler may
            // vectorise the loop.
            float partial[8] = {};
            std::int64_t col = 0;
            for (; col + 16 <= args.cols; col += 16)
                for (int j = 0; j < 8; ++j)
                    partial[j] += bf16_to_float(w[col + 2 * j]) * x[col + j] + bf16_to_float(w[col + 2 * j + 1]) * x[col + 8 + j];
            float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
            for (; col < args.cols; ++col)
                sum += bf16_to_float(w[col]) * x[col];
            args.y[b * args.y_stride + row] = finish_row(sum, args, row);
        }
    }
}

void gemv_f32_generic(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    for (std::int64_t row = first; row < last; ++row) {
        const float* w = args.weight + row * args.row_stride;
        for (std::int64_t b = 0; b < args.batch; ++b) {
            const float* x = args.x + b * args.x_stride;
            float partial[8] = {};
            std::int64_t col = 0;
            for (; col + 8 <= args.cols; col += 8)
                for (int j = 0; j < 8; ++j)
                    partial[j] += w[col + j] * x[col + j];
            float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
            for (; col < args.cols; ++col)
                sum += w[col] * x[col];
            args.y[b * args.y_stride + row] = args.bias != nullptr ? sum + args.bias[row] : sum;
        }
    }
}

#ifdef FAIRSEQ2_X86

bool cpu_has_avx2_fma()
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

namespace {

__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v)
{
    __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
}

// One row. The 32-bit lanes of 16 loaded weights hold pairs (even, odd):
// the even values widen by a shift, the odd ones by masking the low half,
// both within lanes (no shuffles), and multiply the even and odd halves of
// x's block. Rows go one at a time, so the weights are read as one
// sequential stream: interleaving four rows made the hardware prefetcher
// lose track and ran 2.4 times slower here.
__attribute__((target("avx2,fma"))) std::uint16_t row_avx2(const Bf16GemvArgs& args, std::int64_t row)
{
    const __m256i high_half = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    const std::uint16_t* w = args.weight + row * args.row_stride;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    std::int64_t col = 0;
    for (; col + 32 <= args.cols; col += 32)
        for (int half = 0; half < 2; ++half) {
            const std::int64_t c = col + 16 * half;
            const __m256i pairs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c));
            const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
            const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(pairs, high_half));
            acc[2 * half] = _mm256_fmadd_ps(even, _mm256_loadu_ps(args.x + c), acc[2 * half]);
            acc[2 * half + 1] = _mm256_fmadd_ps(odd, _mm256_loadu_ps(args.x + c + 8), acc[2 * half + 1]);
        }
    for (; col + 16 <= args.cols; col += 16) {
        const __m256i pairs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + col));
        acc[0] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16)), _mm256_loadu_ps(args.x + col), acc[0]);
        acc[1] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(pairs, high_half)), _mm256_loadu_ps(args.x + col + 8), acc[1]);
    }
    float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; col < args.cols; ++col)
        sum += bf16_to_float(w[col]) * args.x[col];
    return finish_row(sum, args, row);
}

// One float32 row, four accumulators over 32 columns a step.
__attribute__((target("avx2,fma"))) float row_f32_avx2(const F32GemvArgs& args, std::int64_t row)
{
    const float* w = args.weight + row * args.row_stride;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    std::int64_t col = 0;
    for (; col + 32 <= args.cols; col += 32)
        for (int j = 0; j < 4; ++j)
            acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w + col + 8 * j), _mm256_loadu_ps(args.x + col + 8 * j), acc[j]);
    for (; col + 8 <= args.cols; col += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + col), _mm256_loadu_ps(args.x + col), acc[0]);
    float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; col < args.cols; ++col)
        sum += w[col] * args.x[col];
    return args.bias != nullptr ? sum + args.bias[row] : sum;
}

// Rows [first, last) for B (2 to 4) inputs at once: each 8 (float32) or 16
// (bfloat16) weights are loaded once and multiplied into the inputs' sums,
// two accumulators per input, so that at least four independent sums hide
// the latency of the multiply-adds.
template <int B>
__attribute__((target("avx2,fma"))) void rows_f32_batch_avx2(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    for (std::int64_t row = first; row < last; ++row) {
        const float* w = args.weight + row * args.row_stride;
        __m256 acc[2][B];
        for (int b = 0; b < B; ++b)
            acc[0][b] = acc[1][b] = _mm256_setzero_ps();
        std::int64_t col = 0;
        for (; col + 16 <= args.cols; col += 16)
            for (int half = 0; half < 2; ++half) {
                const __m256 weights = _mm256_loadu_ps(w + col + 8 * half);
                for (int b = 0; b < B; ++b)
                    acc[half][b] = _mm256_fmadd_ps(weights, _mm256_loadu_ps(args.x + b * args.x_stride + col + 8 * half), acc[half][b]);
            }
        for (; col + 8 <= args.cols; col += 8) {
            const __m256 weights = _mm256_loadu_ps(w + col);
            for (int b = 0; b < B; ++b)
                acc[0][b] = _mm256_fmadd_ps(weights, _mm256_loadu_ps(args.x + b * args.x_stride + col), acc[0][b]);
        }
        for (int b = 0; b < B; ++b) {
            const float* x = args.x + b * args.x_stride;
            float sum = horizontal_sum(_mm256_add_ps(acc[0][b], acc[1][b]));
            for (std::int64_t c = col; c < args.cols; ++c)
                sum += w[c] * x[c];
            args.y[b * args.y_stride + row] = args.bias != nullptr ? sum + args.bias[row] : sum;
        }
    }
}

template <int B>
__attribute__((target("avx2,fma"))) void rows_bf16_batch_avx2(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    const __m256i high_half = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
    for (std::int64_t row = first; row < last; ++row) {
        const std::uint16_t* w = args.weight + row * args.row_stride;
        __m256 acc[2][B];  // the even and the odd columns' sums
        for (int b = 0; b < B; ++b)
            acc[0][b] = acc[1][b] = _mm256_setzero_ps();
        std::int64_t col = 0;
        for (; col + 16 <= args.cols; col += 16) {
            const __m256i pairs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + col));
            const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
            const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(pairs, high_half));
            for (int b = 0; b < B; ++b) {
                const float* x = args.x + b * args.x_stride + col;
                acc[0][b] = _mm256_fmadd_ps(even, _mm256_loadu_ps(x), acc[0][b]);
                acc[1][b] = _mm256_fmadd_ps(odd, _mm256_loadu_ps(x + 8), acc[1][b]);
            }
        }
        for (int b = 0; b < B; ++b) {
            const float* x = args.x + b * args.x_stride;
            float sum = horizontal_sum(_mm256_add_ps(acc[0][b], acc[1][b]));
            for (std::int64_t c = col; c < args.cols; ++c)
                sum += bf16_to_float(w[c]) * x[c];
            args.y[b * args.y_stride + row] = finish_row(sum, args, row);
        }
    }
}

// Calls Kernel<B> for args.batch in [2, gemv_max_batch].
template <typename Args, template <int> class Kernel>
void for_batch(const Args& args, std::int64_t first, std::int64_t last)
{
    static_assert(gemv_max_batch == 4);
    switch (args.batch) {
    case 2: Kernel<2>::run(args, first, last); break;
    case 3: Kernel<3>::run(args, first, last); break;
    default: Kernel<4>::run(args, first, last); break;
    }
}

template <int B>
struct F32Batch {
    static void run(const F32GemvArgs& args, std::int64_t first, std::int64_t last) { rows_f32_batch_avx2<B>(args, first, last); }
};

template <int B>
struct Bf16Batch {
    static void run(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last) { rows_bf16_batch_avx2<B>(args, first, last); }
};

}  // namespace

namespace {

// The 16 lanes of v summed.
__attribute__((target("avx512f"))) inline float horizontal_sum512(__m512 v)
{
    return _mm512_reduce_add_ps(v);
}

// Rows [row, row + R) times inputs [input, input + X): R x X sums of 16
// lanes each; the last cols % 16 columns through a mask.
template <int R, int X>
__attribute__((target("avx512f"))) void tile_f32_avx512(const F32GemvArgs& args, std::int64_t row, std::int64_t input)
{
    __m512 acc[R][X];
    for (int r = 0; r < R; ++r)
        for (int x = 0; x < X; ++x)
            acc[r][x] = _mm512_setzero_ps();
    const float* w[R];
    for (int r = 0; r < R; ++r)
        w[r] = args.weight + (row + r) * args.row_stride;
    const float* in[X];
    for (int x = 0; x < X; ++x)
        in[x] = args.x + (input + x) * args.x_stride;
    std::int64_t col = 0;
    for (; col + 16 <= args.cols; col += 16) {
        __m512 xs[X];
        for (int x = 0; x < X; ++x)
            xs[x] = _mm512_loadu_ps(in[x] + col);
        for (int r = 0; r < R; ++r) {
            const __m512 weights = _mm512_loadu_ps(w[r] + col);
            for (int x = 0; x < X; ++x)
                acc[r][x] = _mm512_fmadd_ps(weights, xs[x], acc[r][x]);
        }
    }
    if (col < args.cols) {
        const auto mask = static_cast<__mmask16>((1u << (args.cols - col)) - 1u);
        __m512 xs[X];
        for (int x = 0; x < X; ++x)
            xs[x] = _mm512_maskz_loadu_ps(mask, in[x] + col);
        for (int r = 0; r < R; ++r) {
            const __m512 weights = _mm512_maskz_loadu_ps(mask, w[r] + col);
            for (int x = 0; x < X; ++x)
                acc[r][x] = _mm512_fmadd_ps(weights, xs[x], acc[r][x]);
        }
    }
    for (int r = 0; r < R; ++r) {
        const float bias = args.bias != nullptr ? args.bias[row + r] : 0.0F;
        for (int x = 0; x < X; ++x)
            args.y[(input + x) * args.y_stride + row + r] = horizontal_sum512(acc[r][x]) + bias;
    }
}

template <int R>
__attribute__((target("avx512f"))) void row_tiles_f32_avx512(const F32GemvArgs& args, std::int64_t row)
{
    std::int64_t input = 0;
    for (; input + 4 <= args.batch; input += 4)
        tile_f32_avx512<R, 4>(args, row, input);
    switch (args.batch - input) {
    case 3: tile_f32_avx512<R, 3>(args, row, input); break;
    case 2: tile_f32_avx512<R, 2>(args, row, input); break;
    case 1: tile_f32_avx512<R, 1>(args, row, input); break;
    default: break;
    }
}

}  // namespace

__attribute__((target("avx512f"))) void gemm_f32_small_batch(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    std::int64_t row = first;
    for (; row + 4 <= last; row += 4)
        row_tiles_f32_avx512<4>(args, row);
    for (; row < last; ++row)
        row_tiles_f32_avx512<1>(args, row);
}

bool gemm_f32_small_batch_supported()
{
    static const bool supported = __builtin_cpu_supports("avx512f") && std::getenv("ATEN_CPU_CAPABILITY") == nullptr;
    return supported;
}

__attribute__((target("avx2,fma"))) void gemv_f32_avx2(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    if (args.batch > 1) {
        for_batch<F32GemvArgs, F32Batch>(args, first, last);
        return;
    }
    for (std::int64_t row = first; row < last; ++row)
        args.y[row] = row_f32_avx2(args, row);
}

__attribute__((target("avx2,fma"))) void gemv_bf16_avx2(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    if (args.batch > 1) {
        for_batch<Bf16GemvArgs, Bf16Batch>(args, first, last);
        return;
    }
    for (std::int64_t row = first; row < last; ++row)
        args.y[row] = row_avx2(args, row);
}

bool cpu_has_avx512_bf16()
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
}

namespace {

// Rows [first, last) for B inputs with AVX-512 BF16's pair dot products
// (vdpbf16ps: 32 weights times 32 inputs into 16 float32 sums in one
// instruction), H sums per input: four for one or two inputs, two for
// more, so that eight or more independent sums hide the latency. The inputs are
// args.x_bf16's; the columns past the last whole block of 32 are summed one
// by one.
template <int B>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void rows_bf16_avx512(const Bf16GemvArgs& args, std::int64_t first,
                                                                               std::int64_t last)
{
    constexpr int H = B <= 2 ? 4 : 2;
    const std::int64_t blocks = args.cols / 32;
    for (std::int64_t row = first; row < last; ++row) {
        const std::uint16_t* w = args.weight + row * args.row_stride;
        __m512 acc[H][B];
        for (int h = 0; h < H; ++h)
            for (int b = 0; b < B; ++b)
                acc[h][b] = _mm512_setzero_ps();
        std::int64_t block = 0;
        for (; block + H <= blocks; block += H)
            for (int h = 0; h < H; ++h) {
                const std::int64_t col = (block + h) * 32;
                const auto weights = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + col));
                for (int b = 0; b < B; ++b)
                    acc[h][b] = _mm512_dpbf16_ps(acc[h][b], weights,
                                                 reinterpret_cast<__m512bh>(_mm512_loadu_si512(args.x_bf16 + b * args.x_bf16_stride + col)));
            }
        for (; block < blocks; ++block) {
            const std::int64_t col = block * 32;
            const auto weights = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + col));
            for (int b = 0; b < B; ++b)
                acc[0][b] = _mm512_dpbf16_ps(acc[0][b], weights,
                                             reinterpret_cast<__m512bh>(_mm512_loadu_si512(args.x_bf16 + b * args.x_bf16_stride + col)));
        }
        for (int b = 0; b < B; ++b) {
            __m512 total = acc[0][b];
            for (int h = 1; h < H; ++h)
                total = _mm512_add_ps(total, acc[h][b]);
            // (Not _mm512_reduce_add_ps, whose GCC 12 header trips
            // -Wmaybe-uninitialized.)
            alignas(64) float lanes[16];
            _mm512_store_ps(lanes, total);
            float sum = 0.0f;
            for (float lane : lanes)
                sum += lane;
            const std::uint16_t* x = args.x_bf16 + b * args.x_bf16_stride;
            for (std::int64_t col = blocks * 32; col < args.cols; ++col)
                sum += bf16_to_float(w[col]) * bf16_to_float(x[col]);
            args.y[b * args.y_stride + row] = finish_row(sum, args, row);
        }
    }
}

}  // namespace

void gemv_bf16_avx512(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    switch (args.batch) {
    case 1: rows_bf16_avx512<1>(args, first, last); break;
    case 2: rows_bf16_avx512<2>(args, first, last); break;
    case 3: rows_bf16_avx512<3>(args, first, last); break;
    case 4: rows_bf16_avx512<4>(args, first, last); break;
    case 5: rows_bf16_avx512<5>(args, first, last); break;
    case 6: rows_bf16_avx512<6>(args, first, last); break;
    case 7: rows_bf16_avx512<7>(args, first, last); break;
    default: rows_bf16_avx512<8>(args, first, last); break;
    }
}

#else

bool cpu_has_avx2_fma()
{
    return false;
}

bool cpu_has_avx512_bf16()
{
    return false;
}

void gemv_bf16_avx512(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    gemv_bf16_generic(args, first, last);
}

void gemv_bf16_avx2(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    gemv_bf16_generic(args, first, last);
}

void gemv_f32_avx2(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    gemv_f32_generic(args, first, last);
}

void gemm_f32_small_batch(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    for (std::int64_t n = 0; n < args.batch; ++n) {
        F32GemvArgs one = args;
        one.batch = 1;
        one.x = args.x + n * args.x_stride;
        one.y = args.y + n * args.y_stride;
        gemv_f32_generic(one, first, last);
    }
}

bool gemm_f32_small_batch_supported()
{
    return false;
}

#endif

namespace {

// ATEN_CPU_CAPABILITY caps the instruction set as it caps LibTorch's:
// "default" runs the portable kernels, "avx2" the AVX2 ones.
std::string_view capability()
{
    const char* value = std::getenv("ATEN_CPU_CAPABILITY");
    return value != nullptr ? std::string_view{value} : std::string_view{};
}

bool use_avx2()
{
    static const bool use = cpu_has_avx2_fma() && capability() != "default";
    return use;
}

bool use_avx512_bf16()
{
    static const bool use = cpu_has_avx512_bf16() && capability() != "default" && capability() != "avx2";
    return use;
}

}  // namespace

std::int64_t gemv_bf16_max_batch()
{
    return use_avx512_bf16() ? 8 : gemv_max_batch;
}

bool gemv_bf16_reads_only_x_bf16()
{
    return use_avx512_bf16();
}

void gemv_bf16(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last)
{
    if (args.x_bf16 != nullptr && use_avx512_bf16())
        gemv_bf16_avx512(args, first, last);
    else if (use_avx2())
        gemv_bf16_avx2(args, first, last);
    else
        gemv_bf16_generic(args, first, last);
}

void gemv_f32(const F32GemvArgs& args, std::int64_t first, std::int64_t last)
{
    if (use_avx2())
        gemv_f32_avx2(args, first, last);
    else
        gemv_f32_generic(args, first, last);
}

}  // namespace fairseq2::nn::detail

#pragma once

// Matrix-vector products for decoding one token at a time, where reading
// the weights is all the work: each row is read once, front to back, so the
// whole matrix is one sequential stream the hardware prefetcher follows
// (interleaving four rows ran 2.4 times slower here). bfloat16 weights are
// widened in registers and accumulate in float32; LibTorch 1.13's bfloat16
// products read a one-row input's weights at 15-28 GB/s here, a third of the
// machine's bandwidth. Internal to the SDK; torch-free, so the tests compile
// it in to check each variant.

#include <cstdint>

#include "bfloat16.hpp"

namespace fairseq2::nn::detail {

// Rows [first, last) of y = W x (+ bias), rounded to bfloat16 (to nearest,
// ties to even).
//   weight: bfloat16 bit patterns, row r at weight + r * row_stride, `cols`
//           contiguous values;
//   x:      `cols` float32 values in the kernels' order (gemv_input_bf16);
//   bias:   bfloat16 per row, or null;
//   y:      bfloat16 per row.
//   batch:  how many inputs share the pass over the weights, 1 to
//           gemv_max_batch (given x_bf16, to gemv_bf16_max_batch()): input
//           b at x + b * x_stride, its output at y + b * y_stride (row r
//           at y[b * y_stride + r]).
struct Bf16GemvArgs {
    const std::uint16_t* weight = nullptr;
    std::int64_t row_stride = 0;
    std::int64_t cols = 0;
    const float* x = nullptr;
    const std::uint16_t* bias = nullptr;
    std::uint16_t* y = nullptr;
    std::int64_t batch = 1;
    std::int64_t x_stride = 0;
    std::int64_t y_stride = 0;
    // The same inputs as bfloat16 in their natural order (input b at
    // x_bf16 + b * x_bf16_stride), or null: the AVX-512 BF16 variant reads
    // these, the others x.
    const std::uint16_t* x_bf16 = nullptr;
    std::int64_t x_bf16_stride = 0;
};

// The most inputs one pass over the weights serves: each weight row is read
// once, from memory, for all of them. (Eight at once, one accumulator each,
// decoded 8 sequences of a small llama 10-20% slower than two passes of
// four, two accumulators each.)
inline constexpr std::int64_t gemv_max_batch = 4;

// gemv_bf16() with x_bf16 takes up to this many inputs: 8 where it runs
// the AVX-512 BF16 variant (32 vector registers hold the sums), else
// gemv_max_batch.
std::int64_t gemv_bf16_max_batch();

// Whether gemv_bf16() given x_bf16 reads nothing else (it runs the AVX-512
// BF16 variant): callers may then skip widening the inputs and leave x null.
bool gemv_bf16_reads_only_x_bf16();

// Widens x (`cols` bfloat16 values) into `out` in the order the kernels read
// it: within each full block of 16 columns the 8 even columns come first,
// then the 8 odd ones; the last cols % 16 stay in order. A bfloat16 pair
// loaded as one 32-bit lane then widens without shuffles: the even value by
// a shift, the odd one by a mask.
void gemv_input_bf16(const std::uint16_t* x, std::int64_t cols, float* out);

// The fastest variant this CPU runs (AVX-512 BF16 when x_bf16 is given,
// else AVX2 with FMA, else portable C++); ATEN_CPU_CAPABILITY=default
// selects the portable one and =avx2 the AVX2 one, as they do LibTorch's.
void gemv_bf16(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last);

// The variants themselves. gemv_bf16_avx2 needs a CPU with AVX2 and FMA;
// gemv_bf16_avx512 one with AVX-512 BF16, and x_bf16, and takes up to 8
// inputs (its pair dot products treat subnormal numbers as zero).
void gemv_bf16_generic(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last);
void gemv_bf16_avx2(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last);
void gemv_bf16_avx512(const Bf16GemvArgs& args, std::int64_t first, std::int64_t last);
bool cpu_has_avx2_fma();
bool cpu_has_avx512_bf16();

// Rows [first, last) of y = W x (+ bias) in float32; weight row r at
// weight + r * row_stride, `cols` contiguous values; x in its natural order;
// batch, x_stride and y_stride as for bfloat16.
struct F32GemvArgs {
    const float* weight = nullptr;
    std::int64_t row_stride = 0;
    std::int64_t cols = 0;
    const float* x = nullptr;
    const float* bias = nullptr;
    float* y = nullptr;
    std::int64_t batch = 1;
    std::int64_t x_stride = 0;
    std::int64_t y_stride = 0;
};

void gemv_f32(const F32GemvArgs& args, std::int64_t first, std::int64_t last);

// Rows [first, last) of y = W x (+ bias) for args.batch inputs, any number,
// where the product is compute-bound (a small batch: a beam of hypotheses,
// a few sentences): tiles of 4 weight rows times 4 inputs, 16 sums in
// AVX-512 registers, so that each loaded vector serves four multiply-adds.
// Needs gemm_f32_small_batch_supported(); the weights of a call's rows
// should fit the cache (callers pass tiles of them).
void gemm_f32_small_batch(const F32GemvArgs& args, std::int64_t first, std::int64_t last);
bool gemm_f32_small_batch_supported();
void gemv_f32_generic(const F32GemvArgs& args, std::int64_t first, std::int64_t last);
void gemv_f32_avx2(const F32GemvArgs& args, std::int64_t first, std::int64_t last);

}  // namespace fairseq2::nn::detail

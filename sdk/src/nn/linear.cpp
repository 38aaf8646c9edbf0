#include "fairseq2/nn/linear.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/init.h>

#include "fairseq2/runtime/memory.hpp"
#include "kernels/gemv.hpp"
#include "serial_section.hpp"
#include "storage_origin.hpp"

namespace fairseq2::nn {

namespace {

bool on_cpu(const at::Tensor& x, const at::Tensor& weight)
{
    return x.device().is_cpu() && weight.device().is_cpu();
}

// Whether autograd may need to differentiate the product: our own kernel has
// no backward.
bool recording(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias)
{
    return at::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
}

// Rows per thread at the least: products under serial_work_limit
// multiply-adds stay on the calling thread.
std::int64_t row_grain(std::int64_t cols)
{
    return std::max<std::int64_t>(4, (detail::serial_work_limit + cols - 1) / cols);
}

// y = weight @ x (+ bias) for one bfloat16 row x, with our kernel
// (kernels/gemv.hpp): rows split between threads when the product is
// large enough to share.
at::Tensor gemv_bf16(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias)
{
    const std::int64_t rows = weight.size(0);
    const std::int64_t cols = weight.size(1);
    const at::Tensor row = x.reshape({cols}).contiguous();
    // The input row in float32, in the kernel's order, in a buffer kept
    // between calls, unless the kernel reads only the bfloat16 row.
    thread_local std::vector<float> x32;
    const float* widened = nullptr;
    if (!detail::gemv_bf16_reads_only_x_bf16()) {
        x32.resize(static_cast<std::size_t>(cols));
        detail::gemv_input_bf16(static_cast<const std::uint16_t*>(row.data_ptr()), cols, x32.data());
        widened = x32.data();
    }

    at::Tensor y = at::empty({rows}, weight.options());
    const at::Tensor bias_row = bias.defined() ? bias.contiguous() : at::Tensor();
    detail::Bf16GemvArgs args;
    args.weight = static_cast<const std::uint16_t*>(weight.data_ptr());
    args.row_stride = weight.stride(0);
    args.cols = cols;
    args.x = widened;
    args.x_bf16 = static_cast<const std::uint16_t*>(row.data_ptr());
    args.bias = bias_row.defined() ? static_cast<const std::uint16_t*>(bias_row.data_ptr()) : nullptr;
    args.y = static_cast<std::uint16_t*>(y.data_ptr());
    at::parallel_for(0, rows, row_grain(cols), [&](std::int64_t first, std::int64_t last) { detail::gemv_bf16(args, first, last); });
    return y;
}

// The same in float32. OpenBLAS's sgemv reads as fast alone, but through
// at::mv a small llama decoded 25-40% slower: its threads split each
// product differently and wait longer at the joins.
at::Tensor gemv_f32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias)
{
    const std::int64_t rows = weight.size(0);
    const std::int64_t cols = weight.size(1);
    const at::Tensor row = x.reshape({cols}).contiguous();
    at::Tensor y = at::empty({rows}, weight.options());
    const at::Tensor bias_row = bias.defined() ? bias.contiguous() : at::Tensor();
    detail::F32GemvArgs args;
    args.weight = weight.data_ptr<float>();
    args.row_stride = weight.stride(0);
    args.cols = cols;
    args.x = row.data_ptr<float>();
    args.bias = bias_row.defined() ? bias_row.data_ptr<float>() : nullptr;
    args.y = y.data_ptr<float>();
    at::parallel_for(0, rows, row_grain(cols), [&](std::int64_t first, std::int64_t last) { detail::gemv_f32(args, first, last); });
    return y;
}

// The weights go through in tiles of about this many bytes (they stay in the
// cache while every group of inputs passes over them), so that a small batch
// reads them from memory once.
constexpr std::int64_t tile_bytes = std::int64_t{64} << 10;

// Batches up to this many rows take the kernels below; larger ones are
// compute-bound enough that BLAS gemm, whose packing of the weights then
// costs little, is faster. Measured as greedy and beam-5 translation with a
// base-sized encoder-decoder (see bench/README.md), 2 threads, float32,
// sentences/s against OpenBLAS: with AVX-512's register tiles, 4 rows 12.5
// against 5.3, 32 rows 28.9 against 23.8, 40 rows 8.2 against 6.3, 80 rows
// 9.4 against 8.7, 160 rows 9.1 against 10.1; with AVX2's gemv kernels, 4
// rows 10.9 against 5.3, 24 rows 21.5 against 18.4, 32 rows 22.5 against
// 24-26. bfloat16 products of several rows stay with LibTorch, whose oneDNN
// matmul (AMX on this machine) was as fast as the gemv kernels at 4 rows and
// 1.6 times faster at 20.
std::int64_t small_batch_limit()
{
    return detail::gemm_f32_small_batch_supported() ? 96 : 24;
}

// y = x @ weight^T (+ bias) for a few float32 rows x (batch, cols): each
// thread takes a range of weight rows and passes all inputs over one tile of
// them at a time, in register tiles where the CPU has AVX-512, else in
// groups of gemv_max_batch inputs.
at::Tensor small_batch_product(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias)
{
    const std::int64_t rows = weight.size(0);
    const std::int64_t cols = weight.size(1);
    const std::int64_t batch = x.size(0);
    const at::Tensor inputs = x.contiguous();
    const at::Tensor bias_row = bias.defined() ? bias.contiguous() : at::Tensor();
    at::Tensor y = at::empty({batch, rows}, weight.options());
    const std::int64_t tile = std::max<std::int64_t>(1, tile_bytes / (cols * static_cast<std::int64_t>(sizeof(float))));

    detail::F32GemvArgs args;
    args.weight = weight.data_ptr<float>();
    args.row_stride = weight.stride(0);
    args.cols = cols;
    args.bias = bias_row.defined() ? bias_row.data_ptr<float>() : nullptr;
    args.x_stride = cols;
    args.y_stride = rows;
    const float* x0 = inputs.data_ptr<float>();
    float* y0 = y.data_ptr<float>();
    const bool tiles = detail::gemm_f32_small_batch_supported();
    at::parallel_for(0, rows, std::max(tile, row_grain(cols)), [&](std::int64_t first, std::int64_t last) {
        detail::F32GemvArgs local = args;
        for (std::int64_t begin = first; begin < last; begin += tile) {
            const std::int64_t end = std::min(last, begin + tile);
            if (tiles) {
                local.x = x0;
                local.y = y0;
                local.batch = batch;
                detail::gemm_f32_small_batch(local, begin, end);
                continue;
            }
            for (std::int64_t n = 0; n < batch; n += detail::gemv_max_batch) {
                local.batch = std::min(detail::gemv_max_batch, batch - n);
                local.x = x0 + n * cols;
                local.y = y0 + n * rows;
                detail::gemv_f32(local, begin, end);
            }
        }
    });
    return y;
}

// x @ weight^T (+ bias). One row on the CPU (a decoding step at batch 1)
// does not go through BLAS gemm, which is several times slower with a single
// row than gemv (a 768x2048 float32 weight, one thread: 1240 us against
// 282 us): float32 and bfloat16 take our kernels, float64 BLAS gemv, and
// products autograd must differentiate stay with ATen.
at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias)
{
    if (!on_cpu(x, weight) || weight.dim() != 2 || x.dim() == 0 || x.size(-1) != weight.size(1))
        return at::linear(x, weight, bias);
    const std::int64_t batch = x.numel() / weight.size(1);
    if (batch > 1) {
        const at::ScalarType dtype = weight.scalar_type();
        const bool own_kernel = dtype == at::kFloat && batch <= small_batch_limit() && x.scalar_type() == dtype && weight.stride(1) == 1 && !recording(x, weight, bias) &&
                                (!bias.defined() || (bias.scalar_type() == dtype && bias.numel() == weight.size(0) && bias.device().is_cpu()));
        if (!own_kernel)
            return at::linear(x, weight, bias);
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        const at::Tensor rows = x.reshape({batch, weight.size(1)});
        at::Tensor y = small_batch_product(rows, weight, bias);
        return y.view(sizes);
    }
    auto sizes = x.sizes().vec();
    sizes.back() = weight.size(0);
    const at::ScalarType dtype = weight.scalar_type();
    const bool own_kernel = x.scalar_type() == dtype && weight.stride(1) == 1 && !recording(x, weight, bias) &&
                            (!bias.defined() || (bias.scalar_type() == dtype && bias.numel() == weight.size(0) && bias.device().is_cpu()));
    if (dtype == at::kFloat && own_kernel)
        return gemv_f32(x, weight, bias).view(sizes);
    if (dtype == at::kBFloat16 && own_kernel)
        return gemv_bf16(x, weight, bias).view(sizes);
    if (dtype == at::kFloat || dtype == at::kDouble) {
        at::Tensor y;
        {
            detail::SerialSection serial{weight.numel()};
            y = at::mv(weight, x.reshape({-1}));
        }
        if (bias.defined())
            y.add_(bias);
        return y.view(sizes);
    }
    return at::linear(x, weight, bias);
}

}  // namespace

Linear::Linear(std::int64_t input_dim, std::int64_t output_dim, bool bias, const at::TensorOptions& options)
{
    weight = register_parameter("weight", at::empty({output_dim, input_dim}, options));
    if (bias)
        this->bias = register_parameter("bias", at::empty({output_dim}, options));
}

void Linear::reset_parameters()
{
    at::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
    if (bias.defined()) {
        double bound = 1.0 / std::sqrt(static_cast<double>(weight.size(1)));
        torch::nn::init::uniform_(bias, -bound, bound);
    }
}

at::Tensor Linear::forward(const at::Tensor& x) const
{
    return project(x, weight, bias);
}

TiedProjection::TiedProjection(at::Tensor weight)
{
    this->weight = register_parameter("weight", std::move(weight));
}

at::Tensor TiedProjection::forward(const at::Tensor& x) const
{
    return project(x, weight, at::Tensor());
}

}  // namespace fairseq2::nn

namespace fairseq2::nn {

// The parts, and the fused weight (and bias) their weights are views of
// while still_fused() holds; guarded by `mutex`, as decoding threads may
// share a model.
struct FusedProjection::State {
    std::vector<std::shared_ptr<Linear>> parts;
    std::mutex mutex;
    at::Tensor weight;
    at::Tensor bias;

    // Whether every part still aliases its rows of `weight` (and `bias`).
    bool still_fused() const;

    // The fused weight (and bias), refreshed if a part no longer aliases
    // it; undefined when the parts cannot be fused.
    std::pair<at::Tensor, at::Tensor> fused();

    // The fused product, or an undefined tensor when the parts must compute
    // one by one.
    at::Tensor fused_product(const at::Tensor& x);
};

FusedProjection::FusedProjection(std::vector<std::shared_ptr<Linear>> parts) : state_{std::make_unique<State>()}
{
    state_->parts = std::move(parts);
}

FusedProjection::~FusedProjection() = default;
FusedProjection::FusedProjection(FusedProjection&&) noexcept = default;
FusedProjection& FusedProjection::operator=(FusedProjection&&) noexcept = default;

bool FusedProjection::State::still_fused() const
{
    if (!weight.defined())
        return false;
    std::int64_t row = 0;
    const auto* base = static_cast<const char*>(weight.data_ptr());
    const auto row_bytes = weight.size(1) * static_cast<std::int64_t>(weight.element_size());
    for (const auto& part : parts) {
        const at::Tensor& w = part->weight;
        if (w.scalar_type() != weight.scalar_type() || w.device() != weight.device() || w.dim() != 2 ||
            w.size(1) != weight.size(1) || !w.is_contiguous() || static_cast<const char*>(w.data_ptr()) != base + row * row_bytes)
            return false;
        if (bias.defined() && part->bias.data_ptr() != static_cast<const char*>(bias.data_ptr()) + row * bias.element_size())
            return false;
        row += w.size(0);
    }
    return row == weight.size(0);
}
namespace {

// One tensor over `parts` when they lie back to back in one storage, in
// order, each contiguous (as pack_parameters() places them): the fused
// tensor is then a view, and fusing copies nothing. Undefined otherwise.
at::Tensor adjacent_view(const std::vector<at::Tensor>& parts)
{
    const at::Tensor& first = parts.front();
    std::int64_t offset = first.storage_offset();
    std::int64_t rows = 0;
    for (const at::Tensor& part : parts) {
        if (!part.has_storage() || !part.storage().is_alias_of(first.storage()) || !part.is_contiguous() ||
            part.dim() != first.dim() || part.sizes().slice(1) != first.sizes().slice(1) || part.storage_offset() != offset)
            return {};
        offset += part.numel();
        rows += part.size(0);
    }
    auto sizes = first.sizes().vec();
    sizes.front() = rows;
    at::Tensor view = at::empty({0}, first.options());
    view.set_(first.storage(), first.storage_offset(), sizes, first.strides());
    return view;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> FusedProjection::State::fused()
{
    std::lock_guard lock{mutex};
    if (still_fused())
        return {weight, bias};
    weight = at::Tensor();
    bias = at::Tensor();

    const at::Tensor& first = parts.front()->weight;
    const bool with_bias = parts.front()->bias.defined();
    for (const auto& part : parts) {
        if (part->weight.scalar_type() != first.scalar_type() || part->weight.device() != first.device() || part->weight.is_meta() ||
            part->weight.size(1) != first.size(1) || part->bias.defined() != with_bias)
            return {};
    }

    // The fused tensors are inference tensors only if the parameters are:
    // parameters created outside inference mode must stay usable there.
    c10::InferenceMode mode{first.is_inference()};
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> weights;
    std::vector<at::Tensor> biases;
    for (const auto& part : parts) {
        weights.push_back(part->weight);
        if (with_bias)
            biases.push_back(part->bias);
    }

    at::Tensor view = adjacent_view(weights);
    at::Tensor bias_view = with_bias ? adjacent_view(biases) : at::Tensor();
    if (view.defined() && (!with_bias || bias_view.defined())) {
        weight = std::move(view);
        bias = std::move(bias_view);
        return {weight, bias};
    }

    // Otherwise the parts move into one new buffer, unless their memory is
    // borrowed (a memory-mapped checkpoint, a packed block): the copy would
    // stay resident beside the original.
    for (const auto& part : parts)
        if (!detail::allocated_by_torch(part->weight) || (with_bias && !detail::allocated_by_torch(part->bias)))
            return {};
    at::Tensor joined = at::cat(weights, 0);
    at::Tensor joined_bias = with_bias ? at::cat(biases, 0) : at::Tensor();
    std::int64_t row = 0;
    for (const auto& part : parts) {
        const std::int64_t rows = part->weight.size(0);
        part->weight.set_data(joined.narrow(0, row, rows));
        if (with_bias)
            part->bias.set_data(joined_bias.narrow(0, row, rows));
        row += rows;
    }
    weight = std::move(joined);
    bias = std::move(joined_bias);
    // The parts' own buffers are free now, for good: hand them back rather
    // than keep them resident (see retain_freed_memory()).
    release_free_memory();
    return {weight, bias};
}

at::Tensor FusedProjection::State::fused_product(const at::Tensor& x)
{
    // With autograd recording, gradients must reach each part's own leaf
    // parameters, so the parts compute one by one.
    if (at::GradMode::is_enabled())
        for (const auto& part : parts)
            if (part->weight.requires_grad() || (part->bias.defined() && part->bias.requires_grad()))
                return {};
    auto [fused_weight, fused_bias] = fused();
    if (!fused_weight.defined())
        return {};
    return project(x, fused_weight, fused_bias);
}

c10::SmallVector<at::Tensor, 3> FusedProjection::forward(const at::Tensor& x)
{
    c10::SmallVector<at::Tensor, 3> outputs;
    at::Tensor y = state_->fused_product(x);
    std::int64_t column = 0;
    for (const auto& part : state_->parts) {
        const std::int64_t width = part->weight.size(0);
        outputs.push_back(y.defined() ? y.narrow(-1, column, width) : part->forward(x));
        column += width;
    }
    return outputs;
}

at::Tensor FusedProjection::forward_joined(const at::Tensor& x)
{
    at::Tensor y = state_->fused_product(x);
    if (y.defined())
        return y;
    std::vector<at::Tensor> outputs;
    for (const auto& part : state_->parts)
        outputs.push_back(part->forward(x));
    return at::cat(outputs, -1);
}

}  // namespace fairseq2::nn

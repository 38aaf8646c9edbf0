#include "fairseq2/nn/linear.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/Allocator.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/init.h>

#include "serial_section.hpp"

namespace fairseq2::nn {

namespace {

// One row of float32 or float64 on the CPU (batch-1 decoding): BLAS gemm with
// a single row is several times slower there than gemv (a 768x2048 float32
// weight, one thread: 1240 us against 282 us). In bfloat16 it is the other
// way round (a 4096x768 weight, two threads: at::linear 224 us, at::mv 425 us).
bool use_gemv(const at::Tensor& x, const at::Tensor& weight)
{
    return x.numel() == weight.size(1) && x.device().is_cpu() && (weight.scalar_type() == at::kFloat || weight.scalar_type() == at::kDouble);
}

// weight @ vector, on one thread when the weight is small.
at::Tensor gemv(const at::Tensor& weight, const at::Tensor& vector)
{
    detail::SerialSection serial{weight.numel()};
    return at::mv(weight, vector);
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
    if (use_gemv(x, weight)) {
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        at::Tensor y = gemv(weight, x.reshape({-1}));
        if (bias.defined())
            y.add_(bias);
        return y.view(sizes);
    }
    return at::linear(x, weight, bias);
}

TiedProjection::TiedProjection(at::Tensor weight)
{
    this->weight = register_parameter("weight", std::move(weight));
}

at::Tensor TiedProjection::forward(const at::Tensor& x) const
{
    if (use_gemv(x, weight)) {
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        return gemv(weight, x.reshape({-1})).view(sizes);
    }
    return at::linear(x, weight);
}

}  // namespace fairseq2::nn

namespace fairseq2::nn {

FusedProjection::FusedProjection(std::vector<std::shared_ptr<Linear>> parts) : parts_{std::move(parts)} {}

bool FusedProjection::still_fused() const
{
    if (!weight_.defined())
        return false;
    std::int64_t row = 0;
    const auto* base = static_cast<const char*>(weight_.data_ptr());
    const auto row_bytes = weight_.size(1) * static_cast<std::int64_t>(weight_.element_size());
    for (const auto& part : parts_) {
        const at::Tensor& w = part->weight;
        if (w.scalar_type() != weight_.scalar_type() || w.device() != weight_.device() || w.dim() != 2 ||
            w.size(1) != weight_.size(1) || !w.is_contiguous() || static_cast<const char*>(w.data_ptr()) != base + row * row_bytes)
            return false;
        if (bias_.defined() && part->bias.data_ptr() != static_cast<const char*>(bias_.data_ptr()) + row * bias_.element_size())
            return false;
        row += w.size(0);
    }
    return row == weight_.size(0);
}

namespace {

// Whether `tensor`'s memory comes from its device's allocator. Memory that
// does not (a memory-mapped checkpoint) is left alone: fusing would copy it,
// and the mapped pages would stay resident beside the copy.
bool allocated_here(const at::Tensor& tensor)
{
    const c10::Allocator* allocator = c10::GetAllocator(tensor.device().type());
    return allocator != nullptr && tensor.storage().data_ptr().get_deleter() == allocator->raw_deleter();
}

}  // namespace

std::pair<at::Tensor, at::Tensor> FusedProjection::fused()
{
    std::lock_guard lock{mutex_};
    if (still_fused())
        return {weight_, bias_};
    weight_ = at::Tensor();
    bias_ = at::Tensor();

    const at::Tensor& first = parts_.front()->weight;
    const bool with_bias = parts_.front()->bias.defined();
    for (const auto& part : parts_) {
        if (part->weight.scalar_type() != first.scalar_type() || part->weight.device() != first.device() || part->weight.is_meta() ||
            part->weight.size(1) != first.size(1) || part->bias.defined() != with_bias || !allocated_here(part->weight))
            return {};
    }

    // The fused tensors are inference tensors only if the parameters are:
    // parameters created outside inference mode must stay usable there.
    c10::InferenceMode mode{first.is_inference()};
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> weights;
    std::vector<at::Tensor> biases;
    for (const auto& part : parts_) {
        weights.push_back(part->weight);
        if (with_bias)
            biases.push_back(part->bias);
    }
    at::Tensor weight = at::cat(weights, 0);
    at::Tensor bias = with_bias ? at::cat(biases, 0) : at::Tensor();
    std::int64_t row = 0;
    for (const auto& part : parts_) {
        const std::int64_t rows = part->weight.size(0);
        part->weight.set_data(weight.narrow(0, row, rows));
        if (with_bias)
            part->bias.set_data(bias.narrow(0, row, rows));
        row += rows;
    }
    weight_ = std::move(weight);
    bias_ = std::move(bias);
    return {weight_, bias_};
}

at::Tensor FusedProjection::fused_product(const at::Tensor& x)
{
    // With autograd recording, gradients must reach each part's own leaf
    // parameters, so the parts compute one by one.
    if (at::GradMode::is_enabled())
        for (const auto& part : parts_)
            if (part->weight.requires_grad() || (part->bias.defined() && part->bias.requires_grad()))
                return {};
    auto [weight, bias] = fused();
    if (!weight.defined())
        return {};
    if (use_gemv(x, weight)) {
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        at::Tensor y = gemv(weight, x.reshape({-1}));
        if (bias.defined())
            y.add_(bias);
        return y.view(sizes);
    }
    return at::linear(x, weight, bias);
}

c10::SmallVector<at::Tensor, 3> FusedProjection::forward(const at::Tensor& x)
{
    c10::SmallVector<at::Tensor, 3> outputs;
    at::Tensor y = fused_product(x);
    std::int64_t column = 0;
    for (const auto& part : parts_) {
        const std::int64_t width = part->weight.size(0);
        outputs.push_back(y.defined() ? y.narrow(-1, column, width) : part->forward(x));
        column += width;
    }
    return outputs;
}

at::Tensor FusedProjection::forward_joined(const at::Tensor& x)
{
    at::Tensor y = fused_product(x);
    if (y.defined())
        return y;
    std::vector<at::Tensor> outputs;
    for (const auto& part : parts_)
        outputs.push_back(part->forward(x));
    return at::cat(outputs, -1);
}

}  // namespace fairseq2::nn

#include "fairseq2/nn/linear.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/init.h>

namespace fairseq2::nn {

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
    // One row (batch-1 decoding): a matrix-vector product. BLAS gemm with a
    // single row is several times slower than gemv on CPU.
    if (x.numel() == weight.size(1) && x.device().is_cpu()) {
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        at::Tensor y = at::mv(weight, x.reshape({-1}));
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
    if (x.numel() == weight.size(1) && x.device().is_cpu()) {
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        return at::mv(weight, x.reshape({-1})).view(sizes);
    }
    return at::linear(x, weight);
}

}  // namespace fairseq2::nn

#include "fairseq2/nn/layer_norm.hpp"

#include <ATen/ATen.h>

#include "cpu_kernels.hpp"
#include "fairseq2/error.hpp"
#include "kernels/rms_norm.hpp"

namespace fairseq2::nn {

namespace {

void check_dim(const char* what, std::int64_t dim)
{
    if (dim <= 0)
        throw InvalidArgumentError(std::string("The dimension of a ") + what + " must be positive, but is " + std::to_string(dim) + ".");
}

}  // namespace

LayerNorm::~LayerNorm() = default;

RMSNorm::RMSNorm(const RMSNormOptions& options, const at::TensorOptions& tensor_options) : options{options}, eps{options.eps}
{
    check_dim("RMSNorm", options.dim);
    if (options.elementwise_affine)
        weight = register_parameter("weight", at::empty({options.dim}, tensor_options));
    if (options.bias)
        bias = register_parameter("bias", at::empty({options.dim}, tensor_options));
}

RMSNorm::RMSNorm(std::int64_t dim, double eps, const at::TensorOptions& tensor_options)
    : RMSNorm(RMSNormOptions{.dim = dim, .eps = eps}, tensor_options)
{
}

void RMSNorm::reset_parameters()
{
    at::NoGradGuard no_grad;
    if (weight.defined())
        weight.fill_(1.0);
    if (bias.defined())
        bias.zero_();
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const
{
    const std::int64_t dim = options.dim;
    if (weight.defined() && !bias.defined() && detail::kernel_ready(x) && detail::kernel_ready(weight) &&
        x.scalar_type() == weight.scalar_type() && x.dim() >= 1 && x.size(-1) == dim && weight.is_contiguous()) {
        at::Tensor rows = x.reshape({-1, dim});
        if (rows.stride(1) != 1)
            rows = rows.contiguous();
        at::Tensor y = at::empty(x.sizes(), x.options());
        const auto epsilon = static_cast<float>(eps);
        detail::for_each_chunk(rows.size(0), 2 * dim, [&](std::int64_t first, std::int64_t last) {
            if (x.scalar_type() == at::kFloat)
                detail::rms_norm_rows(rows.data_ptr<float>(), rows.stride(0), weight.data_ptr<float>(), epsilon, y.data_ptr<float>(), dim,
                                      first, last);
            else
                detail::rms_norm_rows(static_cast<const std::uint16_t*>(rows.data_ptr()), rows.stride(0),
                                      static_cast<const std::uint16_t*>(weight.data_ptr()), epsilon,
                                      static_cast<std::uint16_t*>(y.data_ptr()), dim, first, last);
        });
        return y;
    }
    const bool wide = x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble;
    at::Tensor x32 = wide ? x : x.to(at::kFloat);
    at::Tensor y = x32 * at::rsqrt(x32.square().mean(-1, /*keepdim=*/true).add_(eps));
    if (weight.defined())
        y = y * weight.to(y.scalar_type());
    if (bias.defined())
        y = y + bias.to(y.scalar_type());
    return wide ? y : y.to(x.scalar_type());
}

StandardLayerNorm::StandardLayerNorm(const StandardLayerNormOptions& options, const at::TensorOptions& tensor_options) : options{options}
{
    check_dim("layer norm", options.dim);
    if (options.elementwise_affine) {
        weight = register_parameter("weight", at::empty({options.dim}, tensor_options));
        if (options.bias)
            bias = register_parameter("bias", at::empty({options.dim}, tensor_options));
    }
}

void StandardLayerNorm::reset_parameters()
{
    at::NoGradGuard no_grad;
    if (weight.defined())
        weight.fill_(1.0);
    if (bias.defined())
        bias.zero_();
}

at::Tensor StandardLayerNorm::forward(const at::Tensor& x) const
{
    return at::layer_norm(x, {options.dim}, weight, bias, options.eps);
}

}  // namespace fairseq2::nn

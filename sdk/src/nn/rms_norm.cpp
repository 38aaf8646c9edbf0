#include "fairseq2/nn/rms_norm.hpp"

#include <ATen/ATen.h>

#include "cpu_kernels.hpp"
#include "kernels/rms_norm.hpp"

namespace fairseq2::nn {

RMSNorm::RMSNorm(std::int64_t dim, double eps, const at::TensorOptions& options) : eps{eps}
{
    weight = register_parameter("weight", at::empty({dim}, options));
}

void RMSNorm::reset_parameters()
{
    at::NoGradGuard no_grad;
    weight.fill_(1.0);
}

at::Tensor RMSNorm::forward(const at::Tensor& x) const
{
    const std::int64_t dim = weight.numel();
    if (detail::kernel_ready(x) && detail::kernel_ready(weight) && x.scalar_type() == weight.scalar_type() && x.dim() >= 1 &&
        x.size(-1) == dim && dim > 0 && weight.is_contiguous()) {
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
    if (x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat)
        return (x * at::rsqrt(x.square().mean(-1, /*keepdim=*/true).add_(eps))).mul_(weight);
    at::Tensor x32 = x.to(at::kFloat);
    at::Tensor normed = x32 * at::rsqrt(x32.square().mean(-1, /*keepdim=*/true).add_(eps));
    return normed.mul_(weight.to(at::kFloat)).to(x.scalar_type());
}

}  // namespace fairseq2::nn

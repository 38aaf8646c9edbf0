#include "fairseq2/nn/rms_norm.hpp"

#include <ATen/ATen.h>

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
    if (x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat)
        return (x * at::rsqrt(x.square().mean(-1, /*keepdim=*/true).add_(eps))).mul_(weight);
    at::Tensor x32 = x.to(at::kFloat);
    at::Tensor normed = x32 * at::rsqrt(x32.square().mean(-1, /*keepdim=*/true).add_(eps));
    return normed.mul_(weight.to(at::kFloat)).to(x.scalar_type());
}

}  // namespace fairseq2::nn

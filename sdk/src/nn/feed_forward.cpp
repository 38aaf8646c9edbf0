#include "fairseq2/nn/feed_forward.hpp"

#include <ATen/ATen.h>

namespace fairseq2::nn {

std::int64_t glu_inner_dim(std::int64_t inner_dim, double inner_dim_scale, std::int64_t to_multiple)
{
    auto scaled = static_cast<std::int64_t>(static_cast<double>(inner_dim) * inner_dim_scale);
    if (to_multiple > 1)
        scaled = to_multiple * ((scaled + to_multiple - 1) / to_multiple);
    return scaled;
}

GLUFeedForwardNetwork::GLUFeedForwardNetwork(std::int64_t model_dim, std::int64_t inner_dim, double inner_dim_scale,
                                             std::int64_t to_multiple, const at::TensorOptions& options)
    : inner_dim{glu_inner_dim(inner_dim, inner_dim_scale, to_multiple)}
{
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(model_dim, this->inner_dim, false, options));
    inner_proj = register_module("inner_proj", std::make_shared<Linear>(model_dim, this->inner_dim, false, options));
    output_proj = register_module("output_proj", std::make_shared<Linear>(this->inner_dim, model_dim, false, options));
    gate_inner_proj_ = std::make_unique<FusedProjection>(std::vector<std::shared_ptr<Linear>>{gate_proj, inner_proj});
}

void GLUFeedForwardNetwork::reset_parameters()
{
    gate_proj->reset_parameters();
    inner_proj->reset_parameters();
    output_proj->reset_parameters();
}

at::Tensor GLUFeedForwardNetwork::forward(const at::Tensor& x)
{
    auto gate_inner = gate_inner_proj_->forward(x);
    at::Tensor hidden = at::silu(gate_inner[0]);
    hidden.mul_(gate_inner[1]);
    return output_proj->forward(hidden);
}

}  // namespace fairseq2::nn

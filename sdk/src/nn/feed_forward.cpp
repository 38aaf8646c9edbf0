#include "fairseq2/nn/feed_forward.hpp"

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

namespace fairseq2::nn {

at::Tensor apply_activation(Activation activation, const at::Tensor& x)
{
    switch (activation) {
    case Activation::relu:
        return at::relu(x);
    case Activation::gelu:
        return at::gelu(x);
    case Activation::silu:
        return at::silu(x);
    }
    throw InvalidArgumentError("Unknown activation " + std::to_string(static_cast<int>(activation)) + ".");
}

FeedForwardNetwork::~FeedForwardNetwork() = default;

std::int64_t glu_inner_dim(std::int64_t inner_dim, double inner_dim_scale, std::int64_t to_multiple)
{
    auto scaled = static_cast<std::int64_t>(static_cast<double>(inner_dim) * inner_dim_scale);
    if (to_multiple > 1)
        scaled = to_multiple * ((scaled + to_multiple - 1) / to_multiple);
    return scaled;
}

GLUFeedForwardNetwork::GLUFeedForwardNetwork(const GLUFeedForwardNetworkOptions& options, const at::TensorOptions& tensor_options)
    : options{options}, inner_dim{glu_inner_dim(options.inner_dim, options.inner_dim_scale, options.inner_dim_to_multiple)}
{
    if (options.model_dim <= 0 || inner_dim <= 0)
        throw InvalidArgumentError("A GLU feed-forward network needs a positive model dimension and inner width, but has " +
                                   std::to_string(options.model_dim) + " and " + std::to_string(inner_dim) + ".");
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(options.model_dim, inner_dim, options.bias, tensor_options));
    inner_proj = register_module("inner_proj", std::make_shared<Linear>(options.model_dim, inner_dim, options.bias, tensor_options));
    output_proj = register_module("output_proj", std::make_shared<Linear>(inner_dim, options.model_dim, options.bias, tensor_options));
    gate_inner_proj_ = std::make_unique<FusedProjection>(std::vector<std::shared_ptr<Linear>>{gate_proj, inner_proj});
}

GLUFeedForwardNetwork::GLUFeedForwardNetwork(std::int64_t model_dim, std::int64_t inner_dim, double inner_dim_scale,
                                             std::int64_t to_multiple, const at::TensorOptions& tensor_options)
    : GLUFeedForwardNetwork(GLUFeedForwardNetworkOptions{.model_dim = model_dim,
                                                         .inner_dim = inner_dim,
                                                         .inner_dim_scale = inner_dim_scale,
                                                         .inner_dim_to_multiple = to_multiple},
                            tensor_options)
{
}

GLUFeedForwardNetwork::~GLUFeedForwardNetwork() = default;

void GLUFeedForwardNetwork::reset_parameters()
{
    gate_proj->reset_parameters();
    inner_proj->reset_parameters();
    output_proj->reset_parameters();
}

at::Tensor GLUFeedForwardNetwork::forward(const at::Tensor& x)
{
    auto gate_inner = gate_inner_proj_->forward(x);
    at::Tensor hidden = apply_activation(options.gate_activation, gate_inner[0]);
    hidden.mul_(gate_inner[1]);
    return output_proj->forward(hidden);
}

StandardFeedForwardNetwork::StandardFeedForwardNetwork(const StandardFeedForwardNetworkOptions& options,
                                                       const at::TensorOptions& tensor_options)
    : options{options}
{
    if (options.model_dim <= 0 || options.inner_dim <= 0)
        throw InvalidArgumentError("A feed-forward network needs a positive model dimension and inner width, but has " +
                                   std::to_string(options.model_dim) + " and " + std::to_string(options.inner_dim) + ".");
    inner_proj = register_module("inner_proj", std::make_shared<Linear>(options.model_dim, options.inner_dim, options.bias, tensor_options));
    output_proj =
        register_module("output_proj", std::make_shared<Linear>(options.inner_dim, options.model_dim, options.bias, tensor_options));
}

void StandardFeedForwardNetwork::reset_parameters()
{
    inner_proj->reset_parameters();
    output_proj->reset_parameters();
}

at::Tensor StandardFeedForwardNetwork::forward(const at::Tensor& x)
{
    return output_proj->forward(apply_activation(options.activation, inner_proj->forward(x)));
}

}  // namespace fairseq2::nn

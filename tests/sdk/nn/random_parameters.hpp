#pragma once

// Random weights for the nn block tests.

#include <cmath>
#include <cstdint>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace fairseq2::test {

// Fills every parameter of `module` with normal(0, 1/sqrt(fan_in)) values,
// so outputs keep the scale of the inputs.
inline void randomize(torch::nn::Module& module, std::uint64_t seed)
{
    at::manual_seed(seed);
    at::NoGradGuard no_grad;
    for (auto& param : module.parameters()) {
        double fan_in = param.dim() > 1 ? static_cast<double>(param.size(1)) : 1.0;
        param.copy_(at::randn(param.sizes()) / std::sqrt(fan_in));
    }
}

}  // namespace fairseq2::test

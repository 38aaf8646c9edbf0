#pragma once

// Root-mean-square layer normalisation, computed in float32:
// x * rsqrt(mean(x^2) + eps) * weight.

#include <cstdint>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

class FAIRSEQ2_API RMSNorm : public torch::nn::Module {
public:
    RMSNorm(std::int64_t dim, double eps, const at::TensorOptions& options);

    // Ones.
    void reset_parameters();

    at::Tensor forward(const at::Tensor& x) const;

    at::Tensor weight;
    double eps;
};

}  // namespace fairseq2::nn

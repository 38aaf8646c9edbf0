#pragma once

// A linear projection y = x W^T (+ b) whose parameters are allocated but not
// initialised until reset_parameters(), so a model built to receive a
// checkpoint spends no time on random initialisation.

#include <cstdint>
#include <memory>
#include <vector>

#include <c10/util/SmallVector.h>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

class FAIRSEQ2_API Linear : public torch::nn::Module {
public:
    // Parameters: `weight` (output_dim, input_dim) and, with `bias`, `bias`.
    Linear(std::int64_t input_dim, std::int64_t output_dim, bool bias, const at::TensorOptions& options);

    // Kaiming-uniform weight and uniform bias, as torch.nn.Linear.
    void reset_parameters();

    at::Tensor forward(const at::Tensor& x) const;

    at::Tensor weight;
    at::Tensor bias;  // undefined without bias
};

// A projection that reuses another module's weight (tied embeddings). It
// registers the shared tensor as its own `weight` too, so state dicts hold
// the key under both names, as PyTorch writes them.
class FAIRSEQ2_API TiedProjection : public torch::nn::Module {
public:
    explicit TiedProjection(at::Tensor weight);

    at::Tensor forward(const at::Tensor& x) const;

    at::Tensor weight;
};

// Several projections of one input computed as a single matrix product (the
// q/k/v projections of attention, the gate and inner projections of a GLU).
// The parts stay ordinary Linear modules with their own state-dict names: on
// first use, parts already lying back to back in one storage (as
// pack_parameters() places them) are taken as one view; otherwise their
// weights are moved into one buffer and become views of it. Either way
// fusing costs no memory. When a part's weight is later replaced (a
// checkpoint loaded with set_data, the module moved to another device), the
// next call notices and fuses again. The parts are computed one by one when
// they cannot share a buffer (different dtypes or devices, bias on some but
// not all), when they are not adjacent and their weights live in memory the
// allocator does not own (a memory-mapped checkpoint, which fusing would
// duplicate), and while autograd records (gradients must reach each part's
// own parameters).
class FAIRSEQ2_API FusedProjection {
public:
    explicit FusedProjection(std::vector<std::shared_ptr<Linear>> parts);
    ~FusedProjection();
    FusedProjection(FusedProjection&&) noexcept;
    FusedProjection& operator=(FusedProjection&&) noexcept;

    // One output per part, in order: (..., output_dim of that part), views of
    // one product.
    c10::SmallVector<at::Tensor, 3> forward(const at::Tensor& x);

    // The parts' outputs side by side: (..., sum of the parts' output_dims).
    at::Tensor forward_joined(const at::Tensor& x);

private:
    // The parts and the fused weight they alias (sdk/src/nn/linear.cpp).
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace fairseq2::nn

#pragma once

// Token embeddings and the decoder front end that applies them.

#include <cstdint>
#include <optional>

#include <torch/nn/module.h>

#include "fairseq2/version.hpp"

namespace fairseq2::nn {

// A lookup table of `weight` (num_embeddings, embedding_dim).
class FAIRSEQ2_API StandardEmbedding : public torch::nn::Module {
public:
    StandardEmbedding(std::int64_t num_embeddings, std::int64_t embedding_dim, std::optional<std::int64_t> pad_idx,
                      const at::TensorOptions& options);

    // Normal(0, 1) weights, the row of pad_idx zeroed (as torch.nn.Embedding).
    void reset_parameters();

    at::Tensor forward(const at::Tensor& token_ids) const;

    at::Tensor weight;
    std::optional<std::int64_t> pad_idx;
};

// The decoder front end of fairseq2's TransformerEmbeddingFrontend without
// scaling or positional encoding (positions are rotary, in attention).
// Submodule: `embed`.
class FAIRSEQ2_API TransformerEmbeddingFrontend : public torch::nn::Module {
public:
    explicit TransformerEmbeddingFrontend(std::shared_ptr<StandardEmbedding> embed);

    at::Tensor forward(const at::Tensor& token_ids) const;

    std::shared_ptr<StandardEmbedding> embed;
};

}  // namespace fairseq2::nn

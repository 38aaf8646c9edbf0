#pragma once

// Token embeddings and the front end that turns token ids into a
// transformer's input.

#include <cstdint>
#include <memory>
#include <optional>

#include <torch/nn/module.h>

#include "fairseq2/nn/layer_norm.hpp"
#include "fairseq2/nn/position_encoder.hpp"

namespace fairseq2::nn {

// A lookup table of `weight` (num_embeddings, embedding_dim).
class FAIRSEQ2_API StandardEmbedding final : public torch::nn::Module {
public:
    StandardEmbedding(std::int64_t num_embeddings, std::int64_t embedding_dim, std::optional<std::int64_t> pad_idx,
                      const at::TensorOptions& options);

    // Normal(0, 1) weights, the row of pad_idx zeroed (as torch.nn.Embedding).
    void reset_parameters();

    at::Tensor forward(const at::Tensor& token_ids) const;

    at::Tensor weight;
    std::optional<std::int64_t> pad_idx;
};

struct TransformerEmbeddingFrontendOptions {
    // The embeddings are multiplied by this (NLLB: sqrt(model_dim)).
    double scale = 1.0;
};

// fairseq2's TransformerEmbeddingFrontend: embed(ids) * scale, plus the
// optional position encoder's encodings, then the optional layer norm.
// Submodules: `embed`, `pos_encoder` (no parameters of its own unless
// learned) and `layer_norm`. Decoder-only llama-style models have neither
// (positions are rotary, in attention).
class FAIRSEQ2_API TransformerEmbeddingFrontend final : public torch::nn::Module {
public:
    explicit TransformerEmbeddingFrontend(std::shared_ptr<StandardEmbedding> embed, std::shared_ptr<PositionEncoder> pos_encoder = nullptr,
                                          std::shared_ptr<LayerNorm> layer_norm = nullptr,
                                          const TransformerEmbeddingFrontendOptions& options = {});

    // `token_ids` (N, S), the first at position `start_step` (incremental
    // decoding); returns (N, S, dim).
    at::Tensor forward(const at::Tensor& token_ids, std::int64_t start_step = 0) const;

    // Whether forward() is the embedding lookup alone.
    bool is_plain_lookup() const noexcept { return options.scale == 1.0 && !pos_encoder && !layer_norm; }

    TransformerEmbeddingFrontendOptions options;
    std::shared_ptr<StandardEmbedding> embed;
    std::shared_ptr<PositionEncoder> pos_encoder;  // null without
    std::shared_ptr<LayerNorm> layer_norm;         // null without
};

}  // namespace fairseq2::nn

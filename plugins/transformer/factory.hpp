#pragma once

// Builds transformer models from a TransformerConfig, one small step per
// submodule, as fairseq2 v0.4.5's TransformerFactory: embeddings scaled by
// sqrt(model_dim) plus fairseq's sinusoidal positions (offset by its legacy
// padding index 1), pre- or post-norm layers with LayerNorm, biased
// attention and a ReLU feed-forward network. Parameters are allocated but
// not initialised.

#include <memory>

#include <ATen/core/TensorBody.h>

#include "config.hpp"
#include "model.hpp"

namespace fairseq2::models::transformer {

// The source vocabulary: the target's, with source_vocab_size when given.
VocabularyInfo source_vocab_info(const TransformerConfig& config);

class TransformerFactory {
public:
    TransformerFactory(TransformerConfig config, at::TensorOptions options);

    std::shared_ptr<TransformerModel> create_model() const;

private:
    std::shared_ptr<nn::StandardEmbedding> create_embedding(std::int64_t vocab_size) const;
    std::shared_ptr<nn::TransformerEmbeddingFrontend> create_frontend(std::shared_ptr<nn::StandardEmbedding> embed) const;
    std::shared_ptr<nn::StandardTransformerEncoder> create_encoder() const;
    std::shared_ptr<nn::StandardTransformerDecoder> create_decoder() const;
    std::shared_ptr<nn::MultiheadAttention> create_attention(std::int64_t num_heads, bool causal) const;
    std::shared_ptr<nn::StandardFeedForwardNetwork> create_ffn() const;
    std::shared_ptr<nn::StandardLayerNorm> create_layer_norm() const;

    TransformerConfig config_;
    at::TensorOptions options_;
};

}  // namespace fairseq2::models::transformer

#pragma once

// Builds qwen models from a QwenConfig, one small step per submodule, as
// fairseq2's QwenFactory. Parameters are allocated but not initialised.

#include <memory>

#include <ATen/core/TensorBody.h>

#include "config.hpp"
#include "model.hpp"

namespace fairseq2::models::qwen {

// The vocabulary the model reports: vocab_size and the config's EOS, no
// UNK, BOS or PAD (the tokenizer brings those).
VocabularyInfo qwen_vocab_info(const QwenConfig& config);

class QwenFactory {
public:
    QwenFactory(QwenConfig config, at::TensorOptions options);

    std::shared_ptr<QwenModel> create_model() const;

private:
    std::shared_ptr<nn::TransformerEmbeddingFrontend> create_decoder_frontend() const;
    std::shared_ptr<nn::StandardTransformerDecoder> create_decoder() const;
    std::shared_ptr<nn::StandardTransformerDecoderLayer> create_decoder_layer() const;
    std::shared_ptr<nn::MultiheadAttention> create_attention() const;
    std::shared_ptr<nn::RotaryEncoder> create_position_encoder() const;
    std::shared_ptr<nn::GLUFeedForwardNetwork> create_ffn() const;
    std::shared_ptr<nn::RMSNorm> create_layer_norm() const;
    // The per-head q or k norm, over head_dim.
    std::shared_ptr<nn::RMSNorm> create_head_norm() const;
    std::shared_ptr<torch::nn::Module> create_final_projection(const nn::TransformerEmbeddingFrontend& frontend) const;

    QwenConfig config_;
    at::TensorOptions options_;
};

}  // namespace fairseq2::models::qwen

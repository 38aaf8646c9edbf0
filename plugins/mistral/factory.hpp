#pragma once

// Builds mistral models from a MistralConfig, one small step per submodule,
// as fairseq2's MistralFactory. Parameters are allocated but not
// initialised.

#include <memory>

#include <ATen/core/TensorBody.h>

#include "config.hpp"
#include "model.hpp"

namespace fairseq2::models::mistral {

// The vocabulary the model reports: vocab_size, <unk> 0, and the config's
// BOS, EOS and PAD.
VocabularyInfo mistral_vocab_info(const MistralConfig& config);

class MistralFactory {
public:
    MistralFactory(MistralConfig config, at::TensorOptions options);

    std::shared_ptr<MistralModel> create_model() const;

private:
    std::shared_ptr<nn::TransformerEmbeddingFrontend> create_decoder_frontend() const;
    std::shared_ptr<nn::StandardTransformerDecoder> create_decoder() const;
    std::shared_ptr<nn::StandardTransformerDecoderLayer> create_decoder_layer() const;
    std::shared_ptr<nn::MultiheadAttention> create_attention() const;
    std::shared_ptr<nn::RotaryEncoder> create_position_encoder() const;
    std::shared_ptr<nn::GLUFeedForwardNetwork> create_ffn() const;
    std::shared_ptr<nn::RMSNorm> create_layer_norm() const;
    std::shared_ptr<nn::Linear> create_final_projection() const;

    MistralConfig config_;
    at::TensorOptions options_;
};

}  // namespace fairseq2::models::mistral

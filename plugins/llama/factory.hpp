#pragma once

// Builds llama models from a LLaMAConfig, one small step per submodule, as
// fairseq2's LLaMAFactory. Parameters are allocated but not initialised.

#include <functional>
#include <memory>

#include <ATen/core/TensorBody.h>

#include "config.hpp"
#include "model.hpp"

namespace fairseq2::models::llama {

// Llama 3.1's RoPE frequency scaling (use_scaled_rope): frequencies whose
// wavelength exceeds the original context / low_freq_factor are divided by
// the factor, those below original context / high_freq_factor are kept, and
// those between are interpolated.
std::function<double(double)> llama3_frequency_scaler(const LLaMARopeScalingConfig& scaling);

class LLaMAFactory {
public:
    LLaMAFactory(LLaMAConfig config, at::TensorOptions options);

    std::shared_ptr<LLaMAModel> create_model() const;

private:
    std::shared_ptr<nn::TransformerEmbeddingFrontend> create_decoder_frontend() const;
    std::shared_ptr<nn::StandardTransformerDecoder> create_decoder() const;
    std::shared_ptr<nn::StandardTransformerDecoderLayer> create_decoder_layer() const;
    std::shared_ptr<nn::MultiheadAttention> create_attention() const;
    std::shared_ptr<nn::RotaryEncoder> create_position_encoder() const;
    std::shared_ptr<nn::GLUFeedForwardNetwork> create_ffn() const;
    std::shared_ptr<nn::RMSNorm> create_layer_norm() const;
    std::shared_ptr<torch::nn::Module> create_final_projection(const nn::TransformerEmbeddingFrontend& frontend) const;

    LLaMAConfig config_;
    at::TensorOptions options_;
};

}  // namespace fairseq2::models::llama

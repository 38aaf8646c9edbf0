#pragma once

// Builds a YourModel from its config, one small step per submodule, so a
// variant can override a single step. Parameters are allocated but not
// initialised: the handler either loads a checkpoint into them or calls
// reset_parameters().

#include <memory>

#include <ATen/core/TensorBody.h>

#include "config.hpp"
#include "model.hpp"

namespace your_model {

class YourModelFactory {
public:
    YourModelFactory(YourModelConfig config, at::TensorOptions options);
    virtual ~YourModelFactory() = default;

    std::shared_ptr<YourModel> create_model() const;

protected:
    virtual std::shared_ptr<fairseq2::nn::StandardEmbedding> create_embedding() const;
    virtual std::shared_ptr<fairseq2::nn::StandardTransformerDecoder> create_decoder() const;
    virtual std::shared_ptr<fairseq2::nn::StandardTransformerDecoderLayer> create_decoder_layer() const;
    virtual std::shared_ptr<fairseq2::nn::MultiheadAttention> create_attention() const;
    virtual std::shared_ptr<fairseq2::nn::GLUFeedForwardNetwork> create_ffn() const;
    virtual std::shared_ptr<fairseq2::nn::RMSNorm> create_layer_norm() const;
    virtual std::shared_ptr<fairseq2::nn::Linear> create_final_projection() const;

    const YourModelConfig config_;
    const at::TensorOptions options_;
};

}  // namespace your_model

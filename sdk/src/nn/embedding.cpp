#include "fairseq2/nn/embedding.hpp"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include "fairseq2/error.hpp"

namespace fairseq2::nn {

StandardEmbedding::StandardEmbedding(std::int64_t num_embeddings, std::int64_t embedding_dim, std::optional<std::int64_t> pad_idx,
                                     const at::TensorOptions& options)
    : pad_idx{pad_idx}
{
    weight = register_parameter("weight", at::empty({num_embeddings, embedding_dim}, options));
}

void StandardEmbedding::reset_parameters()
{
    at::NoGradGuard no_grad;
    torch::nn::init::normal_(weight);
    if (pad_idx)
        weight[*pad_idx].fill_(0);
}

at::Tensor StandardEmbedding::forward(const at::Tensor& token_ids) const
{
    return at::embedding(weight, token_ids, pad_idx.value_or(-1));
}

TransformerEmbeddingFrontend::TransformerEmbeddingFrontend(std::shared_ptr<StandardEmbedding> embed, std::shared_ptr<PositionEncoder> pos_encoder,
                                                           std::shared_ptr<LayerNorm> layer_norm,
                                                           const TransformerEmbeddingFrontendOptions& options)
    : options{options}
{
    this->embed = register_module("embed", std::move(embed));
    if (pos_encoder) {
        if (pos_encoder->encoding_dim() != this->embed->weight.size(1))
            throw InvalidArgumentError("The position encoder of a front end encodes " + std::to_string(pos_encoder->encoding_dim()) +
                                       " values, but the embeddings have " + std::to_string(this->embed->weight.size(1)) + ".");
        this->pos_encoder = register_module("pos_encoder", std::move(pos_encoder));
    }
    if (layer_norm)
        this->layer_norm = register_module("layer_norm", std::move(layer_norm));
}

at::Tensor TransformerEmbeddingFrontend::forward(const at::Tensor& token_ids, std::int64_t start_step) const
{
    at::Tensor x = embed->forward(token_ids);
    if (options.scale != 1.0)
        x = x * options.scale;
    if (pos_encoder)
        x = pos_encoder->forward(x, start_step);
    if (layer_norm)
        x = layer_norm->forward(x);
    return x;
}

}  // namespace fairseq2::nn

#include "fairseq2/nn/embedding.hpp"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

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

TransformerEmbeddingFrontend::TransformerEmbeddingFrontend(std::shared_ptr<StandardEmbedding> embed)
{
    this->embed = register_module("embed", std::move(embed));
}

at::Tensor TransformerEmbeddingFrontend::forward(const at::Tensor& token_ids) const
{
    return embed->forward(token_ids);
}

}  // namespace fairseq2::nn

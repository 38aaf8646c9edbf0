#include "model.hpp"

#include <cmath>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

namespace your_model {

YourModel::YourModel(std::shared_ptr<fairseq2::nn::StandardEmbedding> embed,
                     std::shared_ptr<fairseq2::nn::StandardTransformerDecoder> decoder, std::shared_ptr<fairseq2::nn::Linear> final_proj,
                     std::int64_t max_seq_len, fairseq2::VocabularyInfo vocab_info, bool scale_embeddings)
    : DecoderModel(embed->weight.size(1), max_seq_len, std::move(vocab_info)),
      embedding_scale_{scale_embeddings ? std::sqrt(static_cast<double>(embed->weight.size(1))) : 1.0}
{
    // register_module() gives the submodules their state-dict names.
    this->embed = register_module("embed", std::move(embed));
    this->decoder = register_module("decoder", std::move(decoder));
    this->final_proj = register_module("final_proj", std::move(final_proj));
}

at::Tensor YourModel::decode(const at::Tensor& seqs, const fairseq2::nn::PaddingMask* padding_mask,
                             fairseq2::nn::IncrementalStateBag* state_bag)
{
    if (seqs.dim() != 2)
        throw fairseq2::InvalidArgumentError("The token ids passed to YourModel::decode() must have shape (batch, sequence), but have " +
                                             std::to_string(seqs.dim()) + " dimensions.");
    at::Tensor embeddings = embed->forward(seqs);
    if (embedding_scale_ != 1.0)
        embeddings = embeddings * embedding_scale_;
    return decoder->forward(embeddings, padding_mask, state_bag);
}

at::Tensor YourModel::project(const at::Tensor& decoder_output)
{
    return final_proj->forward(decoder_output);
}

void YourModel::reset_parameters()
{
    embed->reset_parameters();
    decoder->reset_parameters();
    final_proj->reset_parameters();
}

}  // namespace your_model

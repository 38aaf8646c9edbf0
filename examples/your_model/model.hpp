#pragma once

// YourModel: a decoder-only transformer that scales its token embeddings by
// sqrt(model_dim) before the first layer. Built from the SDK's blocks.

#include <memory>

#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/nn/embedding.hpp"
#include "fairseq2/nn/linear.hpp"
#include "fairseq2/nn/transformer_decoder.hpp"

namespace your_model {

// State-dict names: embed.weight, decoder.layers.N.*, decoder.layer_norm.weight,
// final_proj.weight.
class YourModel final : public fairseq2::models::DecoderModel {
public:
    YourModel(std::shared_ptr<fairseq2::nn::StandardEmbedding> embed, std::shared_ptr<fairseq2::nn::StandardTransformerDecoder> decoder,
              std::shared_ptr<fairseq2::nn::Linear> final_proj, std::int64_t max_seq_len, fairseq2::VocabularyInfo vocab_info,
              bool scale_embeddings);

    at::Tensor decode(const at::Tensor& seqs, const fairseq2::nn::PaddingMask* padding_mask,
                      fairseq2::nn::IncrementalStateBag* state_bag) override;

    at::Tensor project(const at::Tensor& decoder_output) override;

    void reset_parameters() override;

    std::shared_ptr<fairseq2::nn::StandardEmbedding> embed;
    std::shared_ptr<fairseq2::nn::StandardTransformerDecoder> decoder;
    std::shared_ptr<fairseq2::nn::Linear> final_proj;

private:
    double embedding_scale_;
};

}  // namespace your_model

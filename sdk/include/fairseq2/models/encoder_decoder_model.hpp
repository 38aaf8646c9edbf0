#pragma once

// Encoder-decoder (sequence-to-sequence) models, fairseq2's
// EncoderDecoderModel: encode() runs the encoder over the source once,
// decode() runs the decoder over target tokens attending to the encoder's
// output, project() turns the decoder's output into logits. In incremental
// decoding the encoder output's keys and values are projected once per
// state bag and kept there (see MultiheadAttention).

#include <cstdint>
#include <memory>
#include <optional>

#include <torch/nn/module.h>

#include "fairseq2/data/vocabulary_info.hpp"
#include "fairseq2/nn/embedding.hpp"
#include "fairseq2/nn/padding_mask.hpp"
#include "fairseq2/nn/transformer_decoder.hpp"
#include "fairseq2/nn/transformer_encoder.hpp"

namespace fairseq2::nn {
class IncrementalStateBag;
}  // namespace fairseq2::nn

namespace fairseq2::models {

// The encoder's output, (N, S, model_dim), and which of its positions are
// real (null: all of them).
struct EncoderOutput {
    at::Tensor output;
    std::optional<nn::PaddingMask> padding_mask;
};

class FAIRSEQ2_API EncoderDecoderModel : public torch::nn::Module {
public:
    EncoderDecoderModel(std::int64_t model_dim, std::int64_t max_source_seq_len, std::int64_t max_target_seq_len,
                        VocabularyInfo source_vocab_info, VocabularyInfo target_vocab_info);
    ~EncoderDecoderModel() override;

    // `source_seqs`: int64 token ids (N, S), right-padded when
    // `source_padding_mask` is given.
    virtual EncoderOutput encode(const at::Tensor& source_seqs, const nn::PaddingMask* source_padding_mask) = 0;

    // `target_seqs`: int64 ids (N, T); returns (N, T, model_dim). With a
    // state bag, positions start at its step number and the encoder's keys
    // and values are projected on the first call only.
    virtual at::Tensor decode(const at::Tensor& target_seqs, const nn::PaddingMask* target_padding_mask, const at::Tensor& encoder_output,
                              const nn::PaddingMask* encoder_padding_mask, nn::IncrementalStateBag* state_bag) = 0;

    // (N, T, model_dim) -> logits (N, T, target vocabulary size).
    virtual at::Tensor project(const at::Tensor& decoder_output) = 0;

    // Fills every parameter with its random initialisation.
    virtual void reset_parameters() = 0;

    // project(decode(targets, encode(sources))): the logits of a whole pass.
    at::Tensor forward(const at::Tensor& source_seqs, const nn::PaddingMask* source_padding_mask, const at::Tensor& target_seqs,
                       const nn::PaddingMask* target_padding_mask = nullptr);

    std::int64_t model_dim() const noexcept { return model_dim_; }
    std::int64_t max_source_seq_len() const noexcept { return max_source_seq_len_; }
    std::int64_t max_target_seq_len() const noexcept { return max_target_seq_len_; }
    const VocabularyInfo& source_vocab_info() const noexcept { return source_vocab_info_; }
    const VocabularyInfo& target_vocab_info() const noexcept { return target_vocab_info_; }

private:
    std::int64_t model_dim_;
    std::int64_t max_source_seq_len_;
    std::int64_t max_target_seq_len_;
    VocabularyInfo source_vocab_info_;
    VocabularyInfo target_vocab_info_;
};

// The standard encoder-decoder transformer: encoder_frontend, encoder,
// decoder_frontend, decoder and final_proj (a Linear, or a TiedProjection
// sharing the decoder embedding's weight). The two front ends may share
// one embedding (NLLB), so the state dict holds that tensor under both
// names.
class FAIRSEQ2_API TransformerEncoderDecoderModel : public EncoderDecoderModel {
public:
    TransformerEncoderDecoderModel(std::shared_ptr<nn::TransformerEmbeddingFrontend> encoder_frontend,
                                   std::shared_ptr<nn::StandardTransformerEncoder> encoder,
                                   std::shared_ptr<nn::TransformerEmbeddingFrontend> decoder_frontend,
                                   std::shared_ptr<nn::StandardTransformerDecoder> decoder, std::shared_ptr<torch::nn::Module> final_proj,
                                   std::int64_t max_seq_len, VocabularyInfo source_vocab_info, VocabularyInfo target_vocab_info);

    // Throws InvalidArgumentError for ids that are not (N, S) int64 or lie
    // outside the source embedding.
    EncoderOutput encode(const at::Tensor& source_seqs, const nn::PaddingMask* source_padding_mask) override;

    at::Tensor decode(const at::Tensor& target_seqs, const nn::PaddingMask* target_padding_mask, const at::Tensor& encoder_output,
                      const nn::PaddingMask* encoder_padding_mask, nn::IncrementalStateBag* state_bag) override;

    at::Tensor project(const at::Tensor& decoder_output) override;

    void reset_parameters() override;

    std::shared_ptr<nn::TransformerEmbeddingFrontend> encoder_frontend;
    std::shared_ptr<nn::StandardTransformerEncoder> encoder;
    std::shared_ptr<nn::TransformerEmbeddingFrontend> decoder_frontend;
    std::shared_ptr<nn::StandardTransformerDecoder> decoder;
    std::shared_ptr<torch::nn::Module> final_proj;
};

}  // namespace fairseq2::models

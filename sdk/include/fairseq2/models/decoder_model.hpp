#pragma once

// Decoder-only language models: decode() runs the decoder over token ids,
// project() turns its output into logits. Incremental decoding passes an
// IncrementalStateBag and one (or a few) new tokens per step.

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "fairseq2/data/vocabulary_info.hpp"
#include "fairseq2/nn/embedding.hpp"
#include "fairseq2/nn/linear.hpp"
#include "fairseq2/nn/transformer_decoder.hpp"

namespace fairseq2::nn {
class IncrementalStateBag;
class PaddingMask;
}  // namespace fairseq2::nn

namespace fairseq2::models {

class FAIRSEQ2_API DecoderModel : public torch::nn::Module {
public:
    DecoderModel(std::int64_t model_dim, std::int64_t max_seq_len, VocabularyInfo vocab_info);
    ~DecoderModel() override;

    // `seqs`: int64 token ids (N, S); returns (N, S, model_dim).
    virtual at::Tensor decode(const at::Tensor& seqs, const nn::PaddingMask* padding_mask, nn::IncrementalStateBag* state_bag) = 0;

    // (N, S, model_dim) -> logits (N, S, vocab_size).
    virtual at::Tensor project(const at::Tensor& decoder_output) = 0;

    // Fills every parameter with its random initialisation (models are built
    // uninitialised so loading a checkpoint does not pay for it).
    virtual void reset_parameters() = 0;

    // One step of incremental decoding: `ids` (int64, (N, 1)) holds the next
    // token of each of N sequences whose earlier positions are in
    // `state_bag`; returns their logits, (N, vocab_size), the values of
    // forward(ids, nullptr, &state_bag).select(1, 0). As forward(), it
    // leaves advancing the bag's step number to the caller. The result may
    // be a buffer the bag keeps: the next decode_step() with the same bag
    // overwrites it (clone() what must outlive that). The default calls
    // forward(); models override it with a faster path.
    virtual at::Tensor decode_step(const at::Tensor& ids, nn::IncrementalStateBag& state_bag);

    // project(decode(...)).
    at::Tensor forward(const at::Tensor& seqs, const nn::PaddingMask* padding_mask = nullptr,
                       nn::IncrementalStateBag* state_bag = nullptr);

    std::int64_t model_dim() const noexcept { return model_dim_; }
    std::int64_t max_seq_len() const noexcept { return max_seq_len_; }
    const VocabularyInfo& vocab_info() const noexcept { return vocab_info_; }

private:
    std::int64_t model_dim_;
    std::int64_t max_seq_len_;
    VocabularyInfo vocab_info_;
};

// How many decoding steps of a state bag ran through the fused CPU kernel
// and how many through the modules.
struct DecodeStepCounts {
    std::int64_t fused = 0;
    std::int64_t modules = 0;
};

// The standard decoder-only transformer: decoder_frontend, decoder and
// final_proj (a Linear, or a TiedProjection sharing the embedding weight).
// Every family whose model is made of the SDK's blocks uses it (llama, qwen,
// mistral); the family's particulars are in how its factory builds them.
class FAIRSEQ2_API TransformerDecoderModel : public DecoderModel {
public:
    TransformerDecoderModel(std::shared_ptr<nn::TransformerEmbeddingFrontend> decoder_frontend,
                            std::shared_ptr<nn::StandardTransformerDecoder> decoder, std::shared_ptr<torch::nn::Module> final_proj,
                            std::int64_t max_seq_len, VocabularyInfo vocab_info);

    at::Tensor decode(const at::Tensor& seqs, const nn::PaddingMask* padding_mask, nn::IncrementalStateBag* state_bag) override;

    at::Tensor project(const at::Tensor& decoder_output) override;

    // On the CPU in float32 or bfloat16, outside autograd, the whole step
    // runs as one fused kernel over the parameters and the caches, which
    // allocates nothing per token: the logits are a buffer of the bag. The
    // kernel serves decoders of pre-norm layers with RMSNorm, attention
    // with rotary encodings (either layout, any head dimension), grouped
    // query heads, optional q/k/v and output biases, optional RMSNorm q/k
    // norms and sliding windows, and SiLU-gated GLU networks, behind a
    // plain embedding lookup. Other models and cases go through the
    // modules. Throws InvalidArgumentError for ids that are not (N, 1) or lie
    // outside the vocabulary.
    at::Tensor decode_step(const at::Tensor& ids, nn::IncrementalStateBag& state_bag) override;

    // Which path the decoding steps of `state_bag` took so far.
    DecodeStepCounts decode_step_counts(const nn::IncrementalStateBag& state_bag) const;

    void reset_parameters() override;

    std::shared_ptr<nn::TransformerEmbeddingFrontend> decoder_frontend;
    std::shared_ptr<nn::StandardTransformerDecoder> decoder;
    std::shared_ptr<torch::nn::Module> final_proj;
};

}  // namespace fairseq2::models

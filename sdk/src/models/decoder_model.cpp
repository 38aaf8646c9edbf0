#include "fairseq2/models/decoder_model.hpp"

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "transformer_decode_step.hpp"

namespace fairseq2::models {

DecoderModel::DecoderModel(std::int64_t model_dim, std::int64_t max_seq_len, VocabularyInfo vocab_info)
    : model_dim_{model_dim}, max_seq_len_{max_seq_len}, vocab_info_{std::move(vocab_info)}
{
}

DecoderModel::~DecoderModel() = default;

at::Tensor DecoderModel::forward(const at::Tensor& seqs, const nn::PaddingMask* padding_mask, nn::IncrementalStateBag* state_bag)
{
    return project(decode(seqs, padding_mask, state_bag));
}

at::Tensor DecoderModel::decode_step(const at::Tensor& ids, nn::IncrementalStateBag& state_bag)
{
    return forward(ids, nullptr, &state_bag).select(1, 0);
}

TransformerDecoderModel::TransformerDecoderModel(std::shared_ptr<nn::TransformerEmbeddingFrontend> decoder_frontend,
                                                 std::shared_ptr<nn::StandardTransformerDecoder> decoder,
                                                 std::shared_ptr<torch::nn::Module> final_proj, std::int64_t max_seq_len,
                                                 VocabularyInfo vocab_info)
    : DecoderModel(decoder_frontend->embed->weight.size(1), max_seq_len, std::move(vocab_info))
{
    if (!std::dynamic_pointer_cast<nn::Linear>(final_proj) && !std::dynamic_pointer_cast<nn::TiedProjection>(final_proj))
        throw InvalidArgumentError("The final projection of a TransformerDecoderModel must be a Linear or a TiedProjection.");
    this->decoder_frontend = register_module("decoder_frontend", std::move(decoder_frontend));
    this->decoder = register_module("decoder", std::move(decoder));
    this->final_proj = register_module("final_proj", std::move(final_proj));
}

at::Tensor TransformerDecoderModel::decode(const at::Tensor& seqs, const nn::PaddingMask* padding_mask,
                                           nn::IncrementalStateBag* state_bag)
{
    if (seqs.dim() != 2)
        throw InvalidArgumentError("The token ids passed to decode() must have shape (batch, sequence), but have " +
                                   std::to_string(seqs.dim()) + " dimensions.");
    return decoder->forward(decoder_frontend->forward(seqs, state_bag != nullptr ? state_bag->step_nr() : 0), padding_mask, state_bag);
}

at::Tensor TransformerDecoderModel::decode_step(const at::Tensor& ids, nn::IncrementalStateBag& state_bag)
{
    if (ids.dim() != 2 || ids.size(1) != 1)
        throw InvalidArgumentError("The token ids of a decoding step must have shape (batch, 1), but have shape " +
                                   c10::str(ids.sizes()) + ".");
    if (ids.device().is_cpu() && ids.scalar_type() == at::kLong) {
        const std::int64_t rows = decoder_frontend->embed->weight.size(0);
        const auto* values = ids.data_ptr<std::int64_t>();
        for (std::int64_t n = 0; n < ids.size(0); ++n)
            if (const std::int64_t id = values[n * ids.stride(0)]; id < 0 || id >= rows)
                throw InvalidArgumentError("The token id " + std::to_string(id) + " of sequence " + std::to_string(n) +
                                           " is outside the embedding table (0 to " + std::to_string(rows - 1) + ").");
    }
    if (at::Tensor logits = detail::fused_decode_step(*this, ids, state_bag); logits.defined())
        return logits;
    at::Tensor logits = DecoderModel::decode_step(ids, state_bag);
    detail::count_module_step(*this, state_bag);
    return logits;
}

at::Tensor TransformerDecoderModel::project(const at::Tensor& decoder_output)
{
    if (auto linear = std::dynamic_pointer_cast<nn::Linear>(final_proj))
        return linear->forward(decoder_output);
    return std::static_pointer_cast<nn::TiedProjection>(final_proj)->forward(decoder_output);
}

DecodeStepCounts TransformerDecoderModel::decode_step_counts(const nn::IncrementalStateBag& state_bag) const
{
    return detail::decode_step_counts(*this, state_bag);
}

void TransformerDecoderModel::reset_parameters()
{
    decoder_frontend->embed->reset_parameters();
    if (auto learned = std::dynamic_pointer_cast<nn::LearnedPositionEncoder>(decoder_frontend->pos_encoder))
        learned->reset_parameters();
    if (decoder_frontend->layer_norm)
        decoder_frontend->layer_norm->reset_parameters();
    decoder->reset_parameters();
    if (auto linear = std::dynamic_pointer_cast<nn::Linear>(final_proj))
        linear->reset_parameters();
}

}  // namespace fairseq2::models

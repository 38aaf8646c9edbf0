#include "fairseq2/models/encoder_decoder_model.hpp"

#include <string>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/nn/linear.hpp"

namespace fairseq2::models {

namespace {

void check_ids(const at::Tensor& ids, const nn::StandardEmbedding& embed, const char* what)
{
    if (ids.dim() != 2)
        throw InvalidArgumentError(std::string("The ") + what + " token ids must have shape (batch, sequence), but have shape " +
                                   c10::str(ids.sizes()) + ".");
    if (ids.scalar_type() != at::kLong)
        throw InvalidArgumentError(std::string("The ") + what + " token ids must be int64, but are " +
                                   std::string(c10::toString(ids.scalar_type())) + ".");
    if (ids.numel() == 0)
        return;
    const std::int64_t rows = embed.weight.size(0);
    const std::int64_t low = ids.min().item<std::int64_t>();
    const std::int64_t high = ids.max().item<std::int64_t>();
    if (low < 0 || high >= rows)
        throw InvalidArgumentError(std::string("The ") + what + " token id " + std::to_string(low < 0 ? low : high) +
                                   " is outside the embedding table (0 to " + std::to_string(rows - 1) + ").");
}

void reset_frontend(nn::TransformerEmbeddingFrontend& frontend)
{
    frontend.embed->reset_parameters();
    if (auto learned = std::dynamic_pointer_cast<nn::LearnedPositionEncoder>(frontend.pos_encoder))
        learned->reset_parameters();
    if (frontend.layer_norm)
        frontend.layer_norm->reset_parameters();
}

}  // namespace

EncoderDecoderModel::EncoderDecoderModel(std::int64_t model_dim, std::int64_t max_source_seq_len, std::int64_t max_target_seq_len,
                                         VocabularyInfo source_vocab_info, VocabularyInfo target_vocab_info)
    : model_dim_{model_dim},
      max_source_seq_len_{max_source_seq_len},
      max_target_seq_len_{max_target_seq_len},
      source_vocab_info_{std::move(source_vocab_info)},
      target_vocab_info_{std::move(target_vocab_info)}
{
}

EncoderDecoderModel::~EncoderDecoderModel() = default;

at::Tensor EncoderDecoderModel::forward(const at::Tensor& source_seqs, const nn::PaddingMask* source_padding_mask,
                                        const at::Tensor& target_seqs, const nn::PaddingMask* target_padding_mask)
{
    EncoderOutput encoded = encode(source_seqs, source_padding_mask);
    const nn::PaddingMask* mask = encoded.padding_mask ? &*encoded.padding_mask : nullptr;
    return project(decode(target_seqs, target_padding_mask, encoded.output, mask, nullptr));
}

TransformerEncoderDecoderModel::TransformerEncoderDecoderModel(std::shared_ptr<nn::TransformerEmbeddingFrontend> encoder_frontend,
                                                               std::shared_ptr<nn::StandardTransformerEncoder> encoder,
                                                               std::shared_ptr<nn::TransformerEmbeddingFrontend> decoder_frontend,
                                                               std::shared_ptr<nn::StandardTransformerDecoder> decoder,
                                                               std::shared_ptr<torch::nn::Module> final_proj, std::int64_t max_seq_len,
                                                               VocabularyInfo source_vocab_info, VocabularyInfo target_vocab_info)
    : EncoderDecoderModel(decoder_frontend->embed->weight.size(1), max_seq_len, max_seq_len, std::move(source_vocab_info),
                          std::move(target_vocab_info))
{
    if (!std::dynamic_pointer_cast<nn::Linear>(final_proj) && !std::dynamic_pointer_cast<nn::TiedProjection>(final_proj))
        throw InvalidArgumentError("The final projection of a TransformerEncoderDecoderModel must be a Linear or a TiedProjection.");
    for (const auto& layer : decoder->layers)
        if (!layer->encoder_decoder_attn)
            throw InvalidArgumentError("Every decoder layer of a TransformerEncoderDecoderModel needs an encoder-decoder attention.");
    this->encoder_frontend = register_module("encoder_frontend", std::move(encoder_frontend));
    this->encoder = register_module("encoder", std::move(encoder));
    this->decoder_frontend = register_module("decoder_frontend", std::move(decoder_frontend));
    this->decoder = register_module("decoder", std::move(decoder));
    this->final_proj = register_module("final_proj", std::move(final_proj));
}

EncoderOutput TransformerEncoderDecoderModel::encode(const at::Tensor& source_seqs, const nn::PaddingMask* source_padding_mask)
{
    check_ids(source_seqs, *encoder_frontend->embed, "source");
    if (source_padding_mask != nullptr &&
        (source_padding_mask->batch_seq_len() != source_seqs.size(1) || source_padding_mask->seq_lens().size(0) != source_seqs.size(0)))
        throw InvalidArgumentError("The source padding mask covers " + std::to_string(source_padding_mask->seq_lens().size(0)) +
                                   " sequences of " + std::to_string(source_padding_mask->batch_seq_len()) +
                                   " positions, but the source ids have shape " + c10::str(source_seqs.sizes()) + ".");
    EncoderOutput out;
    out.output = encoder->forward(encoder_frontend->forward(source_seqs), source_padding_mask);
    if (source_padding_mask != nullptr)
        out.padding_mask = *source_padding_mask;
    return out;
}

at::Tensor TransformerEncoderDecoderModel::decode(const at::Tensor& target_seqs, const nn::PaddingMask* target_padding_mask,
                                                  const at::Tensor& encoder_output, const nn::PaddingMask* encoder_padding_mask,
                                                  nn::IncrementalStateBag* state_bag)
{
    check_ids(target_seqs, *decoder_frontend->embed, "target");
    const std::int64_t start = state_bag != nullptr ? state_bag->step_nr() : 0;
    return decoder->forward(decoder_frontend->forward(target_seqs, start), target_padding_mask, encoder_output, encoder_padding_mask,
                            state_bag);
}

at::Tensor TransformerEncoderDecoderModel::project(const at::Tensor& decoder_output)
{
    if (auto linear = std::dynamic_pointer_cast<nn::Linear>(final_proj))
        return linear->forward(decoder_output);
    return std::static_pointer_cast<nn::TiedProjection>(final_proj)->forward(decoder_output);
}

void TransformerEncoderDecoderModel::reset_parameters()
{
    reset_frontend(*encoder_frontend);
    if (decoder_frontend->embed != encoder_frontend->embed)
        reset_frontend(*decoder_frontend);
    encoder->reset_parameters();
    decoder->reset_parameters();
    if (auto linear = std::dynamic_pointer_cast<nn::Linear>(final_proj))
        linear->reset_parameters();
}

}  // namespace fairseq2::models

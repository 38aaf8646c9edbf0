#pragma once

// The transformer model: the SDK's TransformerEncoderDecoderModel, built by
// this family's factory.

#include "fairseq2/models/encoder_decoder_model.hpp"

namespace fairseq2::models::transformer {

using TransformerModel = TransformerEncoderDecoderModel;

}  // namespace fairseq2::models::transformer

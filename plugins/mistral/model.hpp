#pragma once

// The mistral model. Mistral is a pre-norm decoder-only transformer made of
// the SDK's blocks (RMSNorm, rotary attention in consecutive pairs with
// grouped-query heads and a sliding window, GLU feed-forward), so the model
// class is TransformerDecoderModel itself; the family's particulars live in
// its config and factory.

#include "fairseq2/models/decoder_model.hpp"

namespace fairseq2::models::mistral {

using MistralModel = TransformerDecoderModel;

}  // namespace fairseq2::models::mistral

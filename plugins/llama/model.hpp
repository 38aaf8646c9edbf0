#pragma once

// The llama model. LLaMA is the standard pre-norm decoder-only transformer
// of the SDK (RMSNorm, rotary attention with grouped-query heads, GLU
// feed-forward), so its model class is TransformerDecoderModel itself; the
// family's particulars live in its config and factory.

#include "fairseq2/models/decoder_model.hpp"

namespace fairseq2::models::llama {

using LLaMAModel = TransformerDecoderModel;

}  // namespace fairseq2::models::llama

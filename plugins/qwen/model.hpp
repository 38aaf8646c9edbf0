#pragma once

// The qwen model. Qwen 2.5 and Qwen 3 are pre-norm decoder-only
// transformers made of the SDK's blocks (RMSNorm, rotary attention in the
// rotate-half layout with grouped-query heads, optional q/k/v biases and
// q/k norms, GLU feed-forward), so the model class is TransformerDecoderModel
// itself; the family's particulars live in its config and factory.

#include "fairseq2/models/decoder_model.hpp"

namespace fairseq2::models::qwen {

using QwenModel = TransformerDecoderModel;

}  // namespace fairseq2::models::qwen

#pragma once

// The Hugging Face layout of transformer checkpoints:
// M2M100ForConditionalGeneration, as transformers ships NLLB
// (facebook/nllb-200-*): config.json (model_type "m2m_100") to and from
// TransformerConfig, the key maps both ways, and export as a Hugging Face
// directory. transformers orders the first four rows of the shared
// embedding as fairseq does (<s> <pad> </s> <unk>), fairseq2's NLLB as
// <pad> <unk> <s> </s>: they are reordered both ways, so the vocabulary is
// NLLB's (pad 0, unk 1, bos 2, eos 3) and NLLB's tokenizer fits.

#include <filesystem>

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "hf_config.hpp"
#include "model.hpp"

namespace fairseq2::models::transformer {

// Whether `state_dict` uses transformers' names (model.shared.weight,
// model.encoder.layers.*).
bool is_hf_state_dict(const checkpoint::StateDict& state_dict);

// An HF state dict in fairseq2 layout: the shared embedding under
// whichever of its four names it came (model.shared, the two embed_tokens,
// lm_head) with rows 0-3 reordered, keys renamed, the sinusoidal tables
// (embed_positions.weights) dropped.
checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict);

// Writes `model` to the directory `dir` as config.json and
// model.safetensors with HF names (the shared embedding once, as
// model.shared.weight, in HF row order).
void export_hf_checkpoint(const TransformerModel& model, const TransformerConfig& config, const std::filesystem::path& dir);

}  // namespace fairseq2::models::transformer

#pragma once

// fairseq (v1) translation checkpoints: a torch.save dict whose "model" is
// the state dict in fairseq's names (its hyperparameters: fairseq_config.hpp),
// and which also holds the optimizer state (never read: see
// checkpoint::read_torch_checkpoint).

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq_config.hpp"

namespace fairseq2::models::transformer {

// Whether `state_dict` is in fairseq's names (encoder.embed_tokens.weight).
bool is_fairseq_state_dict(const checkpoint::StateDict& state_dict);

// fairseq's names to fairseq2's, with fairseq's bookkeeping entries
// (encoder.version, decoder.version, *.embed_positions._float_tensor)
// dropped.
checkpoint::StateDict convert_fairseq_state_dict(checkpoint::StateDict state_dict);

// The embedding tables (fairseq2 names) of a fairseq NLLB checkpoint in
// NLLB's vocabulary layout: the first four rows from fairseq's dictionary
// order to NLLB's, and a table one row longer than the vocabulary (fairseq's
// NLLB-100 checkpoints) cut to `vocab_size`. Tables that share a tensor
// still share one.
checkpoint::StateDict fairseq_vocabulary_to_nllb(checkpoint::StateDict state_dict, std::int64_t vocab_size);

}  // namespace fairseq2::models::transformer

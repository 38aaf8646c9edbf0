#pragma once

// Mistral's reference layout of checkpoints (consolidated.00.pth of
// mistral-inference, the layout fairseq2 reads): the key map.

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"

namespace fairseq2::models::mistral {

// Reference names to fairseq2 names (fairseq2's map).
const checkpoint::KeyMap& reference_key_map();

// Whether `state_dict` is in the reference layout (has tok_embeddings.weight).
bool is_reference_state_dict(const checkpoint::StateDict& state_dict);

// A reference state dict in fairseq2 layout: rope.freqs dropped, keys
// renamed. The reference q/k are already in fairseq2's pair order.
checkpoint::StateDict convert_reference_state_dict(checkpoint::StateDict state_dict);

}  // namespace fairseq2::models::mistral

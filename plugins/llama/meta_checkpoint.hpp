#pragma once

// The Meta reference layout of llama checkpoints (consolidated.00.pth and
// params.json): the key map and params.json to LLaMAConfig.

#include <filesystem>

#include <boost/json/value.hpp>

#include "config.hpp"
#include "config_files.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"

namespace fairseq2::models::llama {

// Meta names to fairseq2 names (fairseq2's map).
const checkpoint::KeyMap& meta_key_map();

// Whether `state_dict` is in Meta layout (has tok_embeddings.weight).
bool is_meta_state_dict(const checkpoint::StateDict& state_dict);

// A Meta state dict in fairseq2 layout: rope.freqs dropped, keys renamed;
// without output.weight and an untied config, final_proj shares the
// embedding tensor. Meta's q/k are already in fairseq2's pair order.
checkpoint::StateDict convert_meta_state_dict(checkpoint::StateDict state_dict, const LLaMAConfig& config);

}  // namespace fairseq2::models::llama

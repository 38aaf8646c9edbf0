#pragma once

// The Meta reference layout of llama checkpoints (consolidated.00.pth and
// params.json): the key map and params.json to LLaMAConfig.

#include <filesystem>

#include <boost/json/value.hpp>

#include "config.hpp"
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

// The config described by the params.json at `file` (parsed as `json`).
// The GLU width is computed as Meta's reference code does; vocabularies of
// 128000 tokens or more get Llama 3's special ids, smaller ones Llama 1/2's;
// max_seq_len is params.json's, else 131072 with scaled RoPE, 8192 for
// Llama 3 vocabularies and 4096 otherwise; the RoPE scale factor is
// "rope_scaling_factor" when given, else 8. Throws ConfigError naming the
// file and field.
LLaMAConfig llama_config_from_meta(const boost::json::value& json, const std::filesystem::path& file);

}  // namespace fairseq2::models::llama

#pragma once

// The Hugging Face layout of llama checkpoints: config.json to and from
// LLaMAConfig, the key maps both ways, the rotate-half order of the q/k
// projections, and export as a Hugging Face directory.

#include <cstdint>
#include <filesystem>

#include <boost/json/object.hpp>

#include "config.hpp"
#include "config_files.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "model.hpp"

namespace fairseq2::models::llama {

// An HF state dict in fairseq2 layout: q/k permuted, keys renamed, rotary
// inv_freq buffers dropped; without lm_head.weight (tied embeddings) and an
// untied config, final_proj shares the embedding tensor.
checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict, const LLaMAConfig& config);

// The HF config.json of `config`; `torch_dtype` is the weights' dtype name.
boost::json::object hf_config_from_llama(const LLaMAConfig& config, const std::string& torch_dtype);

// Writes `model` to the directory `dir` (created when missing) as
// config.json and model.safetensors with HF names and q/k order; a tied
// final projection is left out (tie_word_embeddings).
void export_hf_checkpoint(const LLaMAModel& model, const LLaMAConfig& config, const std::filesystem::path& dir);

}  // namespace fairseq2::models::llama

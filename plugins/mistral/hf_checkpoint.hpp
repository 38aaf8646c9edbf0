#pragma once

// The Hugging Face layout of mistral checkpoints (MistralForCausalLM):
// config.json to and from MistralConfig, the key maps both ways, the
// rotate-half order of the q/k projections, and export as a Hugging Face
// directory.

#include <filesystem>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "config.hpp"
#include "config_files.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "model.hpp"

namespace fairseq2::models::mistral {

// An HF state dict in fairseq2 layout: q/k rows reordered from rotate-half
// to consecutive pairs, keys renamed, rotary inv_freq buffers dropped.
checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict, const MistralConfig& config);

// The HF config.json of `config` (MistralForCausalLM).
boost::json::object hf_config_from_mistral(const MistralConfig& config);

// Writes `model` to the directory `dir` (created when missing) as
// config.json and model.safetensors with HF names and q/k order.
void export_hf_checkpoint(const MistralModel& model, const MistralConfig& config, const std::filesystem::path& dir);

}  // namespace fairseq2::models::mistral

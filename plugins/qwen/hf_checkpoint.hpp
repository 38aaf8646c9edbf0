#pragma once

// The Hugging Face layout of qwen checkpoints (Qwen2ForCausalLM,
// Qwen3ForCausalLM): config.json to and from QwenConfig, the key maps both
// ways, tied embeddings, and export as a Hugging Face directory. Qwen's
// rotary layout is Hugging Face's, so q/k rows are never permuted.

#include <filesystem>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "config.hpp"
#include "config_files.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "model.hpp"

namespace fairseq2::models::qwen {

// An HF state dict in fairseq2 layout: keys renamed, rotary inv_freq
// buffers dropped. With tied embeddings the shared tensor may come under
// either name (safetensors' save_model keeps only lm_head.weight): it
// becomes the embedding, and final_proj.weight (an alias in the model) is
// dropped.
checkpoint::StateDict convert_hf_state_dict(checkpoint::StateDict state_dict, const QwenConfig& config);

// The HF config.json of `config`: Qwen2ForCausalLM for q/k/v biases without
// q/k norms, Qwen3ForCausalLM for q/k norms. Throws InvalidArgumentError for
// configs neither describes (no biases and no norms, or only one of the two
// norms).
boost::json::object hf_config_from_qwen(const QwenConfig& config);

// Writes `model` to the directory `dir` (created when missing) as
// config.json and model.safetensors with HF names; a tied final projection
// is left out (tie_word_embeddings).
void export_hf_checkpoint(const QwenModel& model, const QwenConfig& config, const std::filesystem::path& dir);

}  // namespace fairseq2::models::qwen

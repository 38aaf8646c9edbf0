#pragma once

// The qwen configs that the files beside a checkpoint describe (Hugging
// Face config.json). Torch-free, like config_files.cpp.

#include <filesystem>
#include <string>

#include <boost/json/value.hpp>

#include "config.hpp"

namespace fairseq2::models::qwen {

// Whether a config.json model_type is one the qwen family loads ("qwen2",
// "qwen3").
bool is_qwen_model_type(const std::string& model_type);

// The config described by the HF config.json at `file` (already parsed as
// `json`). Throws ConfigError naming the file and field when a field is
// missing, of the wrong type, or describes something qwen models cannot be
// (another model_type, an activation other than silu, a sliding window,
// RoPE scaling, MLP biases).
QwenConfig qwen_config_from_hf(const boost::json::value& json, const std::filesystem::path& file);

}  // namespace fairseq2::models::qwen

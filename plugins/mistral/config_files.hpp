#pragma once

// The mistral configs that the files beside a checkpoint describe (Hugging
// Face config.json). Torch-free, like config_files.cpp.

#include <filesystem>
#include <string>

#include <boost/json/value.hpp>

#include "config.hpp"

namespace fairseq2::models::mistral {

// The config described by the HF config.json at `file` (already parsed as
// `json`). Throws ConfigError naming the file and field when a field is
// missing, of the wrong type, or describes something mistral models cannot
// be (another model_type, an activation other than silu, tied embeddings,
// RoPE scaling, attention biases).
MistralConfig mistral_config_from_hf(const boost::json::value& json, const std::filesystem::path& file);

}  // namespace fairseq2::models::mistral

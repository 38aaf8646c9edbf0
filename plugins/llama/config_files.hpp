#pragma once

// The llama configs that the files beside a checkpoint describe (Hugging
// Face config.json, Meta params.json). Torch-free, like config_files.cpp.

#include <filesystem>
#include <string>

#include <boost/json/value.hpp>

#include "config.hpp"

namespace fairseq2::models::llama {

// The config described by the HF config.json at `file` (already parsed as
// `json`). Throws ConfigError naming the file and field when a field is
// missing, of the wrong type, or describes something llama models cannot
// be (another model_type, biases, an activation other than silu, a RoPE
// scaling other than "llama3").
LLaMAConfig llama_config_from_hf(const boost::json::value& json, const std::filesystem::path& file);

// The config described by the params.json at `file` (parsed as `json`).
// The GLU width is computed as Meta's reference code does; vocabularies of
// 128000 tokens or more get Llama 3's special ids, smaller ones Llama 1/2's;
// max_seq_len is params.json's, else 131072 with scaled RoPE, 8192 for
// Llama 3 vocabularies and 4096 otherwise; the RoPE scale factor is
// "rope_scaling_factor" when given, else 8. Throws ConfigError naming the
// file and field.
LLaMAConfig llama_config_from_meta(const boost::json::value& json, const std::filesystem::path& file);

}  // namespace fairseq2::models::llama

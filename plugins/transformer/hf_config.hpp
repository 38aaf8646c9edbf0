#pragma once

// M2M100 config.json (transformers' NLLB) to and from TransformerConfig, in
// NLLB's vocabulary layout (see hf_checkpoint.hpp). No torch, so the config
// fuzzer compiles it alone.

#include <filesystem>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "config.hpp"

namespace fairseq2::models::transformer {

bool is_m2m100_model_type(const std::string& model_type);

// The config the HF config.json at `file` (parsed as `json`) describes.
// Throws ConfigError naming the file and the field for what M2M100 models
// of this family cannot be (another activation, unscaled embeddings, untied
// embeddings, another layout of the special tokens, encoder and decoder of
// other widths).
TransformerConfig transformer_config_from_hf(const boost::json::value& json, const std::filesystem::path& file);

// The HF config.json of `config`. Throws InvalidArgumentError for configs
// M2M100 cannot hold (post-norm, untied or unshared embeddings, a vocabulary
// other than NLLB's layout, a source vocabulary of its own).
boost::json::object hf_config_from_transformer(const TransformerConfig& config);

}  // namespace fairseq2::models::transformer

#pragma once

// fairseq (v1) translation checkpoints' hyperparameters ("args", an
// argparse.Namespace read as a plain record, or "cfg"."model") to
// TransformerConfig. No torch, so the config fuzzer compiles it alone.

#include <cstdint>
#include <filesystem>
#include <string>

#include <boost/json/object.hpp>

#include "config.hpp"

namespace fairseq2::models::transformer {

// fairseq's Dictionary puts <s>, <pad>, </s>, <unk> first.
inline constexpr std::int64_t fairseq_bos_idx = 0;
inline constexpr std::int64_t fairseq_pad_idx = 1;
inline constexpr std::int64_t fairseq_eos_idx = 2;
inline constexpr std::int64_t fairseq_unk_idx = 3;

// The model hyperparameters of a fairseq checkpoint's extras: "args" when it
// is a record, else "cfg"."model"; nullptr when it has neither.
const boost::json::object* fairseq_model_args(const boost::json::object& extras);

// The config fairseq's hyperparameters describe, with the vocabularies'
// sizes taken from the embedding tables (the dictionaries decide them).
// Defaults are those of fairseq's base transformer architecture. Throws
// ConfigError naming the checkpoint and the field for what this family
// cannot build (learned positions, embedding layer norms, unscaled
// embeddings, another activation than ReLU, encoder and decoder of other
// widths or norm orders).
TransformerConfig transformer_config_from_fairseq(const boost::json::object& args, std::int64_t source_vocab_size,
                                                  std::int64_t target_vocab_size, const std::filesystem::path& file);

}  // namespace fairseq2::models::transformer

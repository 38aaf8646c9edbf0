#pragma once

// fairseq (v1) translation checkpoints: a torch.save dict whose "model" is
// the state dict in fairseq's names, whose hyperparameters are in "args" (an
// argparse.Namespace, read as a plain record) or in "cfg"["model"], and
// which also holds the optimizer state (never read: see
// checkpoint::read_torch_checkpoint). No torch in the config part, so it can
// be fuzzed alone.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "config.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"

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

// The languages of a translation checkpoint's args (source_lang,
// target_lang) and where its dictionaries were ("data"); empty when absent.
struct FairseqTask {
    std::string source_lang;
    std::string target_lang;
    std::string data;
};
FairseqTask fairseq_task(const boost::json::object& args);

// Whether `state_dict` is in fairseq's names (encoder.embed_tokens.weight).
bool is_fairseq_state_dict(const checkpoint::StateDict& state_dict);

// fairseq's names to fairseq2's, with fairseq's bookkeeping entries
// (encoder.version, decoder.version, *.embed_positions._float_tensor)
// dropped.
checkpoint::StateDict convert_fairseq_state_dict(checkpoint::StateDict state_dict);

}  // namespace fairseq2::models::transformer

#pragma once

// How commands name a tokenizer: the one of a model card (--model NAME), of
// a checkpoint directory (--checkpoint DIR, in the family detected there),
// or a file (--tokenizer PATH [--tokenizer-family F]). Shared by `tokenize`,
// `detokenize` and `generate`.

#include <string>

#include <CLI/CLI.hpp>

#include "cli_context.hpp"
#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"

namespace fairseq2::cli {

struct TokenizerSelection {
    std::string model;
    std::string checkpoint;
    std::string tokenizer;
    std::string tokenizer_family;
};

// Adds --model, --checkpoint, --tokenizer and --tokenizer-family to `cmd`.
void add_tokenizer_options(CLI::App& cmd, TokenizerSelection& selection);

// Throws InvalidArgumentError unless exactly one source is given, and the
// hubs' errors (unknown card or family, unreadable files).
tokenizers::LoadedTokenizer select_tokenizer(CliContext& context, const TokenizerSelection& selection);

// The tokenizer of a model given by card or by checkpoint (for generate):
// --tokenizer when given, else the card's, else the checkpoint directory's
// files in `family`.
tokenizers::LoadedTokenizer model_tokenizer(CliContext& context, const std::string& model, const std::string& checkpoint,
                                            const std::string& family, const std::string& tokenizer, const std::string& tokenizer_family);

}  // namespace fairseq2::cli

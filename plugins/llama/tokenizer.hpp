#pragma once

// The llama tokenizer family: SentencePiece for Llama 1 and 2, a tiktoken
// rank file or a tokenizer.json for Llama 3.x.

#include <memory>
#include <string>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"

namespace fairseq2::models::llama {

// Llama 3's 256 special tokens, ids 128000 on, in order.
std::vector<std::string> llama3_special_tokens();

// Llama 3's pre-tokenizer regex.
extern const char* const llama3_split_regex;

class LLaMATokenizerHandler final : public tokenizers::TokenizerHandler {
public:
    std::string family() const override;
    // {"use_eot": false}: instruct cards set use_eot, making <|eot_id|> the EOS.
    boost::json::object default_config() const override;

protected:
    std::shared_ptr<tokenizers::Tokenizer> do_load(const std::filesystem::path& file, tokenizers::TokenizerFormat format,
                                                   const boost::json::object& config) const override;
};

}  // namespace fairseq2::models::llama

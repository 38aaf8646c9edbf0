#pragma once

// The mistral tokenizer family: Mistral 7B's SentencePiece model.

#include <memory>
#include <string>

#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"

namespace fairseq2::models::mistral {

class MistralTokenizerHandler final : public tokenizers::TokenizerHandler {
public:
    std::string family() const override;

protected:
    std::shared_ptr<tokenizers::Tokenizer> do_load(const std::filesystem::path& file, tokenizers::TokenizerFormat format,
                                                   const boost::json::object& config) const override;
};

}  // namespace fairseq2::models::mistral

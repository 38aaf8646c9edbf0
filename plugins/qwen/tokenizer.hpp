#pragma once

// The qwen tokenizer family: Qwen 2.5's and Qwen 3's tokenizer.json.

#include <memory>
#include <string>

#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"

namespace fairseq2::models::qwen {

class QwenTokenizerHandler final : public tokenizers::TokenizerHandler {
public:
    std::string family() const override;
    // {"use_im_end": false}: instruct cards set use_im_end, making <|im_end|> the EOS.
    boost::json::object default_config() const override;

protected:
    std::shared_ptr<tokenizers::Tokenizer> do_load(const std::filesystem::path& file, tokenizers::TokenizerFormat format,
                                                   const boost::json::object& config) const override;
};

}  // namespace fairseq2::models::qwen

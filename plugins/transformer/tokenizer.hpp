#pragma once

// The transformer family's tokenizer: NLLB's, a SentencePiece model with
// <pad> put first (every piece id + 1: <pad> 0, <unk> 1, <s> 2, </s> 3) and
// control tokens appended in this order: __LANG__ for each language of the
// card's `tokenizer_config.langs`, then <MINED_DATA>, <MMT_BT_DATA>,
// <SMT_BT_DATA> (NLLB-200: 256000 pieces + 1 + 202 + 3 = 256206 ids). A
// source is "__src__ text </s>", the target prefix "</s> __tgt__", as
// fairseq2's NllbTokenizer places them.

#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"

namespace fairseq2::models::transformer {

class TransformerTokenizerHandler final : public tokenizers::TokenizerHandler {
public:
    std::string family() const override;

    // {"langs": [], "default_lang": ""}: a card lists its languages.
    boost::json::object default_config() const override;

protected:
    std::shared_ptr<tokenizers::Tokenizer> do_load(const std::filesystem::path& file, tokenizers::TokenizerFormat format,
                                                   const boost::json::object& config) const override;
};

}  // namespace fairseq2::models::transformer

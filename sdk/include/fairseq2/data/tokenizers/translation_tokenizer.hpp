#pragma once

// What translation needs of a tokenizer beyond Tokenizer: the source ids of
// a text in a language, the target prefix the decoder starts from (the
// prompt of sequence-to-sequence generation), and the text of generated
// ids. NLLB's tokenizer places its language tokens here; a pair of fairseq
// dictionaries has no languages.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer.hpp"

namespace fairseq2::tokenizers {

class FAIRSEQ2_API TranslationTokenizer {
public:
    virtual ~TranslationTokenizer();

    // The languages it knows ("eng_Latn", ...); empty when it has none, and
    // then `lang` below is ignored.
    virtual std::vector<std::string> languages() const = 0;

    // The language assumed when none is given (empty: none).
    virtual std::string default_language() const = 0;

    // The encoder's ids of `text` in `lang`. Throws InvalidArgumentError
    // naming an unknown language, TokenizerError for text that is not UTF-8.
    virtual std::vector<std::int64_t> encode_source(std::string_view text, const std::string& lang) const = 0;

    // The decoder's first ids for output in `lang` (fairseq: </s>; NLLB:
    // </s> __lang__).
    virtual std::vector<std::int64_t> target_prefix(const std::string& lang) const = 0;

    // The text of generated ids, special tokens left out.
    virtual std::string decode_target(std::span<const std::int64_t> ids) const = 0;

    // The sizes of the source and target vocabularies.
    virtual std::int64_t source_vocab_size() const = 0;
    virtual std::int64_t target_vocab_size() const = 0;
};

// Two tokenizers without languages, as fairseq's translation models have
// (dict.<src>.txt, dict.<tgt>.txt): the source is source.encode(text) (its
// default mode: fairseq appends </s>), the target prefix the target's EOS,
// generated ids decoded by the target with special tokens skipped. Throws
// InvalidArgumentError when the target has no EOS.
FAIRSEQ2_API std::shared_ptr<TranslationTokenizer> make_translation_pair(std::shared_ptr<const Tokenizer> source,
                                                                         std::shared_ptr<const Tokenizer> target);

}  // namespace fairseq2::tokenizers

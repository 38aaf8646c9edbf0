#include "fairseq2/data/tokenizers/translation_tokenizer.hpp"

#include "fairseq2/error.hpp"

namespace fairseq2::tokenizers {

TranslationTokenizer::~TranslationTokenizer() = default;

namespace {

class TranslationPair final : public TranslationTokenizer {
public:
    TranslationPair(std::shared_ptr<const Tokenizer> source, std::shared_ptr<const Tokenizer> target)
        : source_{std::move(source)}, target_{std::move(target)}
    {
    }

    std::vector<std::string> languages() const override { return {}; }
    std::string default_language() const override { return {}; }

    std::vector<std::int64_t> encode_source(std::string_view text, const std::string& /*lang*/) const override
    {
        return source_->encode(text);
    }

    std::vector<std::int64_t> target_prefix(const std::string& /*lang*/) const override { return {target_->special_tokens().eos->id}; }

    std::string decode_target(std::span<const std::int64_t> ids) const override { return target_->decode(ids, /*skip_special=*/true); }

    std::int64_t source_vocab_size() const override { return source_->vocab_size(); }
    std::int64_t target_vocab_size() const override { return target_->vocab_size(); }

private:
    std::shared_ptr<const Tokenizer> source_;
    std::shared_ptr<const Tokenizer> target_;
};

}  // namespace

std::shared_ptr<TranslationTokenizer> make_translation_pair(std::shared_ptr<const Tokenizer> source, std::shared_ptr<const Tokenizer> target)
{
    if (!source || !target)
        throw InvalidArgumentError("A translation pair needs a source and a target tokenizer.");
    if (!target->special_tokens().eos)
        throw InvalidArgumentError("The target tokenizer (" + std::string(target->implementation()) +
                                   ") has no EOS token, which starts and ends a translation.");
    return std::make_shared<TranslationPair>(std::move(source), std::move(target));
}

}  // namespace fairseq2::tokenizers

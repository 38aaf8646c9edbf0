#include "tokenizer.hpp"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include <boost/json.hpp>

#include "config.hpp"
#include "fairseq2/data/tokenizers/translation_tokenizer.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::models::transformer {

using namespace fairseq2::tokenizers;

namespace {

constexpr std::int64_t pad_idx = 0;
constexpr std::int64_t eos_idx = 3;
const char* const data_tags[] = {"<MINED_DATA>", "<MMT_BT_DATA>", "<SMT_BT_DATA>"};

class NllbTokenizer final : public Tokenizer, public TranslationTokenizer {
public:
    NllbTokenizer(std::shared_ptr<Tokenizer> pieces, std::vector<std::string> langs, std::string default_lang, std::string file)
        : pieces_{std::move(pieces)}, langs_{std::move(langs)}, default_lang_{std::move(default_lang)}, name_{"nllb sentencepiece " + file}
    {
        for (const auto& lang : langs_)
            add_control("__" + lang + "__");
        for (const char* tag : data_tags)
            add_control(tag);
        SpecialTokens specials;
        specials.pad = SpecialToken{"<pad>", pad_idx};
        specials.unk = SpecialToken{"<unk>", 1};
        specials.bos = SpecialToken{"<s>", 2};
        specials.eos = SpecialToken{"</s>", eos_idx};
        set_special_tokens(std::move(specials), /*add_bos=*/false);
    }

    // Tokenizer

    std::string decode(std::span<const std::int64_t> ids, bool skip_special) const override
    {
        std::string out;
        std::vector<std::int64_t> run;
        const auto flush = [&] {
            if (!run.empty())
                out += pieces_->decode(run, skip_special);
            run.clear();
        };
        for (const std::int64_t id : ids) {
            check_id(id);
            if (id == pad_idx) {
                flush();
                if (!skip_special)
                    out += "<pad>";
            } else if (id <= pieces_->vocab_size()) {
                run.push_back(id - 1);
            } else {
                flush();
                if (!skip_special)
                    out += controls_[static_cast<std::size_t>(id - pieces_->vocab_size() - 1)];
            }
        }
        flush();
        return out;
    }

    std::optional<std::int64_t> token_to_id(std::string_view token) const override
    {
        if (token == "<pad>")
            return pad_idx;
        if (auto it = control_ids_.find(std::string(token)); it != control_ids_.end())
            return it->second;
        if (std::optional<std::int64_t> id = pieces_->token_to_id(token))
            return *id + 1;
        return std::nullopt;
    }

    std::optional<std::string> id_to_token(std::int64_t id) const override
    {
        if (id < 0 || id >= vocab_size())
            return std::nullopt;
        if (id == pad_idx)
            return "<pad>";
        if (id <= pieces_->vocab_size())
            return pieces_->id_to_token(id - 1);
        return controls_[static_cast<std::size_t>(id - pieces_->vocab_size() - 1)];
    }

    std::int64_t vocab_size() const override { return pieces_->vocab_size() + 1 + static_cast<std::int64_t>(controls_.size()); }

    std::string_view implementation() const override { return name_; }

    // TranslationTokenizer

    std::vector<std::string> languages() const override { return langs_; }
    std::string default_language() const override { return default_lang_; }

    std::vector<std::int64_t> encode_source(std::string_view text, const std::string& lang) const override
    {
        std::vector<std::int64_t> ids{lang_id(lang)};
        std::vector<std::int64_t> body = encode(text, EncodeMode::as_is);
        ids.insert(ids.end(), body.begin(), body.end());
        ids.push_back(eos_idx);
        return ids;
    }

    std::vector<std::int64_t> target_prefix(const std::string& lang) const override { return {eos_idx, lang_id(lang)}; }

    std::string decode_target(std::span<const std::int64_t> ids) const override { return decode(ids, /*skip_special=*/true); }

    std::int64_t source_vocab_size() const override { return vocab_size(); }
    std::int64_t target_vocab_size() const override { return vocab_size(); }

protected:
    std::vector<std::int64_t> encode_text(std::string_view text) const override
    {
        std::vector<std::int64_t> ids = pieces_->encode(text, EncodeMode::as_is);
        for (auto& id : ids)
            ++id;
        return ids;
    }

private:
    void add_control(std::string token)
    {
        const std::int64_t id = pieces_->vocab_size() + 1 + static_cast<std::int64_t>(controls_.size());
        if (!control_ids_.emplace(token, id).second)
            throw ConfigError("The NLLB tokenizer config lists the language of '" + token + "' twice.");
        controls_.push_back(std::move(token));
    }

    std::int64_t lang_id(const std::string& lang) const
    {
        if (auto it = control_ids_.find("__" + lang + "__"); it != control_ids_.end() && lang.find("__") == std::string::npos)
            return it->second;
        std::string known;
        for (std::size_t i = 0; i < langs_.size() && i < 8; ++i)
            known += (i == 0 ? "" : ", ") + langs_[i];
        if (langs_.size() > 8)
            known += ", ...";
        throw InvalidArgumentError("The language '" + lang + "' is not one of the " + std::to_string(langs_.size()) +
                                   " languages of the NLLB tokenizer (" + (known.empty() ? std::string("it has none") : known) +
                                   "); the card's tokenizer_config.langs lists them.");
    }

    std::shared_ptr<Tokenizer> pieces_;
    std::vector<std::string> langs_;
    std::string default_lang_;
    std::string name_;
    std::vector<std::string> controls_;
    std::unordered_map<std::string, std::int64_t> control_ids_;
};

}  // namespace

std::string TransformerTokenizerHandler::family() const
{
    return family_name;
}

boost::json::object TransformerTokenizerHandler::default_config() const
{
    return boost::json::object{{"langs", boost::json::array{}}, {"default_lang", ""}};
}

std::shared_ptr<Tokenizer> TransformerTokenizerHandler::do_load(const std::filesystem::path& file, TokenizerFormat format,
                                                                const boost::json::object& config) const
{
    if (format != TokenizerFormat::sentencepiece)
        throw TokenizerError(file.string() + ": a transformer (NLLB) tokenizer is a SentencePiece model, not a " +
                             std::string(tokenizer_format_name(format)) + ".");
    std::vector<std::string> langs;
    if (const auto* value = config.if_contains("langs")) {
        if (!value->is_array())
            throw ConfigError("The 'langs' key of the transformer tokenizer config must be a list of language codes, but is " +
                              boost::json::serialize(*value) + ".");
        for (const auto& lang : value->as_array()) {
            if (!lang.is_string() || lang.as_string().empty())
                throw ConfigError("The 'langs' key of the transformer tokenizer config must list language codes (strings), but holds " +
                                  boost::json::serialize(lang) + ".");
            langs.emplace_back(lang.as_string());
        }
    }
    std::string default_lang;
    if (const auto* value = config.if_contains("default_lang")) {
        if (!value->is_string())
            throw ConfigError("The 'default_lang' key of the transformer tokenizer config must be a language code, but is " +
                              boost::json::serialize(*value) + ".");
        default_lang = std::string(value->as_string());
        if (!default_lang.empty() && std::find(langs.begin(), langs.end(), default_lang) == langs.end())
            throw ConfigError("The 'default_lang' of the transformer tokenizer config, '" + default_lang + "', is not one of its langs.");
    }
    // The pieces alone: NLLB's model holds <unk> 0, <s> 1, </s> 2 and the
    // pieces; the wrapper shifts them and adds <pad> and the controls.
    TokenizerDefaults defaults;
    std::shared_ptr<Tokenizer> pieces = load_sentencepiece_tokenizer(file, defaults);
    return std::make_shared<NllbTokenizer>(std::move(pieces), std::move(langs), std::move(default_lang), file.string());
}

}  // namespace fairseq2::models::transformer

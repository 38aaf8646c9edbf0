// Hugging Face tokenizer.json (byte-level BPE) and tokenizer_config.json.

#include <boost/json.hpp>

#include "bpe_tokenizer.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "file_reading.hpp"
#include "special_tokens.hpp"

namespace fairseq2::tokenizers {

namespace json = boost::json;
using detail::BpeTokenizer;

namespace {

// GPT-2's pre-tokenizer regex, which ByteLevel applies with use_regex.
constexpr const char* gpt2_split_regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Parser {
    std::string file;

    [[noreturn]] void fail(const std::string& where, const std::string& what) const
    {
        throw TokenizerError(file + ": " + where + " " + what);
    }

    const json::object& object(const json::value& v, const std::string& where) const
    {
        if (!v.is_object())
            fail(where, "must be a JSON object, found " + std::string(json::to_string(v.kind())) + ".");
        return v.get_object();
    }

    std::string string(const json::object& o, const char* key, const std::string& where) const
    {
        const json::value* v = o.if_contains(key);
        if (v == nullptr || !v->is_string())
            fail(where + "." + key, v == nullptr ? "is missing." : "must be a string.");
        return std::string(v->get_string());
    }

    bool flag(const json::object& o, const char* key, bool fallback) const
    {
        const json::value* v = o.if_contains(key);
        if (v == nullptr || v->is_null())
            return fallback;
        if (!v->is_bool())
            fail(std::string(key), "must be true or false.");
        return v->get_bool();
    }
};

std::string escape_regex(std::string_view literal)
{
    std::string out;
    for (char c : literal) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos)
            out += '\\';
        out += c;
    }
    return out;
}

// Metaspace's replacement and prepend scheme (or the older add_prefix_space).
void read_metaspace(const Parser& p, const json::object& o, const std::string& where, detail::Metaspace::Prepend& prepend,
                    std::string& replacement)
{
    replacement = p.string(o, "replacement", where);
    prepend = detail::Metaspace::Prepend::always;
    if (const auto* scheme = o.if_contains("prepend_scheme"); scheme != nullptr && scheme->is_string()) {
        std::string_view s = scheme->get_string();
        if (s == "always")
            prepend = detail::Metaspace::Prepend::always;
        else if (s == "first")
            prepend = detail::Metaspace::Prepend::first;
        else if (s == "never")
            prepend = detail::Metaspace::Prepend::never;
        else
            p.fail(where + ".prepend_scheme", "is '" + std::string(s) + "'; expected always, first or never.");
    } else if (!p.flag(o, "add_prefix_space", true)) {
        prepend = detail::Metaspace::Prepend::never;
    }
}

// A literal String pattern (Replace normaliser and decoder); Regex patterns are refused.
std::string literal_pattern(const Parser& p, const json::object& o, const std::string& where)
{
    const json::value* pattern = o.if_contains("pattern");
    if (pattern != nullptr && pattern->is_object())
        if (const auto* s = pattern->get_object().if_contains("String"); s != nullptr && s->is_string())
            return std::string(s->get_string());
    p.fail(where + ".pattern", "must be a String pattern; Regex replacements are not supported.");
}

// Adds the pre-tokenizer's splitters; returns whether it is byte-level.
bool read_pre_tokenizer(const Parser& p, const json::value& v, const std::string& where, BpeTokenizer& tok)
{
    if (v.is_null())
        return false;
    const auto& o = p.object(v, where);
    std::string type = p.string(o, "type", where);
    if (type == "Sequence") {
        const json::value* list = o.if_contains("pretokenizers");
        if (list == nullptr || !list->is_array())
            p.fail(where + ".pretokenizers", "must be a list.");
        bool byte_level = false;
        std::size_t i = 0;
        for (const auto& item : list->get_array())
            byte_level = read_pre_tokenizer(p, item, where + ".pretokenizers[" + std::to_string(i++) + "]", tok) || byte_level;
        return byte_level;
    }
    if (type == "ByteLevel") {
        tok.add_prefix_space = p.flag(o, "add_prefix_space", false);
        if (p.flag(o, "use_regex", true))
            tok.splitters.push_back(std::make_unique<detail::RegexSplitter>(gpt2_split_regex, p.file + ": " + where));
        return true;
    }
    if (type == "Metaspace") {
        read_metaspace(p, o, where, tok.metaspace.prepend, tok.metaspace.replacement);
        tok.metaspace.enabled = true;
        tok.metaspace.split = p.flag(o, "split", true);
        return false;
    }
    if (type == "Split") {
        const json::value* pattern = o.if_contains("pattern");
        if (pattern == nullptr || !pattern->is_object())
            p.fail(where + ".pattern", "must be an object with a Regex or a String.");
        std::string regex;
        if (const auto* r = pattern->get_object().if_contains("Regex"); r != nullptr && r->is_string())
            regex = std::string(r->get_string());
        else if (const auto* s = pattern->get_object().if_contains("String"); s != nullptr && s->is_string())
            regex = escape_regex(s->get_string());
        else
            p.fail(where + ".pattern", "must hold a Regex or a String.");
        std::string behavior = p.string(o, "behavior", where);
        if (behavior != "Isolated")
            p.fail(where + ".behavior", "is '" + behavior + "'; only 'Isolated' is supported.");
        if (p.flag(o, "invert", false))
            p.fail(where + ".invert", "is true; only false is supported.");
        tok.splitters.push_back(std::make_unique<detail::RegexSplitter>(regex, p.file + ": " + where));
        return false;
    }
    p.fail(where + ".type", "is '" + type + "'; supported pre-tokenizers are ByteLevel, Split, Metaspace and Sequence.");
}

void read_normalizer(const Parser& p, const json::value& v, const std::string& where, BpeTokenizer& tok)
{
    if (v.is_null())
        return;
    const auto& o = p.object(v, where);
    std::string type = p.string(o, "type", where);
    if (type == "Sequence") {
        const json::value* list = o.if_contains("normalizers");
        if (list == nullptr || !list->is_array())
            p.fail(where + ".normalizers", "must be a list.");
        std::size_t i = 0;
        for (const auto& item : list->get_array())
            read_normalizer(p, item, where + ".normalizers[" + std::to_string(i++) + "]", tok);
        return;
    }
    if (type == "NFC") {
        tok.normalizers.push_back({detail::NormalizerStep::Kind::nfc, {}, {}});
        return;
    }
    if (type == "Prepend") {
        tok.normalizers.push_back({detail::NormalizerStep::Kind::prepend, {}, p.string(o, "prepend", where)});
        return;
    }
    if (type == "Replace") {
        tok.normalizers.push_back({detail::NormalizerStep::Kind::replace, literal_pattern(p, o, where), p.string(o, "content", where)});
        return;
    }
    p.fail(where + ".type", "is '" + type + "'; supported normalizers are NFC, Prepend, Replace and Sequence.");
}

// The decoder steps of a SentencePiece-style model.
void read_decoder(const Parser& p, const json::value& v, const std::string& where, BpeTokenizer& tok)
{
    if (v.is_null())
        return;
    const auto& o = p.object(v, where);
    std::string type = p.string(o, "type", where);
    using Kind = detail::DecoderStep::Kind;
    if (type == "Sequence") {
        const json::value* list = o.if_contains("decoders");
        if (list == nullptr || !list->is_array())
            p.fail(where + ".decoders", "must be a list.");
        std::size_t i = 0;
        for (const auto& item : list->get_array())
            read_decoder(p, item, where + ".decoders[" + std::to_string(i++) + "]", tok);
    } else if (type == "Replace") {
        tok.decoders.push_back({Kind::replace, literal_pattern(p, o, where), p.string(o, "content", where)});
    } else if (type == "ByteFallback") {
        tok.decoders.push_back({Kind::byte_fallback, {}, {}});
    } else if (type == "Fuse") {
        tok.decoders.push_back({Kind::fuse, {}, {}});
    } else if (type == "Strip") {
        detail::DecoderStep step{Kind::strip, {}, p.string(o, "content", where)};
        for (auto [key, field] : {std::pair{"start", &step.start}, std::pair{"stop", &step.stop}}) {
            const json::value* n = o.if_contains(key);
            if (n == nullptr || !n->is_int64() || n->get_int64() < 0)
                p.fail(where + "." + key, "must be a non-negative integer.");
            *field = static_cast<std::size_t>(n->get_int64());
        }
        tok.decoders.push_back(std::move(step));
    } else if (type == "Metaspace") {
        detail::DecoderStep step{Kind::metaspace, {}, {}};
        read_metaspace(p, o, where, step.prepend, step.pattern);
        tok.decoders.push_back(std::move(step));
    } else {
        p.fail(where + ".type", "is '" + type + "'; supported decoders of SentencePiece-style BPE are Replace, ByteFallback, Fuse, Strip, "
                                "Metaspace and Sequence.");
    }
}

// The post-processor's single-sequence template: whether a special token
// precedes and follows the text, and which.
struct Template {
    bool found = false;
    std::optional<std::string> before;
    std::optional<std::string> after;
};

void read_post_processor(const Parser& p, const json::value& v, const std::string& where, Template& out)
{
    if (v.is_null())
        return;
    const auto& o = p.object(v, where);
    std::string type = p.string(o, "type", where);
    if (type == "Sequence") {
        if (const auto* list = o.if_contains("processors"); list != nullptr && list->is_array()) {
            std::size_t i = 0;
            for (const auto& item : list->get_array())
                read_post_processor(p, item, where + ".processors[" + std::to_string(i++) + "]", out);
        }
        return;
    }
    if (type != "TemplateProcessing")
        return;  // ByteLevel and the like add no tokens
    const json::value* single = o.if_contains("single");
    if (single == nullptr || !single->is_array())
        p.fail(where + ".single", "must be a list.");
    out.found = true;
    bool seen_text = false;
    for (const auto& piece : single->get_array()) {
        if (!piece.is_object())
            continue;
        if (piece.get_object().contains("Sequence")) {
            seen_text = true;
        } else if (const auto* s = piece.get_object().if_contains("SpecialToken"); s != nullptr && s->is_object()) {
            std::string id = p.string(s->get_object(), "id", where + ".single");
            (seen_text ? out.after : out.before) = id;
        }
    }
}

// A special token of tokenizer_config.json: absent (nullopt), null ("" ),
// a string, or an object with its content.
std::optional<std::string> config_token(const json::object& config, const char* key)
{
    const json::value* v = config.if_contains(key);
    if (v == nullptr)
        return std::nullopt;
    if (v->is_string())
        return std::string(v->get_string());
    if (v->is_object())
        if (const auto* c = v->get_object().if_contains("content"); c != nullptr && c->is_string())
            return std::string(c->get_string());
    return std::string();
}

}  // namespace

std::shared_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults)
{
    Parser p{file.string()};
    json::value root_value = detail::read_json(file);
    const auto& root = p.object(root_value, "The file");

    auto tok = std::make_shared<BpeTokenizer>();
    tok->implementation_name = "tokenizer.json";
    tok->file = file.string();

    const json::value* model_value = root.if_contains("model");
    if (model_value == nullptr)
        p.fail("The file", "has no 'model': it is not a Hugging Face tokenizer.json.");
    const auto& model = p.object(*model_value, "model");
    std::string type = p.string(model, "type", "model");
    if (type != "BPE")
        p.fail("model.type", "is '" + type + "'; only BPE models are supported.");
    if (const auto* d = model.if_contains("dropout"); d != nullptr && !d->is_null())
        p.fail("model.dropout", "is set; BPE dropout is for training and is not supported.");
    tok->ignore_merges = p.flag(model, "ignore_merges", false);
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (const auto* v = model.if_contains(key); v != nullptr && v->is_string() && !v->get_string().empty())
            p.fail(std::string("model.") + key, "is set; byte-level BPE with word prefixes or suffixes is not supported.");

    // Byte-level BPE (a ByteLevel pre-tokenizer) or SentencePiece-style BPE
    // (characters, byte fallback, Metaspace or Prepend/Replace normalisers).
    bool byte_level = false;
    if (const auto* v = root.if_contains("pre_tokenizer"))
        byte_level = read_pre_tokenizer(p, *v, "pre_tokenizer", *tok);
    if (const auto* v = root.if_contains("normalizer"))
        read_normalizer(p, *v, "normalizer", *tok);
    if (byte_level) {
        if (const auto* v = root.if_contains("decoder"); v != nullptr && !v->is_null()) {
            std::string dtype = p.string(p.object(*v, "decoder"), "type", "decoder");
            if (dtype != "ByteLevel")
                p.fail("decoder.type", "is '" + dtype + "'; a byte-level BPE tokenizer.json must decode with ByteLevel.");
        }
    } else {
        tok->characters = true;
        tok->byte_level_names = false;
        tok->byte_fallback = p.flag(model, "byte_fallback", false);
        tok->fuse_unk = p.flag(model, "fuse_unk", false);
        if (!tok->splitters.empty())
            p.fail("pre_tokenizer", "splits with a regex but has no ByteLevel step; SentencePiece-style BPE with a Split pre-tokenizer is not supported.");
        if (const auto* v = root.if_contains("decoder"))
            read_decoder(p, *v, "decoder", *tok);
        if (tok->decoders.empty())
            p.fail("decoder", "is missing; a SentencePiece-style BPE tokenizer.json must say how pieces become text.");
    }

    const json::value* vocab = model.if_contains("vocab");
    if (vocab == nullptr || !vocab->is_object())
        p.fail("model.vocab", "must be an object of tokens and ids.");
    std::string bytes;
    tok->bytes_to_id.reserve(vocab->get_object().size());
    for (const auto& [name, id] : vocab->get_object()) {
        if (!id.is_int64() || id.get_int64() < 0 || id.get_int64() > INT32_MAX)
            p.fail("model.vocab['" + std::string(name) + "']", "must be a non-negative integer id.");
        if (!byte_level)
            bytes = name;
        else if (!detail::byte_level_to_bytes(name, bytes))
            p.fail("model.vocab['" + std::string(name) + "']", "is not a name in the byte-level alphabet.");
        tok->bytes_to_id.emplace(bytes, static_cast<std::int32_t>(id.get_int64()));
    }

    const json::value* merges = model.if_contains("merges");
    if (merges == nullptr || !merges->is_array())
        p.fail("model.merges", "must be a list.");
    tok->merges.reserve(merges->get_array().size());
    std::int32_t rank = 0;
    const auto& names = vocab->get_object();
    auto id_of = [&](std::string_view name, std::size_t index) -> std::int32_t {
        const json::value* v = names.if_contains(name);
        if (v == nullptr)
            p.fail("model.merges[" + std::to_string(index) + "]", "names '" + std::string(name) + "', which is not in the vocabulary.");
        return static_cast<std::int32_t>(v->get_int64());
    };
    for (const auto& m : merges->get_array()) {
        std::size_t index = static_cast<std::size_t>(rank);
        std::string left, right;
        if (m.is_string()) {
            std::string_view s = m.get_string();
            auto space = s.find(' ', 1);
            if (space == std::string_view::npos)
                p.fail("model.merges[" + std::to_string(index) + "]", "must be two tokens separated by a space.");
            left = s.substr(0, space);
            right = s.substr(space + 1);
        } else if (m.is_array() && m.get_array().size() == 2 && m.get_array()[0].is_string() && m.get_array()[1].is_string()) {
            left = m.get_array()[0].get_string();
            right = m.get_array()[1].get_string();
        } else {
            p.fail("model.merges[" + std::to_string(index) + "]", "must be a pair of tokens.");
        }
        std::int32_t merged = id_of(left + right, index);
        tok->merges.emplace(BpeTokenizer::pair_key(id_of(left, index), id_of(right, index)), BpeTokenizer::Merge{rank, merged});
        ++rank;
    }

    if (const auto* added = root.if_contains("added_tokens"); added != nullptr && added->is_array()) {
        std::size_t i = 0;
        for (const auto& a : added->get_array()) {
            std::string where = "added_tokens[" + std::to_string(i++) + "]";
            const auto& o = p.object(a, where);
            const json::value* id = o.if_contains("id");
            if (id == nullptr || !id->is_int64() || id->get_int64() < 0 || id->get_int64() > INT32_MAX)
                p.fail(where + ".id", "must be a non-negative integer.");
            detail::AddedToken t;
            t.content = p.string(o, "content", where);
            t.id = static_cast<std::int32_t>(id->get_int64());
            t.special = p.flag(o, "special", false);
            t.lstrip = p.flag(o, "lstrip", false);
            t.rstrip = p.flag(o, "rstrip", false);
            t.single_word = p.flag(o, "single_word", false);
            tok->added.add(std::move(t));
        }
    }
    if (const auto* u = model.if_contains("unk_token"); u != nullptr && u->is_string()) {
        auto it = tok->bytes_to_id.find(std::string_view(u->get_string()));
        if (it != tok->bytes_to_id.end())
            tok->unk_id = it->second;
        else if (const auto* a = tok->added.lookup(u->get_string()))
            tok->unk_id = a->id;
        else
            p.fail("model.unk_token", "names '" + std::string(u->get_string()) + "', which is not in the vocabulary.");
    }
    tok->finish(file.string());

    Template tmpl;
    if (const auto* v = root.if_contains("post_processor"))
        read_post_processor(p, *v, "post_processor", tmpl);

    json::object config;
    std::filesystem::path config_file = file.parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(config_file)) {
        json::value c = detail::read_json(config_file);
        if (!c.is_object())
            throw TokenizerError(config_file.string() + ": the file must hold a JSON object.");
        config = std::move(c.get_object());
    }

    // Files first (tokenizer_config.json, then the post-processor, then the
    // model's unk_token), then the family's defaults.
    auto resolve = [&](const char* config_key, std::optional<std::string> from_files, const std::optional<std::string>& fallback,
                       const char* role, bool required) -> std::optional<SpecialToken> {
        std::optional<std::string> text = config_token(config, config_key);
        if (!text)
            text = std::move(from_files);
        bool from_file = text.has_value();
        if (!text)
            text = fallback;
        const std::string where = !from_file ? file.string() : config.contains(config_key) ? config_file.string() : file.string();
        return detail::find_special(*tok, text, where, role, required, from_file ? "the files name" : "of the family");
    };
    SpecialTokens specials;
    specials.bos = resolve("bos_token", tmpl.before, defaults.bos, "BOS", true);
    // A template that ends with a special token ("$A </s>") names the EOS.
    specials.eos = resolve("eos_token", tmpl.after, defaults.eos, "EOS", true);
    specials.pad = resolve("pad_token", std::nullopt, defaults.pad, "pad", true);
    std::optional<std::string> model_unk;
    if (const auto* u = model.if_contains("unk_token"); u != nullptr && u->is_string())
        model_unk = std::string(u->get_string());
    specials.unk = resolve("unk_token", model_unk, defaults.unk, "unknown", true);
    specials.end_of_turn = resolve("", std::nullopt, defaults.end_of_turn, "end-of-turn", false);

    bool add_bos = defaults.add_bos;
    if (tmpl.found)
        add_bos = tmpl.before.has_value();
    if (const auto* v = config.if_contains("add_bos_token"); v != nullptr && v->is_bool())
        add_bos = v->get_bool();
    tok->set_special_tokens(std::move(specials), add_bos);
    tok->set_chat_format(defaults.chat);
    return tok;
}

}  // namespace fairseq2::tokenizers

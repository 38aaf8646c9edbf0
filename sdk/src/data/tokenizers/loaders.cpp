// Telling tokenizer files apart, and the tiktoken and character tokenizers.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "bpe_tokenizer.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "file_reading.hpp"
#include "special_tokens.hpp"
#include "utf8.hpp"

namespace fairseq2::tokenizers {

namespace detail {

std::string read_file(const std::filesystem::path& file)
{
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        throw TokenizerError(file.string() + ": expected a tokenizer file, found a directory.");
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw TokenizerError(file.string() + ": the tokenizer file cannot be opened (" + std::strerror(errno) + ").");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad())
        throw TokenizerError(file.string() + ": the tokenizer file cannot be read.");
    return std::move(buffer).str();
}

boost::json::value read_json(const std::filesystem::path& file)
{
    std::string text = read_file(file);
    boost::system::error_code ec;
    boost::json::parse_options options;
    options.max_depth = 64;
    boost::json::value v = boost::json::parse(text, ec, {}, options);
    if (ec)
        throw TokenizerError(file.string() + ": the file is not valid JSON (" + ec.message() + ").");
    return v;
}

}  // namespace detail

namespace {

bool is_base64(char c) noexcept
{
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/' || c == '=';
}

// "<base64> <rank>", the line of a tiktoken rank file.
bool is_tiktoken_line(std::string_view line) noexcept
{
    auto space = line.find(' ');
    if (space == 0 || space == std::string_view::npos || space + 1 == line.size())
        return false;
    if (!std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(space), is_base64))
        return false;
    return std::all_of(line.begin() + static_cast<std::ptrdiff_t>(space) + 1, line.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

bool decode_base64(std::string_view in, std::string& out)
{
    out.clear();
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return false;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return !out.empty();
}

std::vector<std::string_view> lines_of(std::string_view text)
{
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        lines.push_back(line);
        start = end + 1;
    }
    return lines;
}

// The character tokenizer: one id per code point.
class CharTokenizer final : public Tokenizer {
public:
    std::vector<std::string> symbols;
    std::unordered_map<std::string, std::int64_t> ids;
    std::size_t specials = 0;
    std::string file;

    std::string decode(std::span<const std::int64_t> in, bool skip_special) const override
    {
        std::string out;
        for (std::int64_t id : in) {
            check_id(id);
            if (skip_special && static_cast<std::size_t>(id) < specials)
                continue;
            out += symbols[static_cast<std::size_t>(id)];
        }
        return out;
    }
    std::optional<std::int64_t> token_to_id(std::string_view token) const override
    {
        auto it = ids.find(std::string(token));
        return it == ids.end() ? std::nullopt : std::optional<std::int64_t>(it->second);
    }
    std::optional<std::string> id_to_token(std::int64_t id) const override
    {
        if (id < 0 || id >= vocab_size())
            return std::nullopt;
        return symbols[static_cast<std::size_t>(id)];
    }
    std::int64_t vocab_size() const override { return static_cast<std::int64_t>(symbols.size()); }
    std::string_view implementation() const override { return "char"; }

protected:
    std::vector<std::int64_t> encode_text(std::string_view text) const override
    {
        std::vector<std::int64_t> out;
        const std::int64_t unk = special_tokens().unk ? special_tokens().unk->id : -1;
        std::size_t i = 0;
        std::string key;
        while (i < text.size()) {
            std::size_t n = detail::utf8_sequence_length(text, i);
            key.assign(text.substr(i, n));
            auto it = ids.find(key);
            if (it != ids.end())
                out.push_back(it->second);
            else if (unk >= 0)
                out.push_back(unk);
            else
                throw TokenizerError("The character '" + key + "' at byte offset " + std::to_string(i) +
                                     " is not in the vocabulary of the char tokenizer, which has no unknown token.");
            i += n;
        }
        return out;
    }
};

SpecialTokens roles_from_defaults(const Tokenizer& tok, const TokenizerDefaults& d, const std::string& file)
{
    SpecialTokens s;
    s.bos = detail::find_special(tok, d.bos, file, "BOS", true);
    s.eos = detail::find_special(tok, d.eos, file, "EOS", true);
    s.pad = detail::find_special(tok, d.pad, file, "pad", true);
    s.unk = detail::find_special(tok, d.unk, file, "unknown", true);
    s.end_of_turn = detail::find_special(tok, d.end_of_turn, file, "end-of-turn", false);
    return s;
}

}  // namespace

std::string_view tokenizer_format_name(TokenizerFormat format)
{
    switch (format) {
    case TokenizerFormat::sentencepiece:
        return "SentencePiece model";
    case TokenizerFormat::tokenizer_json:
        return "Hugging Face tokenizer.json";
    case TokenizerFormat::tiktoken:
        return "tiktoken rank file";
    case TokenizerFormat::char_vocab:
        return "character vocabulary";
    }
    return "tokenizer";
}

bool has_tokenizer_file(const std::filesystem::path& directory)
{
    std::error_code ec;
    return std::filesystem::is_regular_file(directory / "tokenizer.json", ec) ||
           std::filesystem::is_regular_file(directory / "tokenizer.model", ec);
}

std::filesystem::path find_tokenizer_file(const std::filesystem::path& path)
{
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw TokenizerError(path.string() + ": the tokenizer cannot be found: there is no such file or directory.");
    if (!std::filesystem::is_directory(path, ec))
        return path;
    for (const char* name : {"tokenizer.json", "tokenizer.model"})
        if (std::filesystem::is_regular_file(path / name, ec))
            return path / name;
    throw TokenizerError(path.string() + ": the directory has no tokenizer: expected a tokenizer.json or a tokenizer.model in it.");
}

TokenizerFormat detect_tokenizer_format(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw TokenizerError(file.string() + ": the tokenizer file cannot be opened (" + std::strerror(errno) + ").");
    std::string head(64 * 1024, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    if (head.empty())
        throw TokenizerError(file.string() + ": the tokenizer file is empty.");

    std::size_t first = head.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && head[first] == '{')
        return TokenizerFormat::tokenizer_json;

    // Whole lines only: the last one may be cut by the 64 KiB window.
    std::string_view text(head);
    if (head.size() == 64 * 1024) {
        auto nl = text.rfind('\n');
        text = nl == std::string_view::npos ? std::string_view() : text.substr(0, nl);
    }
    auto lines = lines_of(text);
    if (!lines.empty() && std::all_of(lines.begin(), lines.end(), is_tiktoken_line))
        return TokenizerFormat::tiktoken;
    if (!lines.empty() && !find_invalid_utf8(text) && std::all_of(lines.begin(), lines.end(), [](std::string_view l) {
            return !l.empty() && detail::utf8_sequence_length(l, 0) == l.size();
        }))
        return TokenizerFormat::char_vocab;

    // A SentencePiece ModelProto starts with its pieces: field 1, length-delimited.
    if (static_cast<unsigned char>(head[0]) == 0x0A)
        return TokenizerFormat::sentencepiece;

    throw TokenizerError(file.string() +
                         ": the file is not a tokenizer: expected a SentencePiece model, a Hugging Face tokenizer.json, a tiktoken "
                         "rank file or a character vocabulary, found none of them (first byte 0x" +
                         [&] {
                             char hex[4];
                             std::snprintf(hex, sizeof hex, "%02X", static_cast<unsigned char>(head[0]));
                             return std::string(hex);
                         }() +
                         ").");
}

std::shared_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path, const TokenizerDefaults& defaults)
{
    std::filesystem::path file = find_tokenizer_file(path);
    switch (detect_tokenizer_format(file)) {
    case TokenizerFormat::sentencepiece:
        return load_sentencepiece_tokenizer(file, defaults);
    case TokenizerFormat::tokenizer_json:
        return load_hf_tokenizer(file, defaults);
    case TokenizerFormat::tiktoken:
        return load_tiktoken_tokenizer(file, defaults);
    case TokenizerFormat::char_vocab:
        return load_char_tokenizer(file, defaults);
    }
    throw TokenizerError(file.string() + ": unknown tokenizer format.");
}

std::shared_ptr<Tokenizer> load_tiktoken_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults)
{
    std::string name = file.string();
    if (defaults.split_regex.empty())
        throw TokenizerError(name + ": a tiktoken rank file needs its family's split regex, and no family gave one (name the family, "
                                    "e.g. --tokenizer-family llama).");
    std::string text = detail::read_file(file);
    auto tok = std::make_shared<detail::BpeTokenizer>();
    tok->implementation_name = "tiktoken";
    tok->file = name;
    tok->byte_level_names = false;
    tok->ignore_merges = true;  // a word that is a token is that token
    std::string bytes;
    std::int32_t next = 0;
    std::size_t number = 0;
    for (std::string_view line : lines_of(text)) {
        ++number;
        if (line.empty())
            continue;
        auto space = line.find(' ');
        if (!is_tiktoken_line(line) || !decode_base64(line.substr(0, space), bytes))
            throw TokenizerError(name + ", line " + std::to_string(number) + ": expected '<base64 token> <rank>', found '" +
                                 std::string(line.substr(0, 60)) + "'.");
        long long rank = std::stoll(std::string(line.substr(space + 1)));
        if (rank > INT32_MAX - 1024)
            throw TokenizerError(name + ", line " + std::to_string(number) + ": the rank " + std::to_string(rank) + " is too large.");
        if (!tok->bytes_to_id.emplace(bytes, static_cast<std::int32_t>(rank)).second)
            throw TokenizerError(name + ", line " + std::to_string(number) + ": the token is listed twice.");
        next = std::max(next, static_cast<std::int32_t>(rank) + 1);
    }
    // tiktoken merges the adjacent pair whose concatenation has the lowest
    // rank: every split of a token into two tokens is such a pair.
    for (const auto& [token, id] : tok->bytes_to_id) {
        for (std::size_t k = 1; k < token.size(); ++k) {
            auto left = tok->bytes_to_id.find(std::string_view(token).substr(0, k));
            if (left == tok->bytes_to_id.end())
                continue;
            auto right = tok->bytes_to_id.find(std::string_view(token).substr(k));
            if (right == tok->bytes_to_id.end())
                continue;
            tok->merges.emplace(detail::BpeTokenizer::pair_key(left->second, right->second), detail::BpeTokenizer::Merge{id, id});
        }
    }
    for (const auto& special : defaults.special_tokens) {
        detail::AddedToken t;
        t.content = special;
        t.id = next++;
        t.special = true;
        tok->added.add(std::move(t));
    }
    tok->splitters.push_back(std::make_unique<detail::RegexSplitter>(defaults.split_regex, name));
    tok->finish(name);
    tok->set_special_tokens(roles_from_defaults(*tok, defaults, name), defaults.add_bos);
    tok->set_chat_format(defaults.chat);
    return tok;
}

std::shared_ptr<Tokenizer> make_char_tokenizer(const std::vector<std::string>& symbols, const TokenizerDefaults& defaults)
{
    auto tok = std::make_shared<CharTokenizer>();
    auto add = [&](const std::string& s) {
        if (tok->ids.emplace(s, static_cast<std::int64_t>(tok->symbols.size())).second)
            tok->symbols.push_back(s);
    };
    for (const auto& s : defaults.char_specials)
        add(s);
    tok->specials = tok->symbols.size();
    for (const auto& s : symbols) {
        if (s.empty() || find_invalid_utf8(s) || detail::utf8_sequence_length(s, 0) != s.size())
            throw InvalidArgumentError("The symbol '" + s + "' of a character tokenizer must be one code point of valid UTF-8.");
        add(s);
    }
    TokenizerDefaults d = defaults;
    auto pick = [&](std::optional<std::string>& field, const char* text) {
        if (!field && tok->ids.count(text) != 0)
            field = text;
    };
    pick(d.bos, "<s>");
    pick(d.pad, "<pad>");
    pick(d.eos, "</s>");
    pick(d.unk, "<unk>");
    tok->set_special_tokens(roles_from_defaults(*tok, d, "char tokenizer"), d.add_bos);
    tok->set_chat_format(d.chat);
    return tok;
}

std::shared_ptr<Tokenizer> load_char_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults)
{
    std::string text = detail::read_file(file);
    if (auto bad = find_invalid_utf8(text))
        throw TokenizerError(file.string() + ": the character vocabulary is not valid UTF-8 at byte offset " + std::to_string(*bad) + ".");
    std::vector<std::string> symbols;
    std::size_t number = 0;
    for (std::string_view line : lines_of(text)) {
        ++number;
        if (line.empty())
            continue;
        if (detail::utf8_sequence_length(line, 0) != line.size())
            throw TokenizerError(file.string() + ", line " + std::to_string(number) + ": expected one character, found '" +
                                 std::string(line) + "'.");
        symbols.emplace_back(line);
    }
    return make_char_tokenizer(symbols, defaults);
}

}  // namespace fairseq2::tokenizers

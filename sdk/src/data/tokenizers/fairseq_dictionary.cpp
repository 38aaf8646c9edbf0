// fairseq (v1) dictionaries (fairseq/data/dictionary.py): the symbol table
// of fairseq's translation models.

#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::tokenizers {

namespace {

constexpr const char* overwrite_flag = "#fairseq:overwrite";

class FairseqDictionary final : public Tokenizer {
public:
    std::vector<std::string> symbols;
    std::unordered_map<std::string, std::int64_t> ids;
    std::string name;

    std::string decode(std::span<const std::int64_t> in, bool skip_special) const override
    {
        std::string out;
        for (const std::int64_t id : in) {
            check_id(id);
            // <s>, <pad> and </s> are left out; <unk> stays visible.
            if (skip_special && id <= 2)
                continue;
            if (!out.empty())
                out += ' ';
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

    std::string_view implementation() const override { return name; }

    std::int64_t add(std::string symbol)
    {
        const auto id = static_cast<std::int64_t>(symbols.size());
        ids.emplace(symbol, id);
        symbols.push_back(std::move(symbol));
        return id;
    }

protected:
    std::vector<std::int64_t> encode_text(std::string_view text) const override
    {
        std::vector<std::int64_t> out;
        std::size_t i = 0;
        while (i < text.size()) {
            while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
                ++i;
            std::size_t end = i;
            while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])))
                ++end;
            if (end > i) {
                auto it = ids.find(std::string(text.substr(i, end - i)));
                out.push_back(it == ids.end() ? 3 : it->second);
            }
            i = end;
        }
        return out;
    }
};

[[noreturn]] void fail(const std::filesystem::path& file, std::size_t line, const std::string& reason)
{
    throw TokenizerError("The fairseq dictionary '" + file.string() + "' is invalid at line " + std::to_string(line) + ": " + reason);
}

}  // namespace

std::shared_ptr<Tokenizer> load_fairseq_dictionary(const std::filesystem::path& file, std::int64_t pad_to_multiple)
{
    if (pad_to_multiple < 1)
        throw InvalidArgumentError("A fairseq dictionary's padding multiple must be positive, but is " + std::to_string(pad_to_multiple) + ".");
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw TokenizerError("The fairseq dictionary '" + file.string() + "' cannot be read" +
                             (std::filesystem::exists(file) ? "." : ": it does not exist."));
    auto dict = std::make_shared<FairseqDictionary>();
    dict->name = "fairseq dictionary " + file.string();
    for (const char* special : {"<s>", "<pad>", "</s>", "<unk>"})
        dict->add(special);

    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        check_utf8(line);
        std::string_view rest = line;
        bool overwrite = false;
        if (rest.size() > std::char_traits<char>::length(overwrite_flag) && rest.ends_with(overwrite_flag)) {
            overwrite = true;
            rest.remove_suffix(std::char_traits<char>::length(overwrite_flag));
            while (!rest.empty() && rest.back() == ' ')
                rest.remove_suffix(1);
        }
        const std::size_t space = rest.rfind(' ');
        if (space == std::string_view::npos || space == 0)
            fail(file, number, "expected 'SYMBOL COUNT' (fairseq's '<token> <cnt> [flags]'), found '" + line.substr(0, 80) + "'.");
        const std::string_view count = rest.substr(space + 1);
        long long value = 0;
        const auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), value);
        if (error != std::errc() || end != count.data() + count.size() || count.empty())
            fail(file, number, "the count '" + std::string(count.substr(0, 40)) + "' is not an integer.");
        std::string symbol(rest.substr(0, space));
        if (auto it = dict->ids.find(symbol); it != dict->ids.end()) {
            if (!overwrite)
                fail(file, number, "the symbol '" + symbol + "' is already in the dictionary (id " + std::to_string(it->second) +
                                       "); fairseq refuses duplicates unless the line ends with '#fairseq:overwrite'.");
            continue;  // the entry keeps its id, as fairseq's add_symbol(overwrite=True)
        }
        dict->add(std::move(symbol));
    }
    for (std::int64_t i = 0; dict->vocab_size() % pad_to_multiple != 0; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "madeupword%04lld", static_cast<long long>(i));
        dict->add(name);
    }

    SpecialTokens specials;
    specials.bos = SpecialToken{"<s>", 0};
    specials.pad = SpecialToken{"<pad>", 1};
    specials.eos = SpecialToken{"</s>", 2};
    specials.unk = SpecialToken{"<unk>", 3};
    dict->set_special_tokens(std::move(specials), /*add_bos=*/false);
    return dict;
}

}  // namespace fairseq2::tokenizers

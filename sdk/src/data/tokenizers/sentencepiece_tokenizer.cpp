// SentencePiece models through libsentencepiece (Llama 1/2, Mistral, NLLB),
// reached through libfairseq2_sentencepiece (see sentencepiece_shim.cpp for
// why it is loaded apart).

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "file_reading.hpp"
#include "special_tokens.hpp"

namespace fairseq2::tokenizers {

namespace {

struct SentencePieceApi {
    void* (*create)(const char*, std::size_t, char**) = nullptr;
    void (*destroy)(void*) = nullptr;
    void (*free)(void*) = nullptr;
    int (*piece_size)(const void*) = nullptr;
    int (*special_id)(const void*, int) = nullptr;
    int (*piece_kind)(const void*, int) = nullptr;
    int (*piece_to_id)(const void*, const char*, std::size_t) = nullptr;
    const char* (*id_to_piece)(const void*, int, std::size_t*) = nullptr;
    int (*encode)(const void*, const char*, std::size_t, int**, std::size_t*, char**) = nullptr;
    int (*decode)(const void*, const int*, std::size_t, char**, std::size_t*, char**) = nullptr;
};

constexpr const char* shim_name = "libfairseq2_sentencepiece.so";

// Next to libfairseq2_sdk (the build's and the install's lib folder), else
// wherever the dynamic linker finds it.
const SentencePieceApi& api()
{
    static std::once_flag once;
    static SentencePieceApi table;
    static std::string failure;
    std::call_once(once, [] {
        Dl_info info{};
        std::string candidates[2];
        if (dladdr(reinterpret_cast<void*>(&api), &info) != 0 && info.dli_fname != nullptr) {
            std::filesystem::path self(info.dli_fname);
            candidates[0] = (self.parent_path() / shim_name).string();
        }
        candidates[1] = shim_name;
        void* handle = nullptr;
        std::string errors;
        for (const auto& c : candidates) {
            if (c.empty())
                continue;
            int flags = RTLD_NOW | RTLD_LOCAL;
#if defined(RTLD_DEEPBIND) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
            flags |= RTLD_DEEPBIND;
#endif
            handle = dlopen(c.c_str(), flags);
            if (handle != nullptr)
                break;
            const char* e = dlerror();
            errors += (errors.empty() ? "" : "; ") + std::string(e != nullptr ? e : c);
        }
        if (handle == nullptr) {
            failure = "SentencePiece support cannot be loaded: " + errors + ".";
            return;
        }
        auto sym = [&](const char* name) {
            void* p = dlsym(handle, name);
            if (p == nullptr && failure.empty())
                failure = std::string("SentencePiece support is incomplete: ") + shim_name + " lacks '" + name + "'.";
            return p;
        };
        table.create = reinterpret_cast<decltype(table.create)>(sym("fairseq2_sp_create"));
        table.destroy = reinterpret_cast<decltype(table.destroy)>(sym("fairseq2_sp_destroy"));
        table.free = reinterpret_cast<decltype(table.free)>(sym("fairseq2_sp_free"));
        table.piece_size = reinterpret_cast<decltype(table.piece_size)>(sym("fairseq2_sp_piece_size"));
        table.special_id = reinterpret_cast<decltype(table.special_id)>(sym("fairseq2_sp_special_id"));
        table.piece_kind = reinterpret_cast<decltype(table.piece_kind)>(sym("fairseq2_sp_piece_kind"));
        table.piece_to_id = reinterpret_cast<decltype(table.piece_to_id)>(sym("fairseq2_sp_piece_to_id"));
        table.id_to_piece = reinterpret_cast<decltype(table.id_to_piece)>(sym("fairseq2_sp_id_to_piece"));
        table.encode = reinterpret_cast<decltype(table.encode)>(sym("fairseq2_sp_encode"));
        table.decode = reinterpret_cast<decltype(table.decode)>(sym("fairseq2_sp_decode"));
        // The library stays loaded for the life of the process.
    });
    if (!failure.empty())
        throw TokenizerError(failure);
    return table;
}

std::string take_error(const SentencePieceApi& sp, char* error)
{
    std::string message = error != nullptr ? error : "unknown error";
    sp.free(error);
    return message;
}

constexpr int kind_control = 1;
constexpr int kind_unknown = 2;

class SentencePieceTokenizer final : public Tokenizer {
public:
    SentencePieceTokenizer(const std::filesystem::path& file, const std::string& bytes) : api_{api()}, file_{file.string()}
    {
        char* error = nullptr;
        handle_ = api_.create(bytes.data(), bytes.size(), &error);
        if (handle_ == nullptr)
            throw TokenizerError(file_ + ": the file is not a SentencePiece model: " + take_error(api_, error) + ".");
        size_ = api_.piece_size(handle_);
    }
    SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
    SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;
    ~SentencePieceTokenizer() override { api_.destroy(handle_); }

    int special_id(int which) const { return api_.special_id(handle_, which); }

    std::string decode(std::span<const std::int64_t> ids, bool skip_special) const override
    {
        std::string out;
        std::vector<int> pieces;
        pieces.reserve(ids.size());
        for (std::int64_t id : ids) {
            check_id(id);
            auto i = static_cast<int>(id);
            // SentencePiece drops control pieces itself; without
            // skip_special they are kept as their text.
            if ((api_.piece_kind(handle_, i) & kind_control) != 0) {
                if (skip_special)
                    continue;
                flush(pieces, out);
                out += piece(i);
                continue;
            }
            pieces.push_back(i);
        }
        flush(pieces, out);
        return out;
    }

    std::optional<std::int64_t> token_to_id(std::string_view token) const override
    {
        int id = api_.piece_to_id(handle_, token.data(), token.size());
        if ((api_.piece_kind(handle_, id) & kind_unknown) != 0 && piece(id) != token)
            return std::nullopt;
        return id;
    }

    std::optional<std::string> id_to_token(std::int64_t id) const override
    {
        if (id < 0 || id >= vocab_size())
            return std::nullopt;
        return piece(static_cast<int>(id));
    }

    std::int64_t vocab_size() const override { return size_; }
    std::string_view implementation() const override { return "sentencepiece"; }

protected:
    std::vector<std::int64_t> encode_text(std::string_view text) const override
    {
        int* ids = nullptr;
        std::size_t count = 0;
        char* error = nullptr;
        if (api_.encode(handle_, text.data(), text.size(), &ids, &count, &error) != 0)
            throw TokenizerError(file_ + ": SentencePiece cannot encode the text: " + take_error(api_, error) + ".");
        std::vector<std::int64_t> out(ids, ids + count);
        api_.free(ids);
        return out;
    }

private:
    std::string piece(int id) const
    {
        std::size_t length = 0;
        const char* p = api_.id_to_piece(handle_, id, &length);
        return std::string(p, length);
    }

    void flush(std::vector<int>& pieces, std::string& out) const
    {
        if (pieces.empty())
            return;
        char* text = nullptr;
        std::size_t length = 0;
        char* error = nullptr;
        if (api_.decode(handle_, pieces.data(), pieces.size(), &text, &length, &error) != 0)
            throw TokenizerError(file_ + ": SentencePiece cannot decode the ids: " + take_error(api_, error) + ".");
        out.append(text, length);
        api_.free(text);
        pieces.clear();
    }

    const SentencePieceApi& api_;
    std::string file_;
    void* handle_ = nullptr;
    std::int64_t size_ = 0;
};

}  // namespace

std::shared_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& file, const TokenizerDefaults& defaults)
{
    auto tok = std::make_shared<SentencePieceTokenizer>(file, detail::read_file(file));
    const std::int64_t size = tok->vocab_size();
    auto by_id = [&](int id) -> std::optional<SpecialToken> {
        if (id < 0 || id >= size)
            return std::nullopt;
        return SpecialToken{*tok->id_to_token(id), id};
    };
    auto by_text = [&](const std::optional<std::string>& text, const char* role, bool required) {
        return detail::find_special(*tok, text, file.string(), role, required);
    };
    // The model's own ids first, the family's tokens where it has none.
    SpecialTokens s;
    s.bos = tok->special_id(0) >= 0 ? by_id(tok->special_id(0)) : by_text(defaults.bos, "BOS", true);
    s.eos = tok->special_id(1) >= 0 ? by_id(tok->special_id(1)) : by_text(defaults.eos, "EOS", true);
    s.pad = tok->special_id(2) >= 0 ? by_id(tok->special_id(2)) : by_text(defaults.pad, "pad", true);
    s.unk = tok->special_id(3) >= 0 ? by_id(tok->special_id(3)) : by_text(defaults.unk, "unknown", true);
    s.end_of_turn = by_text(defaults.end_of_turn, "end-of-turn", false);
    tok->set_special_tokens(std::move(s), defaults.add_bos);
    tok->set_chat_format(defaults.chat);
    return tok;
}

}  // namespace fairseq2::tokenizers

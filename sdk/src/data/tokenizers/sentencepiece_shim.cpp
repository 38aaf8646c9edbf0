// libfairseq2_sentencepiece: a C interface over libsentencepiece, which the
// SDK loads with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) when a SentencePiece
// model is first read.
//
// Why a separate library: Debian's libsentencepiece carries its own copy of
// protobuf-lite and exports those symbols, and LibTorch loads the full
// libprotobuf of another version. Linked into one process together, the two
// copies bind to each other's symbols and the process crashes while
// initialising. Loaded locally and bound deep, libsentencepiece keeps to its
// own copy and nothing of it enters the global scope.

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

char* copy_string(const std::string& s, std::size_t* length)
{
    char* out = static_cast<char*>(std::malloc(s.size() + 1));
    if (out == nullptr)
        return nullptr;
    std::memcpy(out, s.data(), s.size());
    out[s.size()] = '\0';
    if (length != nullptr)
        *length = s.size();
    return out;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* fairseq2_sp_create(const char* data, std::size_t size, char** error)
{
    try {
        auto* sp = new sentencepiece::SentencePieceProcessor();
        auto status = sp->LoadFromSerializedProto(std::string_view(data, size));
        if (!status.ok()) {
            *error = copy_string(status.ToString(), nullptr);
            delete sp;
            return nullptr;
        }
        return sp;
    } catch (const std::exception& e) {
        *error = copy_string(e.what(), nullptr);
        return nullptr;
    }
}

__attribute__((visibility("default"))) void fairseq2_sp_destroy(void* sp)
{
    delete static_cast<sentencepiece::SentencePieceProcessor*>(sp);
}

__attribute__((visibility("default"))) void fairseq2_sp_free(void* p)
{
    std::free(p);
}

__attribute__((visibility("default"))) int fairseq2_sp_piece_size(const void* sp)
{
    return static_cast<const sentencepiece::SentencePieceProcessor*>(sp)->GetPieceSize();
}

// which: 0 BOS, 1 EOS, 2 pad, 3 unknown; -1 when the model has none.
__attribute__((visibility("default"))) int fairseq2_sp_special_id(const void* sp, int which)
{
    const auto* p = static_cast<const sentencepiece::SentencePieceProcessor*>(sp);
    switch (which) {
    case 0:
        return p->bos_id();
    case 1:
        return p->eos_id();
    case 2:
        return p->pad_id();
    default:
        return p->unk_id();
    }
}

// 1 control, 2 unknown, 4 byte; or'ed.
__attribute__((visibility("default"))) int fairseq2_sp_piece_kind(const void* sp, int id)
{
    const auto* p = static_cast<const sentencepiece::SentencePieceProcessor*>(sp);
    return (p->IsControl(id) ? 1 : 0) | (p->IsUnknown(id) ? 2 : 0) | (p->IsByte(id) ? 4 : 0);
}

__attribute__((visibility("default"))) int fairseq2_sp_piece_to_id(const void* sp, const char* piece, std::size_t length)
{
    return static_cast<const sentencepiece::SentencePieceProcessor*>(sp)->PieceToId(std::string_view(piece, length));
}

__attribute__((visibility("default"))) const char* fairseq2_sp_id_to_piece(const void* sp, int id, std::size_t* length)
{
    const std::string& piece = static_cast<const sentencepiece::SentencePieceProcessor*>(sp)->IdToPiece(id);
    *length = piece.size();
    return piece.data();
}

// Returns 0 and a malloc'ed array in *ids, or -1 and a malloc'ed message in *error.
__attribute__((visibility("default"))) int fairseq2_sp_encode(const void* sp, const char* text, std::size_t length, int** ids,
                                                              std::size_t* count, char** error)
{
    try {
        std::vector<int> out;
        auto status = static_cast<const sentencepiece::SentencePieceProcessor*>(sp)->Encode(std::string_view(text, length), &out);
        if (!status.ok()) {
            *error = copy_string(status.ToString(), nullptr);
            return -1;
        }
        *ids = static_cast<int*>(std::malloc((out.size() + 1) * sizeof(int)));
        if (*ids == nullptr) {
            *error = copy_string("out of memory", nullptr);
            return -1;
        }
        std::memcpy(*ids, out.data(), out.size() * sizeof(int));
        *count = out.size();
        return 0;
    } catch (const std::exception& e) {
        *error = copy_string(e.what(), nullptr);
        return -1;
    }
}

__attribute__((visibility("default"))) int fairseq2_sp_decode(const void* sp, const int* ids, std::size_t count, char** text,
                                                              std::size_t* length, char** error)
{
    try {
        std::string out;
        auto status =
            static_cast<const sentencepiece::SentencePieceProcessor*>(sp)->Decode(std::vector<int>(ids, ids + count), &out);
        if (!status.ok()) {
            *error = copy_string(status.ToString(), nullptr);
            return -1;
        }
        *text = copy_string(out, length);
        return 0;
    } catch (const std::exception& e) {
        *error = copy_string(e.what(), nullptr);
        return -1;
    }
}

}  // extern "C"

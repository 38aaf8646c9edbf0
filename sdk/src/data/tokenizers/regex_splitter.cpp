#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex_splitter.hpp"

#include <pcre2.h>

#include "fairseq2/data/tokenizers/tokenizer.hpp"

namespace fairseq2::tokenizers::detail {

namespace {

std::string pcre2_message(int code)
{
    PCRE2_UCHAR buffer[256];
    int n = pcre2_get_error_message(code, buffer, sizeof buffer);
    return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<const char*>(buffer));
}

}  // namespace

RegexSplitter::RegexSplitter(const std::string& pattern, const std::string& where) : pattern_{pattern}
{
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &error, &offset,
                               nullptr);
    if (code == nullptr)
        throw TokenizerError(where + ": the split regex '" + pattern + "' does not compile at offset " + std::to_string(offset) + ": " +
                             pcre2_message(error) + ".");
    code_ = code;
    // Without JIT support (some architectures) the interpreter runs it.
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter()
{
    pcre2_code_free(static_cast<pcre2_code*>(code_));
}

std::size_t RegexSplitter::next_char(std::string_view text, std::size_t i) noexcept
{
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80)
        ++i;
    return i;
}

namespace {

// One pair of offsets per thread, freed when the thread ends.
struct ThreadMatchData {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    ~ThreadMatchData() { pcre2_match_data_free(data); }
};

// A match with a JIT stack of 8 MiB, for the rare match the default stack cannot hold.
int match_with_large_stack(const pcre2_code* code, PCRE2_SPTR subject, std::size_t length, std::size_t start, pcre2_match_data* md)
{
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context == nullptr || stack == nullptr) {
        pcre2_jit_stack_free(stack);
        pcre2_match_context_free(context);
        throw std::bad_alloc();
    }
    pcre2_jit_stack_assign(context, nullptr, stack);
    int rc = pcre2_jit_match(code, subject, length, start, PCRE2_NO_UTF_CHECK, md, context);
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    return rc;
}

}  // namespace

bool RegexSplitter::Matcher::next(std::string_view text, std::size_t start, std::size_t& begin, std::size_t& end)
{
    thread_local ThreadMatchData thread_data;
    if (thread_data.data == nullptr)
        throw std::bad_alloc();
    auto* code = static_cast<pcre2_code*>(splitter_.code_);
    pcre2_match_data* md = thread_data.data;
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    // The text was checked to be UTF-8 by Tokenizer::encode().
    int rc = splitter_.jit_ ? pcre2_jit_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr)
                            : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = match_with_large_stack(code, subject, text.size(), start, md);
    if (rc == PCRE2_ERROR_NOMATCH)
        return false;
    // 0: more groups than offsets, which is fine: only the whole match is read.
    if (rc < 0)
        throw TokenizerError("The split regex '" + splitter_.pattern_ + "' failed on the text at offset " + std::to_string(start) + ": " +
                             pcre2_message(rc) + ".");
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    begin = ov[0];
    end = ov[1];
    return true;
}

}  // namespace fairseq2::tokenizers::detail

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

RegexSplitter::Matcher::Matcher(const RegexSplitter& splitter) : splitter_{splitter}
{
    auto* code = static_cast<pcre2_code*>(splitter.code_);
    match_data_ = pcre2_match_data_create_from_pattern(code, nullptr);
    context_ = pcre2_match_context_create(nullptr);
    stack_ = nullptr;
    if (splitter.jit_) {
        // Long whitespace runs backtrack through `\s+(?!\S)`; give the JIT room.
        stack_ = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
        pcre2_jit_stack_assign(static_cast<pcre2_match_context*>(context_), nullptr, static_cast<pcre2_jit_stack*>(stack_));
    }
    if (match_data_ == nullptr || context_ == nullptr)
        throw std::bad_alloc();
}

RegexSplitter::Matcher::~Matcher()
{
    if (stack_ != nullptr)
        pcre2_jit_stack_free(static_cast<pcre2_jit_stack*>(stack_));
    pcre2_match_context_free(static_cast<pcre2_match_context*>(context_));
    pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
}

bool RegexSplitter::Matcher::next(std::string_view text, std::size_t start, std::size_t& begin, std::size_t& end)
{
    auto* code = static_cast<pcre2_code*>(splitter_.code_);
    auto* md = static_cast<pcre2_match_data*>(match_data_);
    auto* ctx = static_cast<pcre2_match_context*>(context_);
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    // The text was checked to be UTF-8 by Tokenizer::encode().
    int rc = splitter_.jit_ ? pcre2_jit_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, ctx)
                            : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, ctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return false;
    if (rc < 0)
        throw TokenizerError("The split regex '" + splitter_.pattern_ + "' failed on the text at offset " + std::to_string(start) + ": " +
                             pcre2_message(rc) + ".");
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    begin = ov[0];
    end = ov[1];
    return true;
}

}  // namespace fairseq2::tokenizers::detail

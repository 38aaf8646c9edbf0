#pragma once

// Splits text into pieces at the matches of a pre-tokenizer regex, keeping
// the matches and the text between them (Hugging Face's "Isolated"
// behaviour), with PCRE2 (Unicode properties, lookahead) compiled by its JIT.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fairseq2::tokenizers::detail {

class RegexSplitter {
public:
    // Throws TokenizerError quoting the pattern and PCRE2's message, prefixed
    // with `where` (the file and field).
    RegexSplitter(const std::string& pattern, const std::string& where);
    RegexSplitter(const RegexSplitter&) = delete;
    RegexSplitter& operator=(const RegexSplitter&) = delete;
    ~RegexSplitter();

    // Calls `piece(std::string_view)` for each piece of valid UTF-8 `text`, in order.
    template <typename F>
    void split(std::string_view text, F&& piece) const
    {
        Matcher m(*this);
        std::size_t last = 0;
        std::size_t start = 0;
        std::size_t begin = 0, end = 0;
        while (start < text.size() && m.next(text, start, begin, end)) {
            if (begin > last)
                piece(text.substr(last, begin - last));
            if (end > begin)
                piece(text.substr(begin, end - begin));
            last = end;
            start = end > begin ? end : next_char(text, begin);
        }
        if (last < text.size())
            piece(text.substr(last));
    }

    const std::string& pattern() const noexcept { return pattern_; }

private:
    // Match state: the calling thread's match data (one pair of offsets
    // serves every pattern, as only the whole match is read), so one
    // splitter serves several threads and a call allocates nothing. The
    // JIT runs on its default stack; a match that needs more (a long
    // backtracking run) is retried once with a large stack of its own.
    class Matcher {
    public:
        explicit Matcher(const RegexSplitter& splitter) : splitter_{splitter} {}
        // The next match at or after `start`; false when there is none.
        bool next(std::string_view text, std::size_t start, std::size_t& begin, std::size_t& end);

    private:
        const RegexSplitter& splitter_;
    };

    static std::size_t next_char(std::string_view text, std::size_t i) noexcept;

    std::string pattern_;
    void* code_ = nullptr;
    bool jit_ = false;
};

}  // namespace fairseq2::tokenizers::detail

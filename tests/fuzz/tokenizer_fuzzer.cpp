// libFuzzer target for the tokenizer files: the bytes are a tokenizer file
// of any format (tokenizer.json, tiktoken ranks, a character vocabulary,
// detected by content as load_tokenizer does). Loading either throws a
// fairseq2 Error or gives a tokenizer, which then encodes a few texts to ids
// inside its vocabulary and decodes them again. SentencePiece models are
// left out: they are parsed by libsentencepiece, which this build does not
// instrument.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "fairseq2/error.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    namespace tk = fairseq2::tokenizers;
    fairseq2::fuzz::InputFile file(data, size);
    std::shared_ptr<tk::Tokenizer> tokenizer;
    try {
        if (tk::detect_tokenizer_format(file.path()) == tk::TokenizerFormat::sentencepiece)
            return 0;
        tokenizer = tk::load_tokenizer(file.path());
    } catch (const fairseq2::Error&) {
        return 0;
    }
    const std::int64_t vocab_size = tokenizer->vocab_size();
    static const std::vector<std::string> texts = {
        "Hello, world!", " leading  and   runs\t\n", "naïve café 日本語 😀👍🏽", "x=1234567;<s></s><|end|>", ""};
    for (const std::string& text : texts) {
        try {
            for (tk::EncodeMode mode : {tk::EncodeMode::default_, tk::EncodeMode::as_is}) {
                std::vector<std::int64_t> ids = tokenizer->encode(text, mode);
                for (std::int64_t id : ids)
                    fairseq2::fuzz::require(id >= 0 && id < vocab_size);
                (void)tokenizer->decode(ids);
                (void)tokenizer->decode(ids, true);
            }
        } catch (const fairseq2::Error&) {
            // A pattern that fails to match (PCRE2's limits) is an error, not a crash.
        }
    }
    return 0;
}

#include "tokenizer.hpp"

#include <boost/json.hpp>

#include "config.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::models::qwen {

using namespace fairseq2::tokenizers;

std::string QwenTokenizerHandler::family() const
{
    return family_name;
}

boost::json::object QwenTokenizerHandler::default_config() const
{
    return {{"use_im_end", false}};
}

std::shared_ptr<Tokenizer> QwenTokenizerHandler::do_load(const std::filesystem::path& file, TokenizerFormat format,
                                                         const boost::json::object& config) const
{
    const bool use_im_end = config_flag(config, "use_im_end");
    if (format != TokenizerFormat::tokenizer_json)
        throw TokenizerError(file.string() + ": a qwen tokenizer is a Hugging Face tokenizer.json, not a " +
                             std::string(tokenizer_format_name(format)) + ".");
    // Where the files say nothing: no BOS, <|endoftext|> ends a text and
    // pads, <|im_end|> ends a turn.
    TokenizerDefaults d;
    d.add_bos = false;
    d.eos = "<|endoftext|>";
    d.pad = "<|endoftext|>";
    d.end_of_turn = "<|im_end|>";
    // One user turn of Qwen's ChatML template.
    d.chat.prefix = "<|im_start|>user\n";
    d.chat.suffix = "<|im_end|>\n<|im_start|>assistant\n";
    auto tok = load_hf_tokenizer(file, d);
    if (use_im_end) {
        tok->use_end_of_turn_as_eos("use_im_end");
    }
    return tok;
}

}  // namespace fairseq2::models::qwen

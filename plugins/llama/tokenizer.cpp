#include "tokenizer.hpp"

#include <boost/json.hpp>

#include "fairseq2/error.hpp"
#include "config.hpp"

namespace fairseq2::models::llama {

using namespace fairseq2::tokenizers;

const char* const llama3_split_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> llama3_special_tokens()
{
    std::vector<std::string> names = {"begin_of_text", "end_of_text", "reserved_special_token_0", "reserved_special_token_1",
                                      "finetune_right_pad_id", "step_id", "start_header_id", "end_header_id", "eom_id", "eot_id",
                                      "python_tag"};
    for (int i = 2; i <= 246; ++i)
        names.push_back("reserved_special_token_" + std::to_string(i));
    for (auto& n : names)
        n = "<|" + n + "|>";
    return names;
}

std::string LLaMATokenizerHandler::family() const
{
    return family_name;
}

boost::json::object LLaMATokenizerHandler::default_config() const
{
    return {{"use_eot", false}};
}

std::shared_ptr<Tokenizer> LLaMATokenizerHandler::do_load(const std::filesystem::path& file, TokenizerFormat format,
                                                          const boost::json::object& config) const
{
    const bool use_eot = config_flag(config, "use_eot");

    TokenizerDefaults d;
    d.add_bos = true;  // every llama tokenizer begins a sequence with BOS
    if (format == TokenizerFormat::sentencepiece) {
        // Llama 1 and 2: <s> and </s> come from the model itself.
        if (use_eot)
            throw ConfigError(file.string() + ": 'use_eot' is for Llama 3 tokenizers, but this is a SentencePiece model (Llama 1 or 2).");
        return load_sentencepiece_tokenizer(file, d);
    }
    // Llama 3.x: a tiktoken rank file (Meta's tokenizer.model) or tokenizer.json.
    d.bos = "<|begin_of_text|>";
    d.eos = "<|end_of_text|>";
    d.end_of_turn = "<|eot_id|>";
    d.split_regex = llama3_split_regex;
    d.special_tokens = llama3_special_tokens();
    // One user turn of Llama 3's instruct template (BOS is the first id).
    d.chat.prefix = "<|start_header_id|>user<|end_header_id|>\n\n";
    d.chat.suffix = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    d.chat.trim_message = true;
    std::shared_ptr<Tokenizer> tok;
    if (format == TokenizerFormat::tiktoken) {
        d.pad = "<|finetune_right_pad_id|>";
        tok = load_tiktoken_tokenizer(file, d);
    } else if (format == TokenizerFormat::tokenizer_json) {
        tok = load_hf_tokenizer(file, d);
    } else {
        throw TokenizerError(file.string() + ": a llama tokenizer is a SentencePiece model, a tiktoken rank file or a tokenizer.json, not a " +
                             std::string(tokenizer_format_name(format)) + ".");
    }
    if (use_eot) {
        tok->use_end_of_turn_as_eos("use_eot");
    }
    return tok;
}

}  // namespace fairseq2::models::llama

#include "tokenizer.hpp"

#include "config.hpp"

namespace fairseq2::models::mistral {

using namespace fairseq2::tokenizers;

std::string MistralTokenizerHandler::family() const
{
    return family_name;
}

std::shared_ptr<Tokenizer> MistralTokenizerHandler::do_load(const std::filesystem::path& file, TokenizerFormat format,
                                                            const boost::json::object&) const
{
    // <s>, </s> and <unk> come from the model; BOS starts every sequence.
    TokenizerDefaults d;
    d.add_bos = true;
    // One user turn of Mistral's instruct template (BOS is the first id).
    d.chat.prefix = "[INST] ";
    d.chat.suffix = " [/INST]";
    if (format == TokenizerFormat::sentencepiece)
        return load_sentencepiece_tokenizer(file, d);
    if (format == TokenizerFormat::tokenizer_json)
        return load_hf_tokenizer(file, d);
    throw TokenizerError(file.string() + ": a mistral tokenizer is a SentencePiece model, not a " + std::string(tokenizer_format_name(format)) +
                         ".");
}

}  // namespace fairseq2::models::mistral

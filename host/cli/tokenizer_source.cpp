#include "tokenizer_source.hpp"

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::cli {

namespace fs = std::filesystem;

void add_tokenizer_options(CLI::App& cmd, TokenizerSelection& selection)
{
    auto* model = cmd.add_option("--model", selection.model, "Asset card of a model: its tokenizer")->type_name("NAME");
    auto* checkpoint = cmd.add_option("--checkpoint", selection.checkpoint,
                                      "Hugging Face checkpoint directory (or a file in one): its tokenizer files, in the detected model family")
                           ->type_name("DIR");
    auto* tokenizer = cmd.add_option("--tokenizer", selection.tokenizer,
                                     "Tokenizer file (SentencePiece model, tokenizer.json, tiktoken rank file; told apart by content) or a "
                                     "directory holding one")
                          ->type_name("PATH");
    cmd.add_option("--tokenizer-family", selection.tokenizer_family,
                   "Tokenizer family whose defaults apply where the files say nothing (default: the model's family; none for --tokenizer)")
        ->type_name("FAMILY");
    model->excludes(checkpoint)->excludes(tokenizer);
    checkpoint->excludes(tokenizer);
}

tokenizers::LoadedTokenizer select_tokenizer(CliContext& context, const TokenizerSelection& s)
{
    int sources = !s.model.empty() + !s.checkpoint.empty() + !s.tokenizer.empty();
    if (sources != 1)
        throw InvalidArgumentError("Give the tokenizer: --model NAME (an asset card), --checkpoint DIR (its tokenizer files) or --tokenizer PATH.");
    return model_tokenizer(context, s.model, s.checkpoint, "", s.tokenizer, s.tokenizer_family);
}

tokenizers::LoadedTokenizer model_tokenizer(CliContext& context, const std::string& model, const std::string& checkpoint,
                                            const std::string& family, const std::string& tokenizer, const std::string& tokenizer_family)
{
    auto& hub = context.tokenizer_hub();
    if (!tokenizer.empty())
        return hub.load_from_path(tokenizer, tokenizer_family.empty() ? family : tokenizer_family);
    if (!model.empty() && checkpoint.empty()) {
        if (!tokenizer_family.empty())
            throw InvalidArgumentError("--tokenizer-family applies to --tokenizer or --checkpoint; a card names its own tokenizer family.");
        return hub.load(model);
    }
    if (!model.empty()) {
        // A card's model with another checkpoint: the card's tokenizer.
        return hub.load(model);
    }
    // A checkpoint directory supplies its own tokenizer files.
    fs::path directory = checkpoint::checkpoint_directory(checkpoint);
    if (!tokenizers::has_tokenizer_file(directory))
        throw tokenizers::TokenizerError("The checkpoint folder '" + directory.string() +
                                         "' has no tokenizer.json or tokenizer.model; give the tokenizer with --tokenizer PATH.");
    std::string f = tokenizer_family;
    if (f.empty())
        f = family.empty() ? context.hub().detect_family(checkpoint) : family;
    return hub.load_from_path(directory, f);
}

}  // namespace fairseq2::cli

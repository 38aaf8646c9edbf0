// `fairseq2 tokenize` and `fairseq2 detokenize`: text to token ids and back
// with a model's tokenizer or a tokenizer file.

#include <iostream>
#include <iterator>
#include <sstream>

#include <boost/json.hpp>

#include "cli_context.hpp"
#include "fairseq2/data/tokenizers/tokenizer.hpp"
#include "fairseq2/error.hpp"
#include "json_output.hpp"
#include "token_ids.hpp"
#include "tokenizer_source.hpp"

namespace fairseq2::cli {

namespace {

struct TokenizeArgs {
    TokenizerSelection source;
    std::string mode = "default";
    bool json = false;
    bool skip_special = false;
    std::optional<std::string> text;
};

std::string read_stdin()
{
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    return std::move(buffer).str();
}

int run_tokenize(CliContext& context, const TokenizeArgs& args)
{
    auto mode = tokenizers::parse_encode_mode(args.mode);
    if (!mode)
        throw InvalidArgumentError("--mode: '" + args.mode + "' is not an encode mode; use default, prompt, prompt_response or as_is.");
    auto loaded = select_tokenizer(context, args.source);
    const std::string text = args.text ? *args.text : read_stdin();
    std::vector<std::int64_t> ids = loaded.tokenizer->encode(text, *mode);
    if (args.json) {
        boost::json::array array(ids.begin(), ids.end());
        boost::json::object object{{"ids", std::move(array)},
                                   {"count", ids.size()},
                                   {"mode", std::string(tokenizers::encode_mode_name(*mode))},
                                   {"tokenizer", loaded.file.string()},
                                   {"family", loaded.family}};
        std::cout << compact_json(object) << "\n";
    } else {
        for (std::size_t i = 0; i < ids.size(); ++i)
            std::cout << (i == 0 ? "" : " ") << ids[i];
        std::cout << "\n";
    }
    return 0;
}

int run_detokenize(CliContext& context, const TokenizeArgs& args)
{
    auto loaded = select_tokenizer(context, args.source);
    std::vector<std::int64_t> ids = parse_token_ids(args.text ? *args.text : read_stdin(), "detokenize");
    std::string text = loaded.tokenizer->decode(ids, args.skip_special);
    if (args.json)
        std::cout << compact_json(boost::json::object{{"text", text}}) << "\n";
    else
        std::cout << text << "\n";
    return 0;
}

}  // namespace

void add_tokenize_commands(CLI::App& app, CliContext& context, int& exit_code)
{
    auto args = std::make_shared<TokenizeArgs>();
    auto* tokenize = app.add_subcommand("tokenize", "Print the token ids of a text (or of standard input, byte for byte)");
    add_tokenizer_options(*tokenize, args->source);
    tokenize->add_option("--mode", args->mode, "default (BOS text EOS, as the tokenizer adds them), prompt, prompt_response or as_is");
    tokenize->add_flag("--json", args->json, "Print one JSON object: ids, count, mode, tokenizer file and family");
    tokenize->add_option("text", args->text, "The text (use -- before a text that starts with a dash)");
    tokenize->callback([&context, &exit_code, args] {
        context.apply_globals();
        exit_code = run_tokenize(context, *args);
    });

    auto dargs = std::make_shared<TokenizeArgs>();
    auto* detokenize = app.add_subcommand("detokenize", "Print the text of token ids (or of the ids on standard input)");
    add_tokenizer_options(*detokenize, dargs->source);
    detokenize->add_flag("--skip-special", dargs->skip_special, "Leave out special tokens (BOS, EOS, ...)");
    detokenize->add_flag("--json", dargs->json, "Print one JSON object with the text");
    detokenize->add_option("ids", dargs->text, "Token ids separated by spaces")->type_name("\"ID ...\"");
    detokenize->callback([&context, &exit_code, dargs] {
        context.apply_globals();
        exit_code = run_detokenize(context, *dargs);
    });
}

}  // namespace fairseq2::cli

// `fairseq2 translate`: loads an encoder-decoder model and translates with
// beam search (or greedy search, or sampling). The input is TEXT, or each
// line of standard input, all lines decoded as one batch; the output is one
// line per input (K lines with --nbest K), or one JSON object per input with
// --json.
//
// The text is turned into ids by a translation tokenizer: NLLB's (the card's,
// or --tokenizer), which places the --src-lang and --tgt-lang tokens; or
// fairseq dictionaries: a fairseq checkpoint's dict.<source_lang>.txt and
// dict.<target_lang>.txt (languages from its hyperparameters, or --src-lang /
// --tgt-lang) beside it or in a data-bin/ folder beside it, or --source-dict /
// --target-dict, and then TEXT is symbols separated by spaces, the source
// gets fairseq's </s> appended, and the output is symbols. Without a
// tokenizer, --source-ids gives the source and the output is ids.

#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <boost/json.hpp>
#include <torch/nn/module.h>

#include "cli_context.hpp"
#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "fairseq2/data/tokenizers/translation_tokenizer.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/generation/seq2seq_generator.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/encoder_decoder_model.hpp"
#include "fairseq2/runtime/cpu.hpp"
#include "json_output.hpp"
#include "model_loading.hpp"
#include "token_ids.hpp"

namespace fairseq2::cli {

namespace {

namespace fs = std::filesystem;

struct TranslateArgs {
    ModelLoadArgs load;
    std::string src_lang;
    std::string tgt_lang;
    std::string source_dict;
    std::string target_dict;
    std::string tokenizer;
    std::string tokenizer_family;
    std::int64_t beam = 5;
    std::int64_t nbest = 1;
    double max_len_a = 1.0;
    std::int64_t max_len_b = 128;
    std::int64_t min_len = 1;
    double len_penalty = 1.0;
    double unk_penalty = 0.0;
    bool greedy = false;
    bool sample = false;
    double temperature = 1.0;
    double top_p = 1.0;
    std::string source_ids;
    std::string prompt_ids;
    bool json = false;
    int threads = 0;
    std::int64_t batch_size = 0;
    std::optional<std::string> text;
};

std::string text_field(const boost::json::object& object, const char* key)
{
    const auto* value = object.if_contains(key);
    return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

// fairseq's hyperparameters, "args" or "cfg"."task".
const boost::json::object* fairseq_task_args(const boost::json::object& extras)
{
    if (const auto* args = extras.if_contains("args"); args != nullptr && args->is_object())
        return &args->as_object();
    if (const auto* cfg = extras.if_contains("cfg"); cfg != nullptr && cfg->is_object())
        if (const auto* task = cfg->as_object().if_contains("task"); task != nullptr && task->is_object())
            return &task->as_object();
    return nullptr;
}

// dict.<lang>.txt beside the checkpoint or in data-bin/ beside it.
fs::path find_dictionary(const fs::path& checkpoint, const std::string& lang, const char* option)
{
    const fs::path dir = fs::is_directory(checkpoint) ? checkpoint : checkpoint.parent_path();
    const std::string name = "dict." + lang + ".txt";
    std::vector<fs::path> candidates{dir / name, dir / "data-bin" / name};
    for (const auto& candidate : candidates)
        if (fs::is_regular_file(candidate))
            return candidate;
    throw InvalidArgumentError("The fairseq dictionary '" + name + "' is neither in '" + dir.string() + "' nor in '" +
                               (dir / "data-bin").string() + "'; give it with " + option + ".");
}

std::shared_ptr<tokenizers::TranslationTokenizer> dictionary_pair(const fs::path& source, const fs::path& target)
{
    return tokenizers::make_translation_pair(tokenizers::load_fairseq_dictionary(source), tokenizers::load_fairseq_dictionary(target));
}

std::shared_ptr<tokenizers::TranslationTokenizer> as_translation(const tokenizers::LoadedTokenizer& loaded)
{
    auto translation = std::dynamic_pointer_cast<tokenizers::TranslationTokenizer>(loaded.tokenizer);
    if (!translation)
        throw InvalidArgumentError("The tokenizer '" + loaded.file.string() + "' (" + std::string(loaded.tokenizer->implementation()) +
                                   (loaded.family.empty() ? std::string() : ", family '" + loaded.family + "'") +
                                   ") has no source and target sides; translate needs a translation tokenizer (NLLB's, or fairseq "
                                   "dictionaries with --source-dict and --target-dict).");
    return translation;
}

// What turns text into ids and back: --source-dict/--target-dict, else
// --tokenizer, else a fairseq checkpoint's dictionaries, else the card's
// tokenizer. Null when none is found.
std::shared_ptr<tokenizers::TranslationTokenizer> load_translation_tokenizer(CliContext& context, const TranslateArgs& args,
                                                                             const LoadedModel& loaded)
{
    if (!args.source_dict.empty() || !args.target_dict.empty()) {
        if (args.source_dict.empty() || args.target_dict.empty())
            throw InvalidArgumentError("Give both --source-dict and --target-dict, or neither.");
        return dictionary_pair(args.source_dict, args.target_dict);
    }
    if (!args.tokenizer.empty()) {
        const std::string family = !args.tokenizer_family.empty() ? args.tokenizer_family : loaded.handler->family();
        return as_translation(context.tokenizer_hub().load_from_path(args.tokenizer, family));
    }
    if (const boost::json::object* task = fairseq_task_args(loaded.extras); task != nullptr && !loaded.checkpoint.empty()) {
        const std::string src = !args.src_lang.empty() ? args.src_lang : text_field(*task, "source_lang");
        const std::string tgt = !args.tgt_lang.empty() ? args.tgt_lang : text_field(*task, "target_lang");
        if (src.empty() || tgt.empty())
            throw InvalidArgumentError("The fairseq checkpoint '" + loaded.checkpoint.string() +
                                       "' names no source or target language (source_lang, target_lang); give --src-lang and --tgt-lang, "
                                       "or --source-dict and --target-dict.");
        const fs::path source = find_dictionary(loaded.checkpoint, src, "--source-dict");
        const fs::path target = find_dictionary(loaded.checkpoint, tgt, "--target-dict");
        log().info("Using the fairseq dictionaries '{}' and '{}'.", source.string(), target.string());
        return dictionary_pair(source, target);
    }
    if (!args.load.model.empty())
        return as_translation(context.tokenizer_hub().load(args.load.model));
    return nullptr;
}

// The source and target languages of a tokenizer that has languages: the
// options, the source defaulting to the tokenizer's default.
std::pair<std::string, std::string> languages(const tokenizers::TranslationTokenizer& tokenizer, const TranslateArgs& args)
{
    const std::vector<std::string> known = tokenizer.languages();
    if (known.empty())
        return {args.src_lang, args.tgt_lang};
    std::string src = !args.src_lang.empty() ? args.src_lang : tokenizer.default_language();
    if (src.empty())
        throw InvalidArgumentError("The tokenizer has " + std::to_string(known.size()) + " languages and no default; give --src-lang.");
    if (args.tgt_lang.empty())
        throw InvalidArgumentError("Give the target language with --tgt-lang (the tokenizer has " + std::to_string(known.size()) +
                                   " languages, e.g. '" + known.front() + "').");
    return {src, args.tgt_lang};
}

void check_fits(std::int64_t tokenizer_size, std::int64_t model_size, const char* side)
{
    if (tokenizer_size < model_size)
        throw InvalidArgumentError(std::string("The ") + side + " vocabulary of the tokenizer has " + std::to_string(tokenizer_size) +
                                   " symbols, but the model's " + side + " embedding has " + std::to_string(model_size) +
                                   " rows; they do not belong together.");
}

std::vector<std::string> read_inputs(const TranslateArgs& args)
{
    if (args.text)
        return {*args.text};
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

int run_translate(CliContext& context, const TranslateArgs& args)
{
    if (args.threads < 0)
        throw InvalidArgumentError("--threads must be positive, but is " + std::to_string(args.threads) + ".");
    at::set_num_threads(args.threads > 0 ? args.threads : physical_core_count());
    LoadedModel loaded = load_model(context, args.load);
    auto model = std::dynamic_pointer_cast<models::EncoderDecoderModel>(loaded.module);
    if (!model) {
        if (std::dynamic_pointer_cast<models::DecoderModel>(loaded.module))
            throw InvalidArgumentError("The '" + loaded.handler->family() +
                                       "' family builds decoder-only models, which `translate` does not run; use `fairseq2 generate`.");
        throw InvalidArgumentError("The '" + loaded.handler->family() + "' family does not build encoder-decoder models.");
    }
    const VocabularyInfo& target_vocab = model->target_vocab_info();
    if (!target_vocab.eos_idx)
        throw InvalidArgumentError("The model's target vocabulary has no EOS token, so translations cannot end.");

    std::shared_ptr<tokenizers::TranslationTokenizer> tokenizer;
    std::pair<std::string, std::string> langs;
    if (args.source_ids.empty()) {
        tokenizer = load_translation_tokenizer(context, args, loaded);
        if (!tokenizer)
            throw InvalidArgumentError("The model has no tokenizer to turn text into ids: give --tokenizer PATH, fairseq dictionaries with "
                                       "--source-dict and --target-dict, or the source as ids with --source-ids.");
        check_fits(tokenizer->source_vocab_size(), model->source_vocab_info().size, "source");
        check_fits(tokenizer->target_vocab_size(), target_vocab.size, "target");
        langs = languages(*tokenizer, args);
    } else if (args.text) {
        throw InvalidArgumentError("Give the source either as TEXT or with --source-ids, not both.");
    }

    std::vector<std::vector<std::int64_t>> sources;
    if (!args.source_ids.empty()) {
        sources.push_back(parse_token_ids(args.source_ids, "--source-ids"));
    } else {
        for (const std::string& line : read_inputs(args))
            sources.push_back(tokenizer->encode_source(line, langs.first));
    }
    if (sources.empty())
        return 0;

    std::vector<std::int64_t> prompt = parse_token_ids(args.prompt_ids, "--prompt-ids");
    if (prompt.empty())
        prompt = tokenizer ? tokenizer->target_prefix(langs.second) : std::vector<std::int64_t>{*target_vocab.eos_idx};

    generation::Seq2SeqGeneratorOptions options;
    options.beam_search = !args.sample;
    options.beam_size = args.greedy ? 1 : args.beam;
    options.nbest = args.sample ? 1 : args.nbest;
    options.max_gen_len_a = args.max_len_a;
    options.max_gen_len_b = args.max_len_b;
    options.min_gen_len = args.min_len;
    options.len_penalty = args.len_penalty;
    options.unk_penalty = args.unk_penalty;
    options.temperature = args.temperature;
    options.top_p = args.top_p;
    options.seed = args.load.seed;
    // All inputs as one batch, or --batch-size at a time.
    generation::Seq2SeqResult result;
    const std::size_t batch = args.batch_size > 0 ? static_cast<std::size_t>(args.batch_size) : sources.size();
    for (std::size_t first = 0; first < sources.size(); first += batch) {
        const std::vector<std::vector<std::int64_t>> chunk(sources.begin() + static_cast<std::ptrdiff_t>(first),
                                                           sources.begin() + static_cast<std::ptrdiff_t>(std::min(sources.size(), first + batch)));
        generation::Seq2SeqResult part = generation::generate_seq2seq(*model, chunk, prompt, options);
        for (auto& hypotheses : part.hypotheses)
            result.hypotheses.push_back(std::move(hypotheses));
        result.encode_seconds += part.encode_seconds;
        result.decode_seconds += part.decode_seconds;
    }

    for (const auto& hypotheses : result.hypotheses) {
        if (args.json) {
            boost::json::array list;
            for (const auto& h : hypotheses) {
                boost::json::object item;
                if (tokenizer)
                    item["text"] = tokenizer->decode_target(h.ids);
                item["ids"] = boost::json::value_from(h.ids);
                item["score"] = h.score;
                list.push_back(std::move(item));
            }
            std::cout << compact_json(boost::json::object{{"hypotheses", std::move(list)}}) << "\n";
            continue;
        }
        for (const auto& h : hypotheses) {
            std::ostringstream line;
            if (args.nbest > 1)
                line << h.score << "\t";
            if (tokenizer) {
                line << tokenizer->decode_target(h.ids);
            } else {
                for (std::size_t i = 0; i < h.ids.size(); ++i)
                    line << (i == 0 ? "" : " ") << h.ids[i];
            }
            std::cout << line.str() << "\n";
        }
    }
    const double seconds = result.encode_seconds + result.decode_seconds;
    std::cerr << "load " << loaded.load_seconds << " s, " << sources.size() << " sentences in " << seconds << " s ("
              << (seconds > 0 ? static_cast<double>(sources.size()) / seconds : 0.0) << " sentences/s, " << at::get_num_threads()
              << " threads)\n";
    return 0;
}

}  // namespace

void add_translate_command(CLI::App& app, CliContext& context, int& exit_code)
{
    auto args = std::make_shared<TranslateArgs>();
    auto* cmd = app.add_subcommand("translate", "Translate with an encoder-decoder model (beam search by default)");
    add_model_load_options(*cmd, args->load,
                           "Checkpoint to load (fairseq2, fairseq or Hugging Face M2M100); a fairseq checkpoint's hyperparameters or an M2M100 "
                           "config.json give its config when no --arch is given; with --model, it replaces the card's checkpoint");
    cmd->add_option("--src-lang", args->src_lang,
                    "Source language: an NLLB code (eng_Latn; default: the card's default_lang) or the LANG of a fairseq checkpoint's "
                    "dict.LANG.txt (default: its source_lang)");
    cmd->add_option("--tgt-lang", args->tgt_lang,
                    "Target language: an NLLB code (needed) or the LANG of a fairseq checkpoint's dict.LANG.txt (default: its target_lang)");
    cmd->add_option("--source-dict", args->source_dict, "The source fairseq dictionary (dict.txt)")->type_name("PATH");
    cmd->add_option("--target-dict", args->target_dict, "The target fairseq dictionary (dict.txt)")->type_name("PATH");
    cmd->add_option("--tokenizer", args->tokenizer, "Tokenizer file or directory (default: the card's, or a fairseq checkpoint's dictionaries)")
        ->type_name("PATH");
    cmd->add_option("--tokenizer-family", args->tokenizer_family, "Tokenizer family of --tokenizer (default: the model's family)")
        ->type_name("FAMILY");
    auto* beam = cmd->add_option("--beam", args->beam, "Beam size (default 5)")->check(CLI::PositiveNumber);
    cmd->add_option("--nbest", args->nbest, "Hypotheses printed per input, best first, each with its score (default 1)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--max-len-a", args->max_len_a, "Generate at most A * source length + B tokens (default A 1)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--max-len-b", args->max_len_b, "See --max-len-a (default B 128)")->check(CLI::PositiveNumber);
    cmd->add_option("--min-len", args->min_len, "Generate at least this many tokens, EOS included (default 1)")->check(CLI::PositiveNumber);
    cmd->add_option("--len-penalty", args->len_penalty, "Scores are divided by length^P (default 1)");
    cmd->add_option("--unk-penalty", args->unk_penalty, "Subtracted from the unknown token's log-probability (default 0)");
    auto* greedy = cmd->add_flag("--greedy", args->greedy, "Greedy search (beam size 1)");
    greedy->excludes(beam);
    auto* sample = cmd->add_flag("--sample", args->sample, "Sample instead of searching (with --temperature and --top-p)");
    sample->excludes(greedy)->excludes(beam);
    cmd->add_option("--temperature", args->temperature, "Temperature of the log-probabilities (default 1)");
    cmd->add_option("--top-p", args->top_p, "Nucleus sampling probability mass (default 1)");
    auto* source_ids = cmd->add_option("--source-ids", args->source_ids, "The source as token ids separated by spaces, instead of TEXT")
                           ->type_name("\"ID ...\"");
    cmd->add_option("--prompt-ids", args->prompt_ids, "The target prefix as ids (default: the EOS id, as fairseq)")->type_name("\"ID ...\"");
    cmd->add_option("--threads", args->threads, "Number of CPU threads (default: the number of physical cores)");
    cmd->add_option("--batch-size", args->batch_size, "Inputs decoded together (default: all lines of standard input at once)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--dtype", args->load.dtype, "auto (default: the checkpoint's), float32 or bfloat16");
    cmd->add_flag("--json", args->json, "Print one JSON object per input: {\"hypotheses\": [{\"text\", \"ids\", \"score\"}, ...]}");
    cmd->add_option("text", args->text, "Text to translate (default: each line of standard input)")->excludes(source_ids);
    cmd->callback([&context, &exit_code, args] {
        context.apply_globals();
        exit_code = run_translate(context, *args);
    });
}

}  // namespace fairseq2::cli

// `fairseq2 generate`: builds or loads a decoder model and generates tokens
// incrementally. New token ids go to stdout; timings go to stderr (or, with
// --json, one JSON object to stdout).

#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <boost/json.hpp>
#include <torch/nn/module.h>

#include "checkpoint_source.hpp"
#include "cli_context.hpp"
#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/data/tokenizers/tokenizer.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/generation/generator.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/encoder_decoder_model.hpp"
#include "fairseq2/runtime/cpu.hpp"
#include "json_output.hpp"
#include "model_loading.hpp"
#include "token_ids.hpp"
#include "tokenizer_source.hpp"

namespace fairseq2::cli {

namespace {

struct GenerateArgs {
    ModelLoadArgs load;
    std::string prompt_ids;
    std::optional<std::string> prompt;
    bool chat = false;
    std::string tokenizer;
    std::string tokenizer_family;
    std::int64_t max_new_tokens = 16;
    bool greedy = false;
    double temperature = 1.0;
    double top_p = 1.0;
    int threads = 0;
    std::int64_t prefill_chunk = generation::GenerationOptions{}.prefill_chunk_size;
    bool json = false;
};

int run_generate(CliContext& context, const GenerateArgs& args)
{
    if (args.threads < 0)
        throw InvalidArgumentError("--threads must be positive, but is " + std::to_string(args.threads) + ".");
    at::set_num_threads(args.threads > 0 ? args.threads : physical_core_count());
    LoadedModel loaded = load_model(context, args.load);
    const std::shared_ptr<models::ModelHandler>& handler = loaded.handler;
    const double load_s = loaded.load_seconds;

    auto model = std::dynamic_pointer_cast<models::DecoderModel>(loaded.module);
    if (!model) {
        if (std::dynamic_pointer_cast<models::EncoderDecoderModel>(loaded.module))
            throw InvalidArgumentError("The '" + handler->family() +
                                       "' family builds encoder-decoder models, which `generate` does not run; use `fairseq2 translate`.");
        throw InvalidArgumentError("The '" + handler->family() + "' family does not build decoder models, so it cannot generate text.");
    }

    const VocabularyInfo& vocab = model->vocab_info();
    std::vector<std::int64_t> prompt = parse_token_ids(args.prompt_ids, "--prompt-ids");
    std::shared_ptr<tokenizers::Tokenizer> tokenizer;
    if (args.prompt) {
        // Text in, text out: the model's tokenizer (or --tokenizer).
        tokenizer = model_tokenizer(context, args.load.model, args.load.checkpoint, handler->family(), args.tokenizer, args.tokenizer_family).tokenizer;
        if (tokenizer->vocab_size() > vocab.size)
            throw InvalidArgumentError("The tokenizer has " + std::to_string(tokenizer->vocab_size()) + " tokens, but the model's vocabulary has " +
                                       std::to_string(vocab.size) + "; they do not belong together.");
        prompt = args.chat ? tokenizer->encode_chat(*args.prompt) : tokenizer->encode(*args.prompt, tokenizers::EncodeMode::prompt);
        if (prompt.empty())
            throw InvalidArgumentError("The prompt encodes to no tokens (an empty text with a tokenizer that adds no BOS).");
    } else if (args.chat) {
        throw InvalidArgumentError("--chat wraps the text of --prompt; give --prompt TEXT.");
    }
    if (prompt.empty()) {
        if (!vocab.bos_idx)
            throw InvalidArgumentError("The model's vocabulary has no BOS token; give a prompt with --prompt-ids.");
        prompt.push_back(*vocab.bos_idx);
    }

    generation::GenerationOptions options;
    options.max_new_tokens = args.max_new_tokens;
    options.greedy = args.greedy;
    options.temperature = args.temperature;
    options.top_p = args.top_p;
    options.seed = args.load.seed;
    options.eos_idx = vocab.eos_idx.value_or(-1);
    options.prefill_chunk_size = args.prefill_chunk;
    std::optional<tokenizers::IncrementalDetokenizer> stream;
    if (tokenizer) {
        // Stop at the tokenizer's EOS or end of turn; print text as it comes.
        options.stop_ids = tokenizer->stop_ids();
        stream.emplace(*tokenizer, /*skip_special=*/true);
        const bool print = !args.json;
        options.on_token = [&stream, print](std::int64_t id) {
            std::string piece = stream->push(id);
            if (print && !piece.empty())
                std::cout << piece << std::flush;
        };
    }
    if (!options.greedy && (options.temperature <= 0.0 || options.top_p <= 0.0 || options.top_p > 1.0))
        throw InvalidArgumentError("Sampling needs --temperature > 0 and 0 < --top-p <= 1.");

    generation::GenerationResult result = generation::generate(*model, prompt, options);

    const double prefill_tps = result.prefill_seconds > 0 ? static_cast<double>(result.prompt_tokens) / result.prefill_seconds : 0.0;
    const double decode_tps = result.decode_seconds > 0 ? static_cast<double>(result.decode_steps) / result.decode_seconds : 0.0;
    std::string tail = stream ? stream->finish() : std::string();
    if (args.json) {
        boost::json::array ids;
        for (auto id : result.ids)
            ids.emplace_back(id);
        boost::json::object object;
        if (tokenizer)
            object["text"] = tokenizer->decode(result.ids, /*skip_special=*/true);
        object.insert({
            {"ids", std::move(ids)},
            {"load_s", load_s},
            {"prefill_tokens_per_s", prefill_tps},
            {"decode_tokens_per_s", decode_tps},
            {"prompt_tokens", result.prompt_tokens},
            {"decode_steps", result.decode_steps},
            {"threads", at::get_num_threads()},
        });
        std::cout << compact_json(object) << "\n";
    } else if (tokenizer) {
        std::cout << tail << "\n";
        std::cerr << "load " << load_s << " s, prefill " << result.prompt_tokens << " tokens at " << prefill_tps << " tokens/s, decode "
                  << result.decode_steps << " tokens at " << decode_tps << " tokens/s (" << at::get_num_threads() << " threads)\n";
    } else {
        for (std::size_t i = 0; i < result.ids.size(); ++i)
            std::cout << (i == 0 ? "" : " ") << result.ids[i];
        std::cout << "\n";
        std::cerr << "load " << load_s << " s, prefill " << result.prompt_tokens << " tokens at " << prefill_tps << " tokens/s, decode "
                  << result.decode_steps << " tokens at " << decode_tps << " tokens/s (" << at::get_num_threads() << " threads)\n";
    }
    return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, CliContext& context, int& exit_code)
{
    auto args = std::make_shared<GenerateArgs>();
    auto* cmd = app.add_subcommand("generate", "Generate token ids with a decoder model");
    add_model_load_options(*cmd, args->load,
                           "Checkpoint to load: a safetensors or torch.save file, a Hugging Face or Meta directory, or a shard index; without "
                           "--model, its family and config come from the checkpoint or the config.json/params.json beside it (--family, "
                           "--arch and --set override them); with --model, it replaces the card's checkpoint");
    auto* prompt_ids =
        cmd->add_option("--prompt-ids", args->prompt_ids, "Prompt token ids separated by spaces (default: the BOS id)")->type_name("\"ID ...\"");
    cmd->add_option("--prompt", args->prompt,
                    "Prompt text, encoded by the model's tokenizer as its prompt mode does (BOS where it adds one); the generated text "
                    "is printed as it is produced, and generation stops at the tokenizer's EOS or end-of-turn token")
        ->type_name("TEXT")
        ->excludes(prompt_ids);
    cmd->add_flag("--chat", args->chat, "Wrap --prompt as one user turn in the family's instruct format (Llama 3 headers, Qwen's <|im_start|>)");
    cmd->add_option("--tokenizer", args->tokenizer, "Tokenizer file or directory for --prompt (default: the card's, or the checkpoint folder's)")
        ->type_name("PATH");
    cmd->add_option("--tokenizer-family", args->tokenizer_family, "Tokenizer family of --tokenizer (default: the model's family)")
        ->type_name("FAMILY");
    cmd->add_option("--max-new-tokens", args->max_new_tokens, "Number of tokens to generate at most (default 16)")
        ->check(CLI::NonNegativeNumber);
    auto* greedy = cmd->add_flag("--greedy", args->greedy, "Pick the most likely token at each step (the default without --temperature/--top-p)");
    auto* temperature = cmd->add_option("--temperature", args->temperature, "Sampling temperature (default 1.0)");
    auto* top_p = cmd->add_option("--top-p", args->top_p, "Nucleus sampling probability mass (default 1.0)");
    greedy->excludes(temperature)->excludes(top_p);
    cmd->add_option("--dtype", args->load.dtype,
                    "auto (default: the checkpoint's dtype, float32 for float16 checkpoints and --random-init), float32 or bfloat16; "
                    "weights are converted only when this differs from the checkpoint's");
    cmd->add_flag("--no-mmap", args->load.no_mmap, "Read safetensors files into memory instead of memory-mapping them");
    cmd->add_option("--threads", args->threads, "Number of CPU threads (default: the number of physical cores)");
    cmd->add_option("--prefill-chunk", args->prefill_chunk,
                    "Prompt positions run through the model at a time, which bounds the memory of long prompts (default " +
                        std::to_string(args->prefill_chunk) + "; 0: the whole prompt at once)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", args->json, "Print one JSON object with ids and timings");
    cmd->callback([&context, &exit_code, args, temperature, top_p] {
        context.apply_globals();
        // Greedy unless a sampling option is given.
        if (temperature->count() == 0 && top_p->count() == 0)
            args->greedy = true;
        exit_code = run_generate(context, *args);
    });
}

}  // namespace fairseq2::cli

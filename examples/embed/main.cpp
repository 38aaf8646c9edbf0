// An application that embeds the fairseq2 host: it loads the plugins, gets
// a model through the model hub and prints the token ids it generates.
//
//   embed [--plugin-dir DIR]... [--max-new-tokens N] MODEL [PROMPT_ID]...
//       a model by its asset card (family, arch, config and checkpoint)
//   embed [--plugin-dir DIR]... [--max-new-tokens N] --family F [--arch A] [--set KEY=VALUE]... [PROMPT_ID]...
//       a model of a family with random weights (seed 0)
//
// Plugins come from the --plugin-dir folders, FAIRSEQ2_PLUGIN_PATH and the
// installed default folder; cards from the user and system asset folders
// and the plugins. The ids go to stdout, one line; messages to stderr.

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"
#include "fairseq2/generation/generator.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/runtime/memory.hpp"

namespace {

struct Arguments {
    std::vector<std::filesystem::path> plugin_dirs;
    std::string model;
    std::string family;
    std::string arch;
    std::vector<std::string> sets;
    std::vector<std::int64_t> prompt;
    std::int64_t max_new_tokens = 8;
};

Arguments parse(int argc, char** argv)
{
    Arguments args;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc)
            throw fairseq2::InvalidArgumentError(std::string(argv[i]) + " needs a value.");
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--plugin-dir")
            args.plugin_dirs.emplace_back(value(i));
        else if (arg == "--family")
            args.family = value(i);
        else if (arg == "--arch")
            args.arch = value(i);
        else if (arg == "--set")
            args.sets.push_back(value(i));
        else if (arg == "--max-new-tokens")
            args.max_new_tokens = std::stoll(value(i));
        else if (args.model.empty() && args.family.empty() && !arg.empty() && !std::isdigit(static_cast<unsigned char>(arg[0])))
            args.model = arg;
        else
            args.prompt.push_back(std::stoll(arg));
    }
    if (args.model.empty() == args.family.empty())
        throw fairseq2::InvalidArgumentError("Give a model name (an asset card) or --family FAMILY, not both.");
    return args;
}

// The host finds, checks and loads the plugins (a broken one is logged and
// skipped); the hub turns a name into a model: card, handler, config,
// checkpoint. Both are dropped on return; the model keeps what it needs.
std::shared_ptr<fairseq2::models::DecoderModel> load_model(const Arguments& args)
{
    fairseq2::host::HostOptions options;
    options.plugin_dirs = args.plugin_dirs;
    fairseq2::host::Host host(options);
    host.load_plugins();

    fairseq2::models::ModelHub hub(host.context());
    std::shared_ptr<torch::nn::Module> module;
    if (!args.model.empty()) {
        module = hub.load_model(args.model);
    } else {
        at::manual_seed(0);
        fairseq2::models::ConfigOverrides overrides;
        overrides.assignments = args.sets;
        module = hub.create_model(args.family, args.arch, overrides);
    }
    auto model = std::dynamic_pointer_cast<fairseq2::models::DecoderModel>(module);
    if (!model)
        throw fairseq2::InvalidArgumentError("The model does not decode tokens, so it cannot generate.");
    return model;
}

}  // namespace

int main(int argc, char** argv)
{
    // Let each layer reuse the memory of the last one's temporaries, as the
    // `fairseq2` program does (a process-wide choice, so it is the
    // application's to make).
    fairseq2::retain_freed_memory();
    try {
        const Arguments args = parse(argc, argv);

        const std::shared_ptr<fairseq2::models::DecoderModel> model = load_model(args);

        // The host is gone; the model keeps its plugin library loaded.
        std::vector<std::int64_t> prompt = args.prompt;
        if (prompt.empty())
            prompt.push_back(model->vocab_info().bos_idx.value_or(0));
        fairseq2::generation::GenerationOptions generation;
        generation.max_new_tokens = args.max_new_tokens;
        generation.eos_idx = model->vocab_info().eos_idx.value_or(-1);
        const auto result = fairseq2::generation::generate(*model, prompt, generation);

        for (std::size_t i = 0; i < result.ids.size(); ++i)
            std::cout << (i == 0 ? "" : " ") << result.ids[i];
        std::cout << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
}

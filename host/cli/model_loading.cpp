#include "model_loading.hpp"

#include <chrono>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "checkpoint_source.hpp"
#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"
#include "model_source.hpp"

namespace fairseq2::cli {

namespace {

// The dtype the model computes in: the one asked for, else the checkpoint's,
// except float16, which LibTorch cannot compute with on the CPU (no float16
// matmul or softmax kernels), so it runs in float32.
c10::ScalarType compute_dtype(std::optional<c10::ScalarType> asked, const checkpoint::LoadedCheckpoint& checkpoint)
{
    if (asked)
        return *asked;
    const c10::ScalarType stored = checkpoint::checkpoint_dtype(checkpoint.state_dict);
    if (stored == at::kHalf) {
        log().info("'{}' holds float16 weights, which LibTorch cannot compute with on the CPU; running in float32.", checkpoint.path.string());
        return at::kFloat;
    }
    return stored;
}

double seconds_since(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void add_model_load_options(CLI::App& cmd, ModelLoadArgs& args, const std::string& checkpoint_help)
{
    auto* family = cmd.add_option("--family", args.family, "Model family (or give --model)");
    auto* arch = cmd.add_option("--arch", args.arch, "Arch name (default: the checkpoint's config, else the family's default arch)");
    cmd.add_option("--model", args.model, "Asset card of the model: its family, arch, config overrides and checkpoint")
        ->type_name("NAME")
        ->excludes(family)
        ->excludes(arch);
    auto* random_init = cmd.add_flag("--random-init", args.random_init, "Use random weights (seeded by --seed)");
    auto* checkpoint = cmd.add_option("--checkpoint", args.checkpoint, checkpoint_help)->type_name("PATH");
    random_init->excludes(checkpoint);
    cmd.add_option("--seed", args.seed, "Seed of the random weights and of sampling (default 0)");
    cmd.add_option("--set", args.sets, "Override a config field (repeatable)")->type_name("KEY=VALUE");
}

std::optional<c10::ScalarType> parse_dtype(const std::string& name)
{
    if (name == "auto")
        return std::nullopt;
    if (name == "float32")
        return at::kFloat;
    if (name == "bfloat16")
        return at::kBFloat16;
    throw InvalidArgumentError("--dtype: '" + name + "' is not supported; use auto, float32 or bfloat16.");
}

LoadedModel load_model(CliContext& context, const ModelLoadArgs& args)
{
    if (args.model.empty() && args.family.empty() && args.checkpoint.empty())
        throw InvalidArgumentError(
            "Give the model: --model NAME (an asset card), --checkpoint PATH (its family and config are read from it), or --family FAMILY "
            "with --random-init.");
    // A card names its checkpoint; --random-init or --checkpoint replace it.
    if (args.model.empty() && args.random_init == !args.checkpoint.empty())
        throw InvalidArgumentError("Give exactly one model source: --random-init or --checkpoint PATH.");
    const std::optional<c10::ScalarType> dtype = parse_dtype(args.dtype);
    const checkpoint::LoadOptions load_options{.mmap = !args.no_mmap};

    LoadedModel loaded;
    auto start = std::chrono::steady_clock::now();
    if (args.model.empty() && !args.checkpoint.empty()) {
        // A checkpoint alone: its family and config come from the file or
        // the files beside it unless --family / --arch say otherwise.
        CheckpointSource source =
            open_checkpoint(context.host().context(), context.hub(), args.checkpoint, args.family, args.arch, args.sets, load_options);
        loaded.handler = source.handler;
        loaded.checkpoint = source.checkpoint.path;
        loaded.extras = source.checkpoint.extras;
        const c10::ScalarType model_dtype = compute_dtype(dtype, source.checkpoint);
        loaded.module = loaded.handler->load_from_checkpoint(std::move(source.checkpoint), source.config, at::kCPU, model_dtype);
    } else {
        SelectedModel selected = select_model(context.hub(), ModelSelection{args.model, args.family, args.arch, args.sets});
        loaded.handler = selected.handler;
        // Resolved before loading starts, so a missing file fails fast.
        std::filesystem::path checkpoint = args.checkpoint;
        if (selected.card && !args.random_init && checkpoint.empty())
            checkpoint = context.hub().checkpoint_path(*selected.card);

        start = std::chrono::steady_clock::now();
        if (args.random_init) {
            at::manual_seed(args.seed);
            loaded.module = loaded.handler->create(selected.config, at::kCPU, dtype.value_or(at::kFloat));
        } else {
            checkpoint::LoadedCheckpoint read = checkpoint::load_checkpoint(checkpoint, load_options);
            loaded.checkpoint = read.path;
            loaded.extras = read.extras;
            const c10::ScalarType model_dtype = compute_dtype(dtype, read);
            loaded.module = loaded.handler->load_from_checkpoint(std::move(read), selected.config, at::kCPU, model_dtype);
        }
    }
    loaded.load_seconds = seconds_since(start);
    return loaded;
}

}  // namespace fairseq2::cli

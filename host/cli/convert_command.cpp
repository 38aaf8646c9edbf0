// `fairseq2 convert`: loads a checkpoint of any format the loader reads
// (validating it strictly against the model) and writes it in fairseq2
// layout, as safetensors, or in a foreign layout the family exports ("hf").

#include <algorithm>
#include <chrono>
#include <optional>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <torch/nn/module.h>

#include "checkpoint_source.hpp"
#include "cli_context.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"

namespace fairseq2::cli {

namespace {

struct ConvertArgs {
    std::string checkpoint;
    std::string family;
    std::string arch;
    std::vector<std::string> sets;
    std::string to;
    std::string out;
    std::string dtype = "keep";
    bool no_mmap = false;
};

std::optional<c10::ScalarType> parse_convert_dtype(const std::string& name)
{
    if (name == "keep")
        return std::nullopt;
    if (name == "float32")
        return at::kFloat;
    if (name == "bfloat16")
        return at::kBFloat16;
    if (name == "float16")
        return at::kHalf;
    if (name == "float64")
        return at::kDouble;
    throw InvalidArgumentError("--dtype: '" + name + "' is not supported; use keep, float32, bfloat16, float16 or float64.");
}

int run_convert(CliContext& context, const ConvertArgs& args)
{
    const std::optional<c10::ScalarType> dtype = parse_convert_dtype(args.dtype);
    const auto start = std::chrono::steady_clock::now();

    CheckpointSource source = open_checkpoint(context.host().context(), context.hub(), args.checkpoint, args.family, args.arch, args.sets,
                                              checkpoint::LoadOptions{!args.no_mmap});
    const auto handler = source.handler;
    const boost::json::value config = source.config;
    const std::vector<std::string> exports = handler->export_formats();
    if (args.to != "fairseq2" && args.to != "safetensors" && std::find(exports.begin(), exports.end(), args.to) == exports.end()) {
        std::string layouts = "fairseq2, safetensors";
        for (const auto& name : exports)
            layouts += ", " + name;
        throw InvalidArgumentError("--to: '" + args.to + "' is not a layout the '" + handler->family() + "' family can write; use " + layouts +
                                   ".");
    }
    auto model = handler->load_from_checkpoint(std::move(source.checkpoint), config, at::kCPU, dtype);

    if (args.to == "fairseq2") {
        checkpoint::save_fairseq2_checkpoint(args.out, checkpoint::module_state_dict(*model),
                                             checkpoint::ModelMetadata{handler->family(), config});
    } else if (args.to == "safetensors") {
        checkpoint::write_safetensors(args.out, checkpoint::module_state_dict(*model),
                                      {{"format", "pt"},
                                       {"fs2", "true"},
                                       {"model_family", handler->family()},
                                       {"model_config", boost::json::serialize(config)}});
    } else {
        handler->export_checkpoint(*model, config, args.to, args.out);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log().info("Wrote '{}' ({} layout) in {:.2f} s.", args.out, args.to, seconds);
    return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, CliContext& context, int& exit_code)
{
    auto args = std::make_shared<ConvertArgs>();
    auto* cmd = app.add_subcommand("convert", "Convert a checkpoint to fairseq2 layout, safetensors or a family's foreign layout");
    cmd->add_option("--checkpoint", args->checkpoint,
                    "Checkpoint to read: a safetensors or torch.save file, a Hugging Face or Meta directory, or a shard index")
        ->type_name("PATH")
        ->required();
    cmd->add_option("--family", args->family, "Model family (default: recorded in the checkpoint or derived from config.json/params.json)");
    cmd->add_option("--arch", args->arch, "Arch preset to use instead of the checkpoint's own config");
    cmd->add_option("--set", args->sets, "Override a config field (repeatable)")->type_name("KEY=VALUE");
    cmd->add_option("--to", args->to,
                    "fairseq2 (a .pt file readable by torch.load), safetensors (one .safetensors file), or a family's export layout "
                    "(hf: a Hugging Face directory)")
        ->type_name("LAYOUT")
        ->required();
    cmd->add_option("--out", args->out, "File (fairseq2, safetensors) or directory (hf) to write")->type_name("PATH")->required();
    cmd->add_option("--dtype", args->dtype, "keep (default: the checkpoint's dtype), float32, bfloat16, float16 or float64");
    cmd->add_flag("--no-mmap", args->no_mmap, "Read safetensors files into memory instead of memory-mapping them");
    cmd->callback([&context, &exit_code, args] {
        context.apply_globals();
        exit_code = run_convert(context, *args);
    });
}

}  // namespace fairseq2::cli

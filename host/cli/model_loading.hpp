#pragma once

// Loading the model a command names: an asset card (--model), a checkpoint
// alone (--checkpoint, family and config read from it), or a family with
// random weights (--family --random-init), in the dtype asked for. Shared by
// `generate` and `translate`.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>
#include <c10/core/ScalarType.h>

#include "cli_context.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace torch::nn {
class Module;
}

namespace fairseq2::cli {

struct ModelLoadArgs {
    std::string model;
    std::string family;
    std::string arch;
    std::string checkpoint;
    bool random_init = false;
    std::uint64_t seed = 0;
    std::vector<std::string> sets;
    std::string dtype = "auto";
    bool no_mmap = false;
};

struct LoadedModel {
    std::shared_ptr<models::ModelHandler> handler;
    std::shared_ptr<torch::nn::Module> module;
    // The checkpoint read (empty with --random-init) and what it holds
    // besides its tensors (fairseq's args).
    std::filesystem::path checkpoint;
    boost::json::object extras;
    double load_seconds = 0.0;
};

// Adds the options that fill `args` to `cmd`: --family, --arch, --model,
// --random-init, --checkpoint (described by `checkpoint_help`), --seed and
// --set. --dtype and --no-mmap are left to the command, whose help differs.
void add_model_load_options(CLI::App& cmd, ModelLoadArgs& args, const std::string& checkpoint_help);

// nullopt for "auto"; throws InvalidArgumentError for a dtype not supported.
std::optional<c10::ScalarType> parse_dtype(const std::string& name);

// Throws InvalidArgumentError when no or several model sources are given,
// and the hub's and the checkpoint's errors.
LoadedModel load_model(CliContext& context, const ModelLoadArgs& args);

}  // namespace fairseq2::cli

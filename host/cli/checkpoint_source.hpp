#pragma once

// A checkpoint named on the command line (--checkpoint PATH) without an
// asset card: read once, with the family and config it is loaded as.
// Shared by `generate` and `convert`.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2::cli {

struct CheckpointSource {
    std::shared_ptr<models::ModelHandler> handler;
    // Checked, with every override applied.
    boost::json::value config;
    checkpoint::LoadedCheckpoint checkpoint;
};

// Reads the checkpoint at `path` and resolves what it is:
// models::ModelHub::open_checkpoint with the --set assignments `sets`.
// Throws LookupError when no family can be told, and the errors of reading
// the checkpoint and of the config.
CheckpointSource open_checkpoint(RuntimeContext& context, models::ModelHub& hub, const std::filesystem::path& path,
                                 const std::string& family, const std::string& arch, const std::vector<std::string>& sets,
                                 const checkpoint::LoadOptions& options);

}  // namespace fairseq2::cli

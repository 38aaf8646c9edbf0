#pragma once

// The one entry point for reading a model checkpoint, whatever its format.
//
// A file is recognised by its content: a safetensors file, or a torch.save
// zip archive (.pt, .pth, .bin; the legacy pre-zip format is refused with a
// clear error); a "*.index.json" shard index is read with its shards. A
// directory holds, in this order of preference:
//   model.safetensors.index.json   sharded safetensors (Hugging Face)
//   pytorch_model.bin.index.json   sharded torch archives (Hugging Face)
//   model.safetensors, or a single *.safetensors file
//   consolidated.00.pth            Meta reference layout (several
//                                  consolidated.NN.pth need tensor
//                                  parallelism and are refused)
//   pytorch_model.bin, or a single .pt / .pth / .bin file
// Files describing the model (config.json, params.json) are left to the
// model family (ModelHandler::config_from_checkpoint).

#include <filesystem>
#include <optional>
#include <vector>

#include <boost/json/object.hpp>

#include "fairseq2/checkpoint/model_metadata.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"

namespace fairseq2::checkpoint {

struct LoadOptions {
    // Memory-map safetensors files, so tensors use the file's pages without a
    // copy; false reads them into memory instead (--no-mmap).
    bool mmap = true;
};

struct LoadedCheckpoint {
    StateDict state_dict;
    // True when the checkpoint is in fairseq2 layout (has the "fs2" marker),
    // so its keys need no conversion.
    bool fairseq2_layout = false;
    // The path as given, for messages.
    std::filesystem::path path;
    // The files read, in order.
    std::vector<std::filesystem::path> files;
    // The model a fairseq2 checkpoint written by this project describes.
    std::optional<ModelMetadata> model;
    // A single torch archive's top-level entries without tensors, as JSON
    // (checkpoint_extras: fairseq's "args" and "cfg"); empty otherwise. A
    // training checkpoint's optimizer state is never read.
    boost::json::object extras;
};

// Reads the checkpoint at `path` (a file or a directory, see above), with a
// progress bar on a terminal for slow loads and a log line otherwise. Throws
// CheckpointError naming the path when it is missing, unreadable, malformed,
// or when shards disagree (a shard the index names is missing, a key in two
// shards, a key not in the shard the index names).
FAIRSEQ2_API LoadedCheckpoint load_checkpoint(const std::filesystem::path& path, const LoadOptions& options = {});

// The folder holding the files that describe the checkpoint at `path`
// (config.json, params.json): `path` itself when it is a directory, else the
// folder of the file.
FAIRSEQ2_API std::filesystem::path checkpoint_directory(const std::filesystem::path& path);

}  // namespace fairseq2::checkpoint

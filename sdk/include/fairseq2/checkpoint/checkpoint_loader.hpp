#pragma once

// The entry point for reading a model checkpoint whatever its format.

#include <filesystem>

#include "fairseq2/checkpoint/state_dict.hpp"

namespace fairseq2::checkpoint {

struct LoadedCheckpoint {
    StateDict state_dict;
    // True when the checkpoint is in fairseq2 layout (has the "fs2" marker),
    // so its keys need no conversion.
    bool fairseq2_layout = false;
};

// Reads the checkpoint at `path`, detecting the format by content. Throws
// CheckpointError naming the path when it is missing or unreadable.
FAIRSEQ2_API LoadedCheckpoint load_checkpoint(const std::filesystem::path& path);

}  // namespace fairseq2::checkpoint

#pragma once

// Reading the JSON files that come with checkpoints (a shard index,
// config.json, params.json).

#include <filesystem>

#include <boost/json/value.hpp>

#include "fairseq2/version.hpp"

namespace fairseq2::checkpoint {

// The JSON value in the file at `path`. Throws CheckpointError naming the
// file when it cannot be read, or is not valid JSON (with the line and
// column of the first error).
FAIRSEQ2_API boost::json::value read_json_file(const std::filesystem::path& path);

}  // namespace fairseq2::checkpoint

#pragma once

// State dicts and the one strict loader every family uses.

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "fairseq2/version.hpp"

namespace torch::nn {
class Module;
}

namespace fairseq2::checkpoint {

// Parameter and buffer names (fairseq2 naming) to tensors, sorted by name.
using StateDict = std::map<std::string, at::Tensor>;

// Ordered (regex pattern, replacement) pairs; see convert_state_dict().
using KeyMap = std::vector<std::pair<std::string, std::string>>;

// Renames every key by the first pattern of `key_map` that changes it
// (ECMAScript regex, replacement may use \1 ... \9); keys no pattern
// changes stay as they are. Two keys renamed to one name are an error.
FAIRSEQ2_API StateDict convert_state_dict(StateDict state_dict, const KeyMap& key_map);

// The map that undoes `key_map`, for exports: each anchored pattern made of
// literal text (a dot escaped as \.) and groups such as ([0-9]+) becomes
// the replacement, and its replacement (the literal text and \1 ... \9)
// the pattern, in the same order. Throws InvalidArgumentError naming the
// pattern when it uses other regex syntax (which has no inverse).
FAIRSEQ2_API KeyMap reverse_key_map(const KeyMap& key_map);

// Removes a leading "module." (DDP wrapping) from every key that has it.
FAIRSEQ2_API StateDict strip_module_prefix(StateDict state_dict);

// Loads `state_dict` into the parameters and persistent buffers of
// `module`, strictly: every missing key, unexpected key and shape mismatch
// is reported together in one CheckpointError that names `source`. Tensors
// whose dtype and device already match are adopted without a copy; others
// are converted to the module's dtype and device.
FAIRSEQ2_API void load_state_dict(torch::nn::Module& module, const StateDict& state_dict, const std::string& source);

// The dtype a model takes when it loads `state_dict` and no dtype is asked
// for: that of its floating-point tensors (the one holding the most elements
// when they differ), float32 when it has none.
FAIRSEQ2_API c10::ScalarType checkpoint_dtype(const StateDict& state_dict);

// The state dict of `module` (parameters then buffers, by full name),
// detached; tied parameters appear under every name they are registered as.
FAIRSEQ2_API StateDict module_state_dict(const torch::nn::Module& module);

}  // namespace fairseq2::checkpoint

#pragma once

// Reading and writing PyTorch archives: the zip files torch.save writes
// (.pt, .pth, .bin). Reading uses our own unpickler, restricted to the
// globals a checkpoint needs (tensors, storages, OrderedDict), so arbitrary
// Python objects are refused rather than executed or misread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include <ATen/core/ivalue.h>
#include <boost/json/object.hpp>

#include "fairseq2/checkpoint/model_metadata.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/version.hpp"

namespace fairseq2::checkpoint {

// Called with the size of each storage record as it is read (progress).
using StorageReadCallback = std::function<void(std::uint64_t bytes)>;

// Reads a torch.save zip archive. Dicts become GenericDict (string or int
// keys), lists and tuples become GenericList / Tuple, tensors keep their
// dtype, shape, strides and storage offset (tensors sharing a storage share
// it here too). Throws CheckpointError naming `path` for a missing file, a
// legacy (pre-zip) archive ("re-save it with torch.save in PyTorch >= 1.6"),
// a pickle opcode or global it does not support, or a truncated archive.
FAIRSEQ2_API c10::IValue read_torch_archive(const std::filesystem::path& path, const StorageReadCallback& on_storage = {});

// Reads a torch.save checkpoint for its model: as read_torch_archive(), but
// when it is a dict holding a model state dict (see extract_state_dict), its
// other top-level entries that hold tensors -- a training checkpoint's
// optimizer state -- are dropped without their storage records being read,
// so they cost neither memory nor reading time. Entries without tensors
// (fairseq's "args" and "cfg", counters) are kept.
FAIRSEQ2_API c10::IValue read_torch_checkpoint(const std::filesystem::path& path, const StorageReadCallback& on_storage = {});

// The top-level string-keyed entries of `checkpoint` that hold no tensors,
// as JSON (fairseq's "args", an argparse.Namespace, becomes an object of its
// attributes). Leniently: int dict keys become strings, and values JSON
// cannot hold are left out.
FAIRSEQ2_API boost::json::object checkpoint_extras(const c10::IValue& checkpoint);

// Writes `value` (dicts, lists, strings, numbers, bools, tensors) as a zip
// archive Python's torch.load reads. The zip container is streamed into the
// file (tensors straight from their storage), which is written to a
// temporary name beside `path` and renamed, so `path` is never half-written.
FAIRSEQ2_API void write_torch_archive(const std::filesystem::path& path, const c10::IValue& value);

// The model state dict of a checkpoint read by read_torch_archive():
// checkpoint[checkpoint.get("model_key", "model")] when that is a dict of
// tensors, else the checkpoint itself when it is a dict of tensors; with
// "module." prefixes removed. Throws CheckpointError naming `source` when
// neither holds.
FAIRSEQ2_API StateDict extract_state_dict(const c10::IValue& checkpoint, const std::string& source);

// Writes `state_dict` in fairseq2 layout:
// {"model": state_dict, "model_key": "model", "fs2": true}, plus
// "model_family" and "model_config" when `model` is given.
FAIRSEQ2_API void save_fairseq2_checkpoint(const std::filesystem::path& path, const StateDict& state_dict,
                                           const std::optional<ModelMetadata>& model = std::nullopt);

// Whether a checkpoint read by read_torch_archive() is a dict with the
// fairseq2 marker key "fs2".
FAIRSEQ2_API bool has_fairseq2_marker(const c10::IValue& checkpoint);

// The "model_family" and "model_config" entries of a fairseq2 checkpoint,
// when it has both; throws CheckpointError naming `source` when they are
// malformed.
FAIRSEQ2_API std::optional<ModelMetadata> extract_model_metadata(const c10::IValue& checkpoint, const std::string& source);

}  // namespace fairseq2::checkpoint

#pragma once

// Reading and writing safetensors files (the format of Hugging Face's
// safetensors library). Reading memory-maps the file by default: tensors
// point into the mapping, which stays alive as long as one of them does.

#include <filesystem>
#include <map>
#include <string>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/version.hpp"

namespace fairseq2::checkpoint {

class LoadProgress;

struct SafetensorsFile {
    StateDict tensors;
    // The header's "__metadata__".
    std::map<std::string, std::string> metadata;
};

// Reads every tensor of the safetensors file at `path` after validating its
// header (see parse_safetensors_header). With `mmap` the file is mapped
// copy-on-write and its pages are faulted in, so tensors are ready without a
// copy (writing to one never changes the file); a tensor whose bytes are not
// aligned to its element size is copied. Without `mmap` every tensor is read
// into its own memory. A metadata entry NAME -> KEPT whose NAME is no tensor
// and whose KEPT is one (how safetensors' save_model() records the tied
// weights it left out) adds NAME as the same tensor. Throws CheckpointError
// naming `path`.
FAIRSEQ2_API SafetensorsFile read_safetensors(const std::filesystem::path& path, bool mmap = true, LoadProgress* progress = nullptr);

// Writes `tensors` (dense, of a dtype listed in safetensors_header.hpp) and
// `metadata` as a safetensors file the safetensors library reads: the data
// area has no gaps, tensors are ordered by decreasing element size so each
// starts aligned, and the header is padded to 8 bytes. The file is written
// to a temporary name beside `path` and renamed.
FAIRSEQ2_API void write_safetensors(const std::filesystem::path& path, const StateDict& tensors,
                                    const std::map<std::string, std::string>& metadata = {});

// Whether the first bytes of a file (at least 9 of them) look like a
// safetensors file of `file_size` bytes: a plausible header length followed
// by '{'.
FAIRSEQ2_API bool looks_like_safetensors(std::string_view first_bytes, std::uint64_t file_size);

}  // namespace fairseq2::checkpoint

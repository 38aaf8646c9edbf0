#pragma once

// The header of a safetensors file: an 8-byte little-endian length, then a
// JSON object describing each tensor (dtype, shape, byte offsets in the data
// area that follows) and optional string metadata. Parsing and validation
// need no LibTorch, so the fuzzer builds this file alone.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fairseq2/version.hpp"

namespace fairseq2::checkpoint {

enum class SafetensorsDtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

// The dtype as a header spells it ("F32", "BOOL", ...).
FAIRSEQ2_API std::string_view safetensors_dtype_name(SafetensorsDtype dtype);

// Bytes per element.
FAIRSEQ2_API std::size_t safetensors_dtype_size(SafetensorsDtype dtype);

struct SafetensorsEntry {
    std::string name;
    SafetensorsDtype dtype = SafetensorsDtype::f32;
    std::vector<std::int64_t> shape;
    // Byte range [begin, end) within the data area.
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

struct SafetensorsHeader {
    // Where the data area starts in the file: 8 + the header length.
    std::uint64_t data_offset = 0;
    // Every tensor, in the order of its bytes in the data area.
    std::vector<SafetensorsEntry> entries;
    // The "__metadata__" object.
    std::map<std::string, std::string> metadata;
};

// Headers longer than this are refused (the limit of the safetensors library).
inline constexpr std::uint64_t max_safetensors_header_length = 100'000'000;

// Parses and validates the header of the safetensors file `source`, which
// is `file_size` bytes long and starts with `bytes` (its length field and
// header, or the whole file when that is shorter). Before anything is
// allocated for tensors it checks: the header length lies within the file
// and the limit; the header is a JSON object; every dtype is known
// (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL); every shape is a list
// of non-negative integers; every byte range lies inside the data area, has
// exactly shape x dtype size bytes and overlaps no other. Throws
// CheckpointError, naming `source`, the tensor and what was found.
FAIRSEQ2_API SafetensorsHeader parse_safetensors_header(std::string_view bytes, std::uint64_t file_size, const std::string& source);

}  // namespace fairseq2::checkpoint

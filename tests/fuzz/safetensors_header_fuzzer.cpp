// libFuzzer target for the safetensors header parser: whatever the bytes,
// parse_safetensors_header either throws CheckpointError or returns a
// header that keeps every promise of safetensors_header.hpp. Built only with
// clang (tests/fuzz/CMakeLists.txt); run by scripts/fuzz-safetensors.sh.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fairseq2/checkpoint/safetensors_header.hpp"
#include "fairseq2/error.hpp"

namespace {

void require(bool condition)
{
    if (!condition)
        __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace fairseq2::checkpoint;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        SafetensorsHeader header = parse_safetensors_header(bytes, size, "fuzz");
        require(header.data_offset >= 8 && header.data_offset <= size);
        const std::uint64_t data_size = size - header.data_offset;
        std::uint64_t furthest = 0;
        std::uint64_t previous_begin = 0;
        for (const auto& entry : header.entries) {
            require(entry.begin <= entry.end && entry.end <= data_size);
            require(entry.begin >= previous_begin);
            previous_begin = entry.begin;
            std::uint64_t elements = 1;
            for (std::int64_t dim : entry.shape) {
                require(dim >= 0);
                elements *= static_cast<std::uint64_t>(dim);
            }
            require(entry.end - entry.begin == elements * safetensors_dtype_size(entry.dtype));
            if (entry.begin != entry.end) {
                require(entry.begin >= furthest);
                furthest = entry.end;
            }
        }
    } catch (const fairseq2::CheckpointError&) {
        // Refused with a message: fine.
    }
    return 0;
}

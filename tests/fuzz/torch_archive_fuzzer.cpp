// libFuzzer target for the torch archive reader (the zip directory, the
// records and the unpickler): whatever the bytes, read_torch_archive either
// throws CheckpointError or returns a value, and the state dict and model
// metadata of that value are extracted or refused with CheckpointError.
// Built only with clang (tests/fuzz/CMakeLists.txt); run by scripts/fuzz.sh.

#include <cstddef>
#include <cstdint>

#include <ATen/ATen.h>

#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace fairseq2::checkpoint;
    fairseq2::fuzz::InputFile file(data, size);
    c10::IValue value;
    std::uint64_t storage_bytes = 0;
    try {
        value = read_torch_archive(file.path(), [&](std::uint64_t bytes) { storage_bytes += bytes; });
    } catch (const fairseq2::CheckpointError&) {
        return 0;
    }
    // The storages loaded are bytes of the file, each at most once.
    fairseq2::fuzz::require(storage_bytes <= size);
    try {
        StateDict state_dict = extract_state_dict(value, "fuzz");
        for (const auto& [name, tensor] : state_dict) {
            // Every tensor lies inside its storage.
            const at::Tensor& t = tensor;
            if (t.numel() > 0) {
                fairseq2::fuzz::require(t.storage().nbytes() >= static_cast<std::size_t>(t.element_size()));
                (void)t.sum();
            }
        }
    } catch (const fairseq2::CheckpointError&) {
    }
    try {
        (void)extract_model_metadata(value, "fuzz");
    } catch (const fairseq2::CheckpointError&) {
    }
    return 0;
}

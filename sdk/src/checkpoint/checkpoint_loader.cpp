#include "fairseq2/checkpoint/checkpoint_loader.hpp"

#include <ATen/core/Dict.h>

#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2::checkpoint {

namespace {

bool has_fairseq2_marker(const c10::IValue& checkpoint)
{
    if (!checkpoint.isGenericDict())
        return false;
    for (const auto& item : checkpoint.toGenericDict())
        if (item.key().isString() && item.key().toStringRef() == "fs2")
            return true;
    return false;
}

}  // namespace

LoadedCheckpoint load_checkpoint(const std::filesystem::path& path)
{
    std::error_code error;
    if (!std::filesystem::exists(path, error))
        throw CheckpointError("The checkpoint '" + path.string() + "' does not exist.");
    if (std::filesystem::is_directory(path, error))
        throw CheckpointError("The checkpoint '" + path.string() + "' is a directory; pass the checkpoint file inside it.");
    c10::IValue checkpoint = read_torch_archive(path);
    LoadedCheckpoint loaded;
    loaded.fairseq2_layout = has_fairseq2_marker(checkpoint);
    loaded.state_dict = extract_state_dict(checkpoint, path.string());
    return loaded;
}

}  // namespace fairseq2::checkpoint

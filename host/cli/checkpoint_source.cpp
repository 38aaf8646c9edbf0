#include "checkpoint_source.hpp"


namespace fairseq2::cli {

CheckpointSource open_checkpoint(RuntimeContext& /*context*/, models::ModelHub& hub, const std::filesystem::path& path,
                                 const std::string& family, const std::string& arch, const std::vector<std::string>& sets,
                                 const checkpoint::LoadOptions& options)
{
    models::OpenedCheckpoint opened = hub.open_checkpoint(path, family, arch, models::ConfigOverrides{nullptr, sets}, options);
    return CheckpointSource{std::move(opened.handler), std::move(opened.config), std::move(opened.checkpoint)};
}

}  // namespace fairseq2::cli

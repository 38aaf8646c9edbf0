#include "fairseq2/host/host.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "fairseq2/error.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/plugin/plugin_api.hpp"

namespace fairseq2::host {

namespace {

using Library = boost::dll::shared_library;

std::string fixed_string(const char* chars, std::size_t size)
{
    return std::string(chars, strnlen(chars, size));
}

// Checks the handshake record of a loaded library; throws PluginError with
// the cause and the fix.
void check_handshake(const Fairseq2PluginInfo& info, const std::filesystem::path& file, PluginRecord& record)
{
    if (info.magic != FAIRSEQ2_PLUGIN_MAGIC)
        throw PluginError("its 'fairseq2_plugin_info' record is not a fairseq2 handshake (bad magic number); rebuild it with "
                          "fairseq2_add_plugin() and FAIRSEQ2_PLUGIN_INFO().");
    record.name = fixed_string(info.name, sizeof(info.name));
    record.version = fixed_string(info.version, sizeof(info.version));
    if (info.abi_version != FAIRSEQ2_SDK_ABI_VERSION)
        throw PluginError("it was built for SDK ABI " + std::to_string(info.abi_version) + ", but this host provides ABI " +
                          std::to_string(FAIRSEQ2_SDK_ABI_VERSION) + " (SDK " FAIRSEQ2_SDK_VERSION_STRING
                          "); rebuild the plugin against this SDK.");
    std::string torch_version = fixed_string(info.torch_version, sizeof(info.torch_version));
    if (torch_version != FAIRSEQ2_TORCH_VERSION_STRING)
        throw PluginError("it was built against libtorch " + torch_version + ", but this host uses libtorch " FAIRSEQ2_TORCH_VERSION_STRING
                          "; rebuild the plugin against the same libtorch.");
    if (info.cxx11_abi != _GLIBCXX_USE_CXX11_ABI)
        throw PluginError("it was built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(info.cxx11_abi) + ", but this host uses " +
                          std::to_string(_GLIBCXX_USE_CXX11_ABI) + "; rebuild the plugin with the same setting.");
    (void)file;
}

}  // namespace

struct Host::Impl {
    HostOptions options;
    RuntimeContext context{"host"};
    std::vector<PluginRecord> records;
    bool loaded = false;

    void load_one(const std::filesystem::path& file);
};

Host::Host(HostOptions options) : impl_{std::make_unique<Impl>()}
{
    impl_->options = std::move(options);
}

Host::~Host() = default;

RuntimeContext& Host::context() noexcept
{
    return impl_->context;
}

const std::vector<PluginRecord>& Host::plugins() const noexcept
{
    return impl_->records;
}

std::filesystem::path Host::default_plugin_dir()
{
    boost::system::error_code error;
    auto location = boost::dll::this_line_location(error);
    if (error)
        return {};
    return std::filesystem::path(location).parent_path() / "fairseq2" / "plugins";
}

std::vector<std::filesystem::path> Host::plugin_search_path() const
{
    std::vector<std::filesystem::path> dirs = impl_->options.plugin_dirs;
    if (impl_->options.use_plugin_path_env) {
        if (const char* env = std::getenv("FAIRSEQ2_PLUGIN_PATH"); env != nullptr) {
            std::stringstream stream(env);
            std::string item;
            while (std::getline(stream, item, ':'))
                if (!item.empty())
                    dirs.emplace_back(item);
        }
    }
    if (impl_->options.use_default_plugin_dir) {
        auto dir = default_plugin_dir();
        if (!dir.empty())
            dirs.push_back(dir);
    }
    std::vector<std::filesystem::path> unique;
    std::set<std::filesystem::path> seen;
    for (auto& dir : dirs) {
        std::error_code error;
        auto canonical = std::filesystem::weakly_canonical(dir, error);
        if (seen.insert(error ? dir : canonical).second)
            unique.push_back(dir);
    }
    return unique;
}

void Host::load_plugins()
{
    if (impl_->loaded)
        return;
    impl_->loaded = true;
    for (const auto& dir : plugin_search_path()) {
        std::error_code error;
        if (!std::filesystem::is_directory(dir, error)) {
            log().warn("The plugin folder '{}' does not exist; skipping it.", dir.string());
            continue;
        }
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(dir, error))
            if (entry.path().extension() == ".so" && !entry.is_directory())
                files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files)
            impl_->load_one(file);
    }
}

void Host::Impl::load_one(const std::filesystem::path& file)
{
    PluginRecord record;
    record.file = file;
    try {
        std::shared_ptr<Library> library;
        try {
            library = std::make_shared<Library>(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
        } catch (const std::exception& error) {
            throw PluginError(std::string("it cannot be loaded: ") + error.what() + ".");
        }
        if (!library->has("fairseq2_plugin_info"))
            throw PluginError("it has no 'fairseq2_plugin_info' handshake record, so it is not a fairseq2 plugin (or was not built with "
                              "FAIRSEQ2_PLUGIN_INFO()).");
        check_handshake(library->get<const Fairseq2PluginInfo>("fairseq2_plugin_info"), file, record);
        if (!library->has("setup_fairseq2_extension"))
            throw PluginError("it has no 'setup_fairseq2_extension' entry point; export it with FAIRSEQ2_PLUGIN_EXPORT.");
        auto& setup = library->get<Fairseq2SetupFunction>("setup_fairseq2_extension");

        // Stage the plugin's registrations, then commit them all or none.
        {
            RuntimeContext staged(file.string());
            std::string failure;
            try {
                setup(staged);
            } catch (const std::exception& error) {
                failure = std::string("its setup_fairseq2_extension() threw: ") + error.what();
            } catch (...) {
                failure = "its setup_fairseq2_extension() threw a non-standard exception";
            }
            if (!failure.empty())
                throw PluginError(failure + ".");
            record.families = staged.get_registry<models::ModelHandler>().keys();
            try {
                context.merge(staged, std::static_pointer_cast<const void>(library));
            } catch (const Error& error) {
                throw PluginError(std::string("its registrations conflict: ") + error.what());
            }
        }
        record.status = PluginStatus::loaded;
        log().debug("Loaded plugin '{}' {} from {} (families: {}).", record.name, record.version, file.string(),
                   record.families.empty() ? std::string("none") : [&] {
                       std::string list;
                       for (const auto& family : record.families)
                           list += (list.empty() ? "" : ", ") + family;
                       return list;
                   }());
    } catch (const PluginError& error) {
        record.status = PluginStatus::failed;
        record.families.clear();
        record.error = error.what();
        log().error("Skipping plugin {}: {}", file.string(), record.error);
    }
    records.push_back(std::move(record));
}

}  // namespace fairseq2::host

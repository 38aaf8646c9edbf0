#pragma once

// Reads a plugin library's handshake from its file without loading it: no
// code of the plugin runs and none of its dependencies is looked up. The host
// inspects every candidate before dlopen, so a plugin built for another SDK
// ABI or libtorch is refused with that cause rather than a loader error, and
// `fairseq2 plugins inspect FILE` prints what the file declares.

#include <cstdint>
#include <filesystem>
#include <string>

#include "fairseq2/error.hpp"

namespace fairseq2::host {

// A plugin file that cannot be inspected, checked or loaded. what() is one
// sentence, "Plugin 'FILE': REASON"; reason() is the part after the colon
// ("it is not a shared library ...; remove it from the plugin folder."),
// which names the cause and what to do.
class FAIRSEQ2_API PluginFileError : public PluginError {
public:
    PluginFileError(std::filesystem::path file, std::string reason);
    ~PluginFileError() override;

    const std::filesystem::path& file() const noexcept { return file_; }
    const std::string& reason() const noexcept { return reason_; }

private:
    std::filesystem::path file_;
    std::string reason_;
};

// What a plugin file declares in its Fairseq2PluginInfo record.
struct PluginHandshake {
    std::filesystem::path file;
    std::string name;
    std::string version;
    std::uint32_t abi_version = 0;
    std::string sdk_version;
    std::string torch_version;
    std::int32_t cxx11_abi = 0;
    // Whether it exports setup_fairseq2_extension.
    bool has_entry_point = false;
};

// Reads the handshake of `file`. Throws PluginFileError when the file cannot
// be read, is not a shared library for this machine, is a damaged ELF file,
// or has no valid 'fairseq2_plugin_info' record (missing, hidden, of the
// wrong size, or with a bad magic number). Never loads the file.
FAIRSEQ2_API PluginHandshake inspect_plugin(const std::filesystem::path& file);

// Why this host cannot load a plugin with `handshake` (a reason as in
// PluginFileError::reason(): the mismatch, both values and the fix), or ""
// when it can: same SDK ABI, libtorch major.minor and _GLIBCXX_USE_CXX11_ABI,
// and an entry point.
FAIRSEQ2_API std::string incompatibility(const PluginHandshake& handshake);

}  // namespace fairseq2::host

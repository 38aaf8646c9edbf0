#include "fairseq2/host/plugin_inspector.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/library_info.hpp>

#include "elf_file.hpp"
#include "fairseq2/plugin/plugin_api.hpp"

namespace fairseq2::host {

namespace {

using detail::ElfFile;
using detail::ElfFileError;

constexpr const char* info_symbol = "fairseq2_plugin_info";
constexpr const char* info_section = ".fairseq2_plugin";
constexpr const char* entry_symbol = "setup_fairseq2_extension";

const std::string not_a_plugin = std::string("it has no '") + info_symbol +
                                 "' handshake record, so it is not a fairseq2 plugin; build it with fairseq2_add_plugin() and "
                                 "FAIRSEQ2_PLUGIN_INFO(), or remove it from the plugin folder.";

std::string fixed_string(const char* chars, std::size_t size)
{
    return std::string(chars, strnlen(chars, size));
}

bool contains(const std::vector<std::string>& names, const std::string& name)
{
    return std::find(names.begin(), names.end(), name) != names.end();
}

// The reason of an ElfFileError, with what to do about it.
std::string reason_of(const ElfFileError& error)
{
    switch (error.kind()) {
        case ElfFileError::Kind::unreadable:
            return std::string("it cannot be read (") + error.what() + "); check that it exists and that you may read it.";
        case ElfFileError::Kind::not_elf:
            return std::string("it is not a shared library (") + error.what() +
                   "); remove it from the plugin folder, which should hold only plugin libraries.";
        case ElfFileError::Kind::unsupported:
            return std::string("it is not a shared library this host can load (") + error.what() +
                   "); rebuild it for this machine with fairseq2_add_plugin().";
        case ElfFileError::Kind::damaged:
            break;
    }
    return std::string("it is a damaged ELF file (") + error.what() + "); it was probably truncated while copied, so rebuild or reinstall it.";
}

}  // namespace

PluginFileError::PluginFileError(std::filesystem::path file, std::string reason)
    : PluginError("Plugin '" + file.string() + "': " + reason), file_{std::move(file)}, reason_{std::move(reason)}
{
}

PluginFileError::~PluginFileError() = default;

PluginHandshake inspect_plugin(const std::filesystem::path& file)
{
    try {
        ElfFile elf(file);

        // Boost.DLL names the exported symbols of the handshake section and
        // of the library; ElfFile has checked that every section it reads
        // lies within the file.
        std::vector<std::string> sections;
        std::vector<std::string> info_symbols;
        std::vector<std::string> symbols;
        try {
            boost::dll::library_info info(file);
            sections = info.sections();
            if (contains(sections, info_section))
                info_symbols = info.symbols(info_section);
            symbols = info.symbols();
        } catch (const std::exception& error) {
            throw ElfFileError(ElfFileError::Kind::damaged, std::string("its symbol tables cannot be read: ") + error.what());
        }
        if (!contains(info_symbols, info_symbol))
            throw PluginFileError(file, not_a_plugin);

        // Where the record lies in the file: its section's file offset plus
        // its distance from the section's start address.
        const auto symbol = elf.find_dynamic_symbol(info_symbol);
        if (!symbol || !symbol->exported)
            throw PluginFileError(file, not_a_plugin);
        if (symbol->size != sizeof(Fairseq2PluginInfo))
            throw PluginFileError(file, std::string("its '") + info_symbol + "' record is " + std::to_string(symbol->size) +
                                            " bytes long, but this host (SDK " FAIRSEQ2_SDK_VERSION_STRING ") expects " +
                                            std::to_string(sizeof(Fairseq2PluginInfo)) + "; rebuild the plugin against this SDK.");
        if (symbol->section_index >= elf.sections().size())
            throw ElfFileError(ElfFileError::Kind::damaged, std::string("its '") + info_symbol + "' symbol names section " +
                                                                std::to_string(symbol->section_index) + ", which does not exist");
        const ElfFile::Section& section = elf.sections()[symbol->section_index];
        if (section.name != info_section || symbol->value < section.address || symbol->value - section.address > section.size ||
            section.size - (symbol->value - section.address) < sizeof(Fairseq2PluginInfo))
            throw PluginFileError(file, std::string("its '") + info_symbol + "' record is not in the '" + info_section +
                                            "' section; declare it with FAIRSEQ2_PLUGIN_INFO() and rebuild the plugin.");
        const std::string bytes = elf.read(section.offset + (symbol->value - section.address), sizeof(Fairseq2PluginInfo),
                                           std::string("its '") + info_symbol + "' record");

        Fairseq2PluginInfo info;
        std::memcpy(&info, bytes.data(), sizeof(info));
        if (info.magic != FAIRSEQ2_PLUGIN_MAGIC)
            throw PluginFileError(file, std::string("its '") + info_symbol +
                                            "' record is not a fairseq2 handshake (bad magic number); rebuild it with "
                                            "fairseq2_add_plugin() and FAIRSEQ2_PLUGIN_INFO().");

        PluginHandshake handshake;
        handshake.file = file;
        handshake.name = fixed_string(info.name, sizeof(info.name));
        handshake.version = fixed_string(info.version, sizeof(info.version));
        handshake.abi_version = info.abi_version;
        handshake.sdk_version = fixed_string(info.sdk_version, sizeof(info.sdk_version));
        handshake.torch_version = fixed_string(info.torch_version, sizeof(info.torch_version));
        handshake.cxx11_abi = info.cxx11_abi;
        const auto entry = elf.find_dynamic_symbol(entry_symbol);
        handshake.has_entry_point = contains(symbols, entry_symbol) && entry && entry->exported;
        return handshake;
    } catch (const ElfFileError& error) {
        throw PluginFileError(file, reason_of(error));
    }
}

std::string incompatibility(const PluginHandshake& handshake)
{
    if (handshake.abi_version != FAIRSEQ2_SDK_ABI_VERSION)
        return "it was built for SDK ABI " + std::to_string(handshake.abi_version) + ", but this host provides ABI " +
               std::to_string(FAIRSEQ2_SDK_ABI_VERSION) + " (SDK " FAIRSEQ2_SDK_VERSION_STRING "); rebuild the plugin against this SDK.";
    if (handshake.torch_version != FAIRSEQ2_TORCH_VERSION_STRING)
        return "it was built against libtorch " + handshake.torch_version +
               ", but this host uses libtorch " FAIRSEQ2_TORCH_VERSION_STRING "; rebuild the plugin against the same libtorch.";
    if (handshake.cxx11_abi != _GLIBCXX_USE_CXX11_ABI)
        return "it was built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(handshake.cxx11_abi) + ", but this host uses " +
               std::to_string(_GLIBCXX_USE_CXX11_ABI) + "; rebuild the plugin with the same setting.";
    if (!handshake.has_entry_point)
        return std::string("it has no '") + entry_symbol +
               "' entry point; define it in the plugin's extension.cpp with FAIRSEQ2_PLUGIN_EXPORT and rebuild the plugin.";
    return {};
}

}  // namespace fairseq2::host

// Reading a plugin's handshake from its file without loading it: the real
// llama plugin and the fixtures, then truncated and corrupted copies, which
// must all be refused with a reason (never read past their end, never crash).

#include <elf.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fairseq2/host/plugin_inspector.hpp"
#include "fairseq2/plugin/plugin_api.hpp"
#include "fairseq2/version.hpp"
#include "host/plugin_test_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::host::incompatibility;
using fairseq2::host::inspect_plugin;
using fairseq2::host::PluginFileError;
using fairseq2::host::PluginHandshake;
using fairseq2::test::fixture;
using fairseq2::test::fixture_dir;
using fairseq2::test::library_is_loaded;
using fairseq2::test::llama_so;
using fairseq2::test::read_file;
using fairseq2::test::TempDir;
using fairseq2::test::write_file;

const std::string damaged = "it is a damaged ELF file (";
const std::string damaged_fix = "); it was probably truncated while copied, so rebuild or reinstall it.";

// The reason inspect_plugin() gives for `file` ("" when it reads it).
std::string reason_for(const fs::path& file)
{
    try {
        (void)inspect_plugin(file);
        return "";
    } catch (const PluginFileError& error) {
        EXPECT_EQ(error.file(), file);
        EXPECT_EQ(std::string(error.what()), "Plugin '" + file.string() + "': " + error.reason());
        return error.reason();
    }
}

Elf64_Ehdr header_of(const std::string& bytes)
{
    Elf64_Ehdr header;
    std::memcpy(&header, bytes.data(), sizeof(header));
    return header;
}

// A copy of `source` at `file` with its ELF header changed by `patch`.
void with_header(const fs::path& source, const fs::path& file, const std::function<void(Elf64_Ehdr&)>& patch)
{
    std::string bytes = read_file(source);
    Elf64_Ehdr header = header_of(bytes);
    patch(header);
    std::memcpy(bytes.data(), &header, sizeof(header));
    write_file(file, bytes);
}

TEST(PluginInspectorTest, ReadsTheLlamaHandshakeWithoutLoadingIt)
{
    TempDir dir;
    const fs::path file = dir / "libfairseq2_llama.so";
    fs::copy_file(llama_so, file);

    const PluginHandshake handshake = inspect_plugin(file);
    EXPECT_EQ(handshake.file, file);
    EXPECT_EQ(handshake.name, "llama");
    EXPECT_EQ(handshake.version, FAIRSEQ2_SDK_VERSION_STRING);
    EXPECT_EQ(handshake.abi_version, static_cast<std::uint32_t>(FAIRSEQ2_SDK_ABI_VERSION));
    EXPECT_EQ(handshake.sdk_version, FAIRSEQ2_SDK_VERSION_STRING);
    EXPECT_EQ(handshake.torch_version, FAIRSEQ2_TORCH_VERSION_STRING);
    EXPECT_EQ(handshake.cxx11_abi, _GLIBCXX_USE_CXX11_ABI);
    EXPECT_TRUE(handshake.has_entry_point);
    EXPECT_EQ(incompatibility(handshake), "");
    EXPECT_FALSE(library_is_loaded(file));
}

TEST(PluginInspectorTest, ReadsTheFixturesWithoutLoadingThem)
{
    const PluginHandshake abi = inspect_plugin(fixture("abi_major"));
    EXPECT_EQ(abi.name, "fixture_abi_major");
    EXPECT_EQ(abi.abi_version, static_cast<std::uint32_t>(FAIRSEQ2_SDK_ABI_VERSION + 1));
    EXPECT_TRUE(abi.has_entry_point);
    EXPECT_EQ(incompatibility(abi), "it was built for SDK ABI " + std::to_string(FAIRSEQ2_SDK_ABI_VERSION + 1) +
                                        ", but this host provides ABI " + std::to_string(FAIRSEQ2_SDK_ABI_VERSION) +
                                        " (SDK " FAIRSEQ2_SDK_VERSION_STRING "); rebuild the plugin against this SDK.");

    const PluginHandshake torch = inspect_plugin(fixture("other_torch"));
    EXPECT_EQ(torch.torch_version, "2.1");
    EXPECT_EQ(incompatibility(torch), "it was built against libtorch 2.1, but this host uses libtorch " FAIRSEQ2_TORCH_VERSION_STRING
                                      "; rebuild the plugin against the same libtorch.");

    const PluginHandshake no_entry = inspect_plugin(fixture("no_entry"));
    EXPECT_EQ(no_entry.name, "fixture_no_entry");
    EXPECT_FALSE(no_entry.has_entry_point);
    EXPECT_EQ(incompatibility(no_entry), "it has no 'setup_fairseq2_extension' entry point; define it in the plugin's extension.cpp with "
                                         "FAIRSEQ2_PLUGIN_EXPORT and rebuild the plugin.");

    // Its missing library is the loader's business: the file itself is fine.
    const PluginHandshake missing = inspect_plugin(fixture("missing_dependency"));
    EXPECT_EQ(missing.name, "fixture_missing_dependency");
    EXPECT_EQ(incompatibility(missing), "");

    PluginHandshake cxx11 = inspect_plugin(fixture("basic"));
    EXPECT_EQ(incompatibility(cxx11), "");
    cxx11.cxx11_abi = _GLIBCXX_USE_CXX11_ABI ? 0 : 1;
    EXPECT_EQ(incompatibility(cxx11), "it was built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(cxx11.cxx11_abi) + ", but this host uses " +
                                          std::to_string(_GLIBCXX_USE_CXX11_ABI) + "; rebuild the plugin with the same setting.");

    EXPECT_EQ(reason_for(fixture_dir / "not_a_library.so"),
              "it is not a shared library (it does not start with the ELF magic number); remove it from the plugin folder, which should "
              "hold only plugin libraries.");
    EXPECT_EQ(reason_for(fixture_dir / "truncated.so").rfind(damaged + "its section header table (", 0), 0u);

    for (const char* name : {"abi_major", "other_torch", "no_entry", "missing_dependency", "basic"})
        EXPECT_FALSE(library_is_loaded(fixture(name))) << name;
}

TEST(PluginInspectorTest, UnreadableFilesAreReported)
{
    TempDir dir;
    const fs::path missing = dir / "missing.so";
    const std::string reason = reason_for(missing);
    EXPECT_EQ(reason.rfind("it cannot be read (", 0), 0u) << reason;
    EXPECT_NE(reason.find("No such file or directory"), std::string::npos) << reason;
    EXPECT_NE(reason.find("); check that it exists and that you may read it."), std::string::npos) << reason;
}

TEST(PluginInspectorTest, EveryTruncationIsRefusedWithItsReason)
{
    TempDir dir;
    const std::string bytes = read_file(fixture("basic"));
    ASSERT_GT(bytes.size(), 8192u);
    const fs::path file = dir / "cut.so";
    auto cut = [&](std::size_t size) {
        write_file(file, bytes.substr(0, size));
        return reason_for(file);
    };
    const std::string not_elf =
        "it is not a shared library (it does not start with the ELF magic number); remove it from the plugin folder, which should hold "
        "only plugin libraries.";
    EXPECT_EQ(cut(0), not_elf);
    EXPECT_EQ(cut(3), not_elf);
    for (std::size_t size : {4, 5, 15})
        EXPECT_EQ(cut(size), damaged + "its ELF identification is cut short" + damaged_fix) << size;
    for (std::size_t size : {16, 17, 63})
        EXPECT_EQ(cut(size), damaged + "its 64-byte ELF header is cut short" + damaged_fix) << size;
    const Elf64_Ehdr header = header_of(bytes);
    const std::string table = damaged + "its section header table (" + std::to_string(header.e_shnum) + " headers from byte " +
                              std::to_string(header.e_shoff) + ") ends past the end of the file" + damaged_fix;
    for (std::size_t size : {std::size_t{64}, std::size_t{4096}, bytes.size() / 2, bytes.size() - 1})
        EXPECT_EQ(cut(size), table) << size;
    EXPECT_EQ(cut(bytes.size()), "");
}

TEST(PluginInspectorTest, CorruptHeadersAreRefusedWithTheirReason)
{
    TempDir dir;
    const fs::path source = fixture("basic");
    const fs::path file = dir / "corrupt.so";
    const std::string unsupported_fix = "); rebuild it for this machine with fairseq2_add_plugin().";

    with_header(source, file, [](Elf64_Ehdr& h) { h.e_ident[EI_CLASS] = ELFCLASS32; });
    EXPECT_EQ(reason_for(file), "it is not a shared library this host can load (it is a 32-bit ELF file, but this host is 64-bit" + unsupported_fix);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_ident[EI_DATA] = ELFDATA2MSB; });
    EXPECT_EQ(reason_for(file), "it is not a shared library this host can load (it is not a little-endian ELF file" + unsupported_fix);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_type = ET_EXEC; });
    EXPECT_EQ(reason_for(file), "it is not a shared library this host can load (it is an executable, not a shared library" + unsupported_fix);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_machine = EM_AARCH64 == h.e_machine ? EM_X86_64 : EM_AARCH64; });
    EXPECT_EQ(reason_for(file).rfind("it is not a shared library this host can load (it is built for ELF machine ", 0), 0u) << reason_for(file);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_shoff = ~Elf64_Off{0} - 16; });
    EXPECT_EQ(reason_for(file).rfind(damaged + "its section header table (", 0), 0u) << reason_for(file);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_shnum = 0xfeff; });
    EXPECT_EQ(reason_for(file).rfind(damaged + "its section header table (65279 headers from byte ", 0), 0u) << reason_for(file);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_shstrndx = static_cast<Elf64_Half>(h.e_shnum + 3); });
    EXPECT_EQ(reason_for(file), damaged + "its section name table index " + std::to_string(header_of(read_file(source)).e_shnum + 3) +
                                    " is out of range" + damaged_fix);
    with_header(source, file, [](Elf64_Ehdr& h) { h.e_shentsize = 40; });
    EXPECT_EQ(reason_for(file), damaged + "its section headers are 40 bytes long instead of 64" + damaged_fix);

    // A section that claims to extend past the end of the file.
    {
        std::string bytes = read_file(source);
        const Elf64_Ehdr header = header_of(bytes);
        Elf64_Shdr section;
        const std::size_t at = header.e_shoff + sizeof(Elf64_Shdr) * 1;
        std::memcpy(&section, bytes.data() + at, sizeof(section));
        section.sh_type = SHT_PROGBITS;
        section.sh_size = bytes.size();
        std::memcpy(bytes.data() + at, &section, sizeof(section));
        write_file(file, bytes);
        const std::string reason = reason_for(file);
        EXPECT_EQ(reason.rfind(damaged + "its section 1 (bytes ", 0), 0u) << reason;
    }
}

TEST(PluginInspectorTest, RandomCorruptionNeverEscapesAsAnythingButAReason)
{
    // Flip bytes of the ELF header and the section header table, the parts
    // the inspector trusts least, and check every outcome is a handshake or
    // a PluginFileError with a reason.
    TempDir dir;
    const std::string bytes = read_file(fixture("basic"));
    const Elf64_Ehdr header = header_of(bytes);
    const std::size_t table_begin = header.e_shoff;
    const std::size_t table_size = static_cast<std::size_t>(header.e_shnum) * sizeof(Elf64_Shdr);
    ASSERT_LE(table_begin + table_size, bytes.size());
    const fs::path file = dir / "fuzzed.so";

    std::mt19937 random(20240601);
    int refused = 0;
    for (int round = 0; round < 300; ++round) {
        std::string copy = bytes;
        const int flips = 1 + static_cast<int>(random() % 4);
        for (int i = 0; i < flips; ++i) {
            const bool in_header = random() % 3 == 0;
            const std::size_t at = in_header ? random() % sizeof(Elf64_Ehdr) : table_begin + random() % table_size;
            copy[at] = static_cast<char>(random() % 256);
        }
        write_file(file, copy);
        try {
            const PluginHandshake handshake = inspect_plugin(file);
            EXPECT_EQ(handshake.file, file);
        } catch (const PluginFileError& error) {
            EXPECT_FALSE(error.reason().empty());
            EXPECT_TRUE(error.reason().back() == '.') << error.reason();
            ++refused;
        } catch (const std::exception& error) {
            ADD_FAILURE() << "round " << round << ": " << error.what();
        }
    }
    // Most corruptions of these parts are caught.
    EXPECT_GT(refused, 30);
    EXPECT_FALSE(library_is_loaded(file));
}

}  // namespace

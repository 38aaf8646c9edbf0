#pragma once

// A bounds-checked reader of the parts of an ELF64 shared library the plugin
// inspector needs: the header, the section headers and the dynamic symbols.
// Every offset and size is checked against the file before it is used, so a
// truncated or corrupt file is reported, never read past its end (and only
// then is it safe to hand to boost::dll::library_info, which trusts them).

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fairseq2::host::detail {

class ElfFileError : public std::runtime_error {
public:
    enum class Kind {
        unreadable,   // cannot be opened or read
        not_elf,      // no ELF magic number
        unsupported,  // ELF, but not a 64-bit little-endian shared library for this machine
        damaged,      // headers or sections outside the file
    };

    ElfFileError(Kind kind, const std::string& detail) : std::runtime_error(detail), kind_{kind} {}

    Kind kind() const noexcept { return kind_; }

private:
    Kind kind_;
};

class ElfFile {
public:
    struct Section {
        std::string name;
        std::uint32_t type = 0;
        std::uint64_t address = 0;
        std::uint64_t offset = 0;
        std::uint64_t size = 0;
        std::uint32_t link = 0;  // sh_link: for a symbol table, its string table
    };

    // A defined symbol of .dynsym.
    struct Symbol {
        std::uint64_t value = 0;
        std::uint64_t size = 0;
        std::uint16_t section_index = 0;
        // Global or weak, with default or protected visibility: what dlsym finds.
        bool exported = false;
    };

    // Reads and checks the header and every section header; throws
    // ElfFileError with a fragment naming the problem ("its section header
    // table ends at byte 9000, past the end of the file").
    explicit ElfFile(const std::filesystem::path& path);

    std::uint64_t file_size() const noexcept { return file_size_; }

    const std::vector<Section>& sections() const noexcept { return sections_; }

    // The first section named `name`, or null.
    const Section* find_section(std::string_view name) const;

    // The defined .dynsym symbol named `name`, or nullopt.
    std::optional<Symbol> find_dynamic_symbol(std::string_view name);

    // `size` bytes at file offset `offset`; throws ElfFileError (damaged)
    // when they are not all in the file.
    std::string read(std::uint64_t offset, std::uint64_t size, const std::string& what);

private:
    std::ifstream stream_;
    std::uint64_t file_size_ = 0;
    std::vector<Section> sections_;
};

}  // namespace fairseq2::host::detail

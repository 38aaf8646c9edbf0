#include "elf_file.hpp"

#include <elf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

namespace fairseq2::host::detail {

namespace {

using Kind = ElfFileError::Kind;

#if defined(__x86_64__)
constexpr std::uint16_t host_machine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::uint16_t host_machine = EM_AARCH64;
#elif defined(__powerpc64__)
constexpr std::uint16_t host_machine = EM_PPC64;
#else
constexpr std::uint16_t host_machine = EM_NONE;  // not checked
#endif

std::string str(std::uint64_t value)
{
    return std::to_string(value);
}

// Whether [offset, offset + size) lies within a file of `file_size` bytes.
bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t file_size)
{
    return offset <= file_size && size <= file_size - offset;
}

std::string type_description(std::uint16_t type)
{
    switch (type) {
        case ET_REL:
            return "a relocatable object file";
        case ET_EXEC:
            return "an executable";
        case ET_CORE:
            return "a core dump";
        default:
            return "an ELF file of type " + str(type);
    }
}

}  // namespace

ElfFile::ElfFile(const std::filesystem::path& path)
{
    std::error_code error;
    const auto size = std::filesystem::file_size(path, error);
    if (error)
        throw ElfFileError(Kind::unreadable, error.message());
    file_size_ = size;
    stream_.open(path, std::ios::binary);
    if (!stream_)
        throw ElfFileError(Kind::unreadable, std::strerror(errno));

    const std::uint64_t head_size = std::min<std::uint64_t>(file_size_, sizeof(Elf64_Ehdr));
    std::string head = read(0, head_size, "its ELF header");
    if (head.size() < SELFMAG || std::memcmp(head.data(), ELFMAG, SELFMAG) != 0)
        throw ElfFileError(Kind::not_elf, "it does not start with the ELF magic number");
    if (head.size() < EI_NIDENT)
        throw ElfFileError(Kind::damaged, "its ELF identification is cut short");
    const auto elf_class = static_cast<unsigned char>(head[EI_CLASS]);
    if (elf_class != ELFCLASS64)
        throw ElfFileError(Kind::unsupported, elf_class == ELFCLASS32 ? "it is a 32-bit ELF file, but this host is 64-bit"
                                                                      : "its ELF class " + str(elf_class) + " is unknown");
    if (static_cast<unsigned char>(head[EI_DATA]) != ELFDATA2LSB)
        throw ElfFileError(Kind::unsupported, "it is not a little-endian ELF file");
    if (head.size() < sizeof(Elf64_Ehdr))
        throw ElfFileError(Kind::damaged, "its " + str(sizeof(Elf64_Ehdr)) + "-byte ELF header is cut short");

    Elf64_Ehdr header;
    std::memcpy(&header, head.data(), sizeof(header));
    if (header.e_type != ET_DYN)
        throw ElfFileError(Kind::unsupported, "it is " + type_description(header.e_type) + ", not a shared library");
    if (host_machine != EM_NONE && header.e_machine != host_machine)
        throw ElfFileError(Kind::unsupported,
                           "it is built for ELF machine " + str(header.e_machine) + ", but this host runs on machine " + str(host_machine));
    if (header.e_shoff == 0)
        throw ElfFileError(Kind::unsupported, "it has no section header table");
    if (header.e_shentsize != sizeof(Elf64_Shdr))
        throw ElfFileError(Kind::damaged,
                           "its section headers are " + str(header.e_shentsize) + " bytes long instead of " + str(sizeof(Elf64_Shdr)));

    // 0xff00 sections or more move the count into section header 0, which
    // Boost.DLL does not read; no plugin comes near that.
    const std::uint64_t count = header.e_shnum;
    const std::uint64_t names_index = header.e_shstrndx;
    if (count == 0 || names_index == SHN_XINDEX)
        throw ElfFileError(Kind::unsupported, "it uses extended section numbering (65280 sections or more)");
    if (count > file_size_ / sizeof(Elf64_Shdr) ||
        !fits(header.e_shoff, count * sizeof(Elf64_Shdr), file_size_))
        throw ElfFileError(Kind::damaged, "its section header table (" + str(count) + " headers from byte " + str(header.e_shoff) +
                                              ") ends past the end of the file");
    if (names_index == SHN_UNDEF || names_index >= count)
        throw ElfFileError(Kind::damaged, "its section name table index " + str(names_index) + " is out of range");

    const std::string header_bytes = read(header.e_shoff, count * sizeof(Elf64_Shdr), "its section header table");
    std::vector<Elf64_Shdr> raw(count);
    std::memcpy(raw.data(), header_bytes.data(), header_bytes.size());

    for (std::uint64_t i = 0; i < count; ++i) {
        const Elf64_Shdr& section = raw[i];
        if (section.sh_type != SHT_NOBITS && section.sh_type != SHT_NULL && !fits(section.sh_offset, section.sh_size, file_size_))
            throw ElfFileError(Kind::damaged, "its section " + str(i) + " (bytes " + str(section.sh_offset) + " to " +
                                                  str(section.sh_offset + section.sh_size) + ") ends past the end of the file");
    }

    const Elf64_Shdr& names_section = raw[names_index];
    if (names_section.sh_type != SHT_STRTAB)
        throw ElfFileError(Kind::damaged, "its section name table (section " + str(names_index) + ") is not a string table");
    const std::string names = read(names_section.sh_offset, names_section.sh_size, "its section name table");

    sections_.reserve(count);
    for (const Elf64_Shdr& section : raw) {
        Section entry;
        if (section.sh_name < names.size())
            entry.name = std::string(names.c_str() + section.sh_name, strnlen(names.c_str() + section.sh_name, names.size() - section.sh_name));
        entry.type = section.sh_type;
        entry.address = section.sh_addr;
        entry.offset = section.sh_offset;
        entry.size = section.sh_size;
        entry.link = section.sh_link;
        sections_.push_back(std::move(entry));
    }
}

const ElfFile::Section* ElfFile::find_section(std::string_view name) const
{
    for (const auto& section : sections_)
        if (section.name == name)
            return &section;
    return nullptr;
}

std::optional<ElfFile::Symbol> ElfFile::find_dynamic_symbol(std::string_view name)
{
    const Section* symbols = nullptr;
    for (const auto& section : sections_)
        if (section.type == SHT_DYNSYM)
            symbols = &section;
    if (symbols == nullptr)
        return std::nullopt;

    // The string table of .dynsym is the section its sh_link names.
    if (symbols->link >= sections_.size() || sections_[symbols->link].type != SHT_STRTAB)
        throw ElfFileError(Kind::damaged, "the string table of its dynamic symbol table (section " + str(symbols->link) + ") is not a string table");
    const Section* strings = &sections_[symbols->link];

    const std::string table = read(symbols->offset, symbols->size - symbols->size % sizeof(Elf64_Sym), "its dynamic symbol table");
    const std::string text = read(strings->offset, strings->size, "its dynamic string table");
    for (std::size_t at = 0; at + sizeof(Elf64_Sym) <= table.size(); at += sizeof(Elf64_Sym)) {
        Elf64_Sym symbol;
        std::memcpy(&symbol, table.data() + at, sizeof(symbol));
        if (symbol.st_shndx == SHN_UNDEF || symbol.st_name >= text.size())
            continue;
        const char* symbol_name = text.c_str() + symbol.st_name;
        if (std::string_view(symbol_name, strnlen(symbol_name, text.size() - symbol.st_name)) != name)
            continue;
        const unsigned binding = ELF64_ST_BIND(symbol.st_info);
        const unsigned visibility = ELF64_ST_VISIBILITY(symbol.st_other);
        Symbol found;
        found.value = symbol.st_value;
        found.size = symbol.st_size;
        found.section_index = symbol.st_shndx;
        found.exported = (binding == STB_GLOBAL || binding == STB_WEAK || binding == STB_GNU_UNIQUE) &&
                         (visibility == STV_DEFAULT || visibility == STV_PROTECTED);
        return found;
    }
    return std::nullopt;
}

std::string ElfFile::read(std::uint64_t offset, std::uint64_t size, const std::string& what)
{
    if (!fits(offset, size, file_size_))
        throw ElfFileError(Kind::damaged, what + " (bytes " + str(offset) + " to " + str(offset + size) + ") ends past the end of the file");
    if (size > static_cast<std::uint64_t>(std::numeric_limits<std::streamsize>::max()))
        throw ElfFileError(Kind::damaged, what + " is too large to read");
    std::string bytes(static_cast<std::size_t>(size), '\0');
    stream_.clear();
    stream_.seekg(static_cast<std::streamoff>(offset));
    stream_.read(bytes.data(), static_cast<std::streamsize>(size));
    if (!stream_ || static_cast<std::uint64_t>(stream_.gcount()) != size)
        throw ElfFileError(Kind::unreadable, "reading " + what + " failed");
    return bytes;
}

}  // namespace fairseq2::host::detail

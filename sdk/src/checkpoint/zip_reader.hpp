#pragma once

// Reading the zip container of a torch.save archive (internal to the SDK).
//
// The whole central directory is read and checked before a single record is
// loaded, so a hostile file cannot make the reader allocate what the file
// does not hold: every record lies inside the file, records do not overlap,
// and their number is bounded by the directory's size. torch.save stores its
// records uncompressed; a compressed, encrypted or multi-disk entry is
// refused rather than inflated. Zip64 (archives and records over 4 GiB) is
// read. CRC-32 checksums are verified as records are read.
//
// No torch here: the fuzzer builds this file alone.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fairseq2::checkpoint::detail {

// What is wrong with a zip container, as a phrase ("the central directory
// ends past the end of the file"); callers add the file's name.
class ZipError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct ZipRecord {
    std::string name;             // the full name in the archive ("archive/data/0")
    std::uint64_t offset = 0;     // of the record's bytes in the file
    std::uint64_t size = 0;
    std::uint32_t crc32 = 0;
};

class ZipReader {
public:
    // Opens `path` and reads its central directory. Throws ZipError for a
    // damaged container, std::system_error when the file cannot be read.
    explicit ZipReader(const std::filesystem::path& path);
    ~ZipReader();

    ZipReader(const ZipReader&) = delete;
    ZipReader& operator=(const ZipReader&) = delete;

    std::uint64_t file_size() const noexcept { return file_size_; }

    // The records in directory order.
    const std::vector<ZipRecord>& records() const noexcept { return records_; }

    // The record of that full name, or nullptr.
    const ZipRecord* find(std::string_view name) const;

    // Reads a record's bytes into `out` (record.size bytes) and checks its
    // CRC-32 (a stored CRC of 0 is taken as "not recorded" for records
    // that are not empty). Throws ZipError on a mismatch or a short read.
    void read(const ZipRecord& record, void* out) const;

    // The same into a string (small records: byteorder, version).
    std::string read_string(const ZipRecord& record) const;

private:
    void read_at(std::uint64_t offset, void* out, std::size_t n) const;
    void read_directory();

    int fd_ = -1;
    std::uint64_t file_size_ = 0;
    std::vector<ZipRecord> records_;
    std::unordered_map<std::string_view, std::size_t> by_name_;
};

}  // namespace fairseq2::checkpoint::detail

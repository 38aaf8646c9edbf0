#include "zip_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace fairseq2::checkpoint::detail {
namespace {

constexpr std::uint32_t local_header_signature = 0x04034b50;
constexpr std::uint32_t central_header_signature = 0x02014b50;
constexpr std::uint32_t end_signature = 0x06054b50;
constexpr std::uint32_t zip64_end_signature = 0x06064b50;
constexpr std::uint32_t zip64_locator_signature = 0x07064b50;

constexpr std::size_t local_header_size = 30;
constexpr std::size_t central_header_size = 46;
constexpr std::size_t end_record_size = 22;
constexpr std::size_t zip64_end_record_size = 56;
constexpr std::size_t zip64_locator_size = 20;
constexpr std::size_t max_comment_size = 0xffff;

std::uint64_t le(const unsigned char* p, int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(le(p, 2)); }
std::uint32_t le32(const unsigned char* p) { return static_cast<std::uint32_t>(le(p, 4)); }
std::uint64_t le64(const unsigned char* p) { return le(p, 8); }

[[noreturn]] void fail(const std::string& reason) {
    throw ZipError(reason);
}

// "record 'archive/data/0'" for messages; names are shown as stored, with
// control bytes escaped.
std::string record_name(std::string_view name) {
    std::string out = "record '";
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    return out + "'";
}

bool add_overflows(std::uint64_t a, std::uint64_t b, std::uint64_t& sum) {
    return __builtin_add_overflow(a, b, &sum);
}

}  // namespace

ZipReader::ZipReader(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "cannot open the file");
    }
    try {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            throw std::system_error(errno, std::generic_category(), "cannot stat the file");
        }
        file_size_ = static_cast<std::uint64_t>(st.st_size);
        read_directory();
    } catch (...) {
        ::close(fd_);
        throw;
    }
}

ZipReader::~ZipReader() {
    ::close(fd_);
}

void ZipReader::read_at(std::uint64_t offset, void* out, std::size_t n) const {
    auto* dst = static_cast<char*>(out);
    std::uint64_t end = 0;
    if (add_overflows(offset, n, end) || end > file_size_) {
        fail("a read of " + std::to_string(n) + " bytes at offset " + std::to_string(offset) +
             " goes past the end of the file (" + std::to_string(file_size_) + " bytes)");
    }
    while (n > 0) {
        ssize_t got = ::pread(fd_, dst, n, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::system_error(errno, std::generic_category(), "cannot read the file");
        }
        if (got == 0) {
            fail("the file ends at byte " + std::to_string(offset) + ", before the " + std::to_string(file_size_) +
                 " bytes it had when opened; it was truncated while being read");
        }
        dst += got;
        n -= static_cast<std::size_t>(got);
        offset += static_cast<std::uint64_t>(got);
    }
}

void ZipReader::read_directory() {
    if (file_size_ < end_record_size) {
        fail("the file is " + std::to_string(file_size_) + " bytes long, too short to hold a zip directory");
    }

    // The end-of-central-directory record: the last one whose comment fits
    // in what follows it.
    std::size_t tail_size = static_cast<std::size_t>(std::min<std::uint64_t>(file_size_, end_record_size + max_comment_size));
    std::vector<unsigned char> tail(tail_size);
    std::uint64_t tail_offset = file_size_ - tail_size;
    read_at(tail_offset, tail.data(), tail_size);
    std::size_t end_pos = tail_size;
    for (std::size_t i = tail_size - end_record_size + 1; i-- > 0;) {
        if (le32(&tail[i]) == end_signature && i + end_record_size + le16(&tail[i + 20]) <= tail_size) {
            end_pos = i;
            break;
        }
    }
    if (end_pos == tail_size) {
        fail("it has no end-of-central-directory record; the file is truncated or not a zip archive");
    }
    const unsigned char* end = &tail[end_pos];
    std::uint64_t end_offset = tail_offset + end_pos;
    std::uint64_t disk = le16(end + 4);
    std::uint64_t directory_disk = le16(end + 6);
    std::uint64_t disk_entries = le16(end + 8);
    std::uint64_t entries = le16(end + 10);
    std::uint64_t directory_size = le32(end + 12);
    std::uint64_t directory_offset = le32(end + 16);
    std::uint64_t directory_limit = end_offset;  // the directory ends before this

    // Zip64: a locator right before the record points at the zip64 record.
    if (end_offset >= zip64_locator_size) {
        unsigned char locator[zip64_locator_size];
        read_at(end_offset - zip64_locator_size, locator, sizeof locator);
        if (le32(locator) == zip64_locator_signature) {
            std::uint64_t record_offset = le64(locator + 8);
            std::uint64_t record_end = 0;
            if (add_overflows(record_offset, zip64_end_record_size, record_end) ||
                record_end > end_offset - zip64_locator_size) {
                fail("its zip64 end record lies at offset " + std::to_string(record_offset) +
                     ", outside the file's directory area");
            }
            unsigned char record[zip64_end_record_size];
            read_at(record_offset, record, sizeof record);
            if (le32(record) != zip64_end_signature) {
                fail("its zip64 locator points at offset " + std::to_string(record_offset) +
                     ", which holds no zip64 end record");
            }
            disk = le32(record + 16);
            directory_disk = le32(record + 20);
            disk_entries = le64(record + 24);
            entries = le64(record + 32);
            directory_size = le64(record + 40);
            directory_offset = le64(record + 48);
            directory_limit = record_offset;
        }
    }
    if (disk != 0 || directory_disk != 0 || disk_entries != entries) {
        fail("it spans several disks, which torch archives never do");
    }
    std::uint64_t directory_end = 0;
    if (add_overflows(directory_offset, directory_size, directory_end) || directory_end > directory_limit) {
        fail("its central directory (" + std::to_string(directory_size) + " bytes at offset " +
             std::to_string(directory_offset) + ") does not fit in the file of " + std::to_string(file_size_) + " bytes");
    }
    if (entries > directory_size / central_header_size) {
        fail("it claims " + std::to_string(entries) + " records, more than its central directory of " +
             std::to_string(directory_size) + " bytes can describe");
    }

    std::vector<unsigned char> directory(static_cast<std::size_t>(directory_size));
    read_at(directory_offset, directory.data(), directory.size());

    struct Span {
        std::uint64_t begin;
        std::uint64_t end;
        std::size_t record;
    };
    std::vector<Span> spans;
    records_.reserve(static_cast<std::size_t>(entries));
    spans.reserve(static_cast<std::size_t>(entries));
    std::size_t pos = 0;
    for (std::uint64_t index = 0; index < entries; ++index) {
        if (directory.size() - pos < central_header_size) {
            fail("its central directory ends inside the header of record " + std::to_string(index));
        }
        const unsigned char* h = &directory[pos];
        if (le32(h) != central_header_signature) {
            fail("its central directory is damaged at byte " + std::to_string(directory_offset + pos) +
                 " (no record header where record " + std::to_string(index) + " should start)");
        }
        std::uint16_t flags = le16(h + 8);
        std::uint16_t method = le16(h + 10);
        std::uint32_t crc = le32(h + 16);
        std::uint64_t compressed = le32(h + 20);
        std::uint64_t size = le32(h + 24);
        std::size_t name_size = le16(h + 28);
        std::size_t extra_size = le16(h + 30);
        std::size_t comment_size = le16(h + 32);
        std::uint64_t start_disk = le16(h + 34);
        std::uint64_t header_offset = le32(h + 42);
        if (directory.size() - pos - central_header_size < name_size + extra_size + comment_size) {
            fail("its central directory ends inside the name or extra fields of record " + std::to_string(index));
        }
        std::string name(reinterpret_cast<const char*>(h + central_header_size), name_size);
        const unsigned char* extra = h + central_header_size + name_size;

        // Zip64 extended information: the 64-bit values of the fields that
        // hold all ones, in this order.
        for (std::size_t e = 0; e + 4 <= extra_size;) {
            std::size_t id = le16(extra + e);
            std::size_t n = le16(extra + e + 2);
            if (e + 4 + n > extra_size) {
                fail("the extra field of " + record_name(name) + " is damaged");
            }
            if (id == 0x0001) {
                const unsigned char* field = extra + e + 4;
                std::size_t left = n;
                auto take64 = [&](std::uint64_t& value) {
                    if (left < 8) {
                        fail("the zip64 field of " + record_name(name) + " is too short");
                    }
                    value = le64(field);
                    field += 8;
                    left -= 8;
                };
                if (size == 0xffffffffu) take64(size);
                if (compressed == 0xffffffffu) take64(compressed);
                if (header_offset == 0xffffffffu) take64(header_offset);
                if (start_disk == 0xffff) {
                    if (left < 4) {
                        fail("the zip64 field of " + record_name(name) + " is too short");
                    }
                    start_disk = le32(field);
                }
            }
            e += 4 + n;
        }
        pos += central_header_size + name_size + extra_size + comment_size;

        if (name.empty()) {
            fail("record " + std::to_string(index) + " has an empty name");
        }
        if ((flags & 0x41) != 0) {
            fail(record_name(name) + " is encrypted");
        }
        if (method != 0) {
            fail(record_name(name) + " is compressed (method " + std::to_string(method) +
                 "); torch.save stores its records uncompressed");
        }
        if (compressed != size) {
            fail(record_name(name) + " is stored with " + std::to_string(compressed) + " bytes but claims " +
                 std::to_string(size) + " bytes uncompressed");
        }
        if (start_disk != 0) {
            fail(record_name(name) + " starts on disk " + std::to_string(start_disk));
        }

        // The local header, whose own name and extra lengths place the data.
        std::uint64_t header_end = 0;
        if (add_overflows(header_offset, local_header_size, header_end) || header_end > directory_offset) {
            fail("the header of " + record_name(name) + " lies at offset " + std::to_string(header_offset) +
                 ", past the records area, which ends at byte " + std::to_string(directory_offset));
        }
        unsigned char local[local_header_size];
        read_at(header_offset, local, sizeof local);
        if (le32(local) != local_header_signature) {
            fail("the header of " + record_name(name) + " at offset " + std::to_string(header_offset) + " is damaged");
        }
        std::uint64_t data_offset = header_end + le16(local + 26) + le16(local + 28);
        std::uint64_t data_end = 0;
        if (add_overflows(data_offset, size, data_end) || data_end > directory_offset) {
            fail(record_name(name) + " claims " + std::to_string(size) + " bytes at offset " + std::to_string(data_offset) +
                 ", more than the file holds before its central directory at byte " + std::to_string(directory_offset));
        }

        spans.push_back({header_offset, data_end, records_.size()});
        records_.push_back({std::move(name), data_offset, size, crc});
    }

    // Records may not share bytes: what a file can make us load is bounded by its size.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < spans.size(); ++i) {
        if (spans[i].begin < spans[i - 1].end) {
            fail(record_name(records_[spans[i].record].name) + " overlaps " +
                 record_name(records_[spans[i - 1].record].name));
        }
    }

    by_name_.reserve(records_.size());
    for (std::size_t i = 0; i < records_.size(); ++i) {
        if (!by_name_.emplace(records_[i].name, i).second) {
            fail("it holds " + record_name(records_[i].name) + " twice");
        }
    }
}

const ZipRecord* ZipReader::find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &records_[it->second];
}

void ZipReader::read(const ZipRecord& record, void* out) const {
    read_at(record.offset, out, static_cast<std::size_t>(record.size));
    if (record.crc32 == 0 && record.size != 0) {
        return;
    }
    uLong crc = crc32_z(0L, static_cast<const Bytef*>(out), static_cast<z_size_t>(record.size));
    if (crc != record.crc32) {
        fail(record_name(record.name) + " fails its CRC-32 check; its bytes are damaged");
    }
}

std::string ZipReader::read_string(const ZipRecord& record) const {
    std::string out(static_cast<std::size_t>(record.size), '\0');
    read(record, out.data());
    return out;
}

}  // namespace fairseq2::checkpoint::detail

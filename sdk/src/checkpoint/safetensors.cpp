#include "fairseq2/checkpoint/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/checkpoint/atomic_file.hpp"
#include "fairseq2/checkpoint/load_progress.hpp"
#include "fairseq2/checkpoint/safetensors_header.hpp"
#include "fairseq2/error.hpp"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

namespace fairseq2::checkpoint {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; big-endian hosts need byte swapping");

namespace {

c10::ScalarType scalar_type(SafetensorsDtype dtype)
{
    switch (dtype) {
        case SafetensorsDtype::f64:
            return at::kDouble;
        case SafetensorsDtype::f32:
            return at::kFloat;
        case SafetensorsDtype::f16:
            return at::kHalf;
        case SafetensorsDtype::bf16:
            return at::kBFloat16;
        case SafetensorsDtype::i64:
            return at::kLong;
        case SafetensorsDtype::i32:
            return at::kInt;
        case SafetensorsDtype::i16:
            return at::kShort;
        case SafetensorsDtype::i8:
            return at::kChar;
        case SafetensorsDtype::u8:
            return at::kByte;
        case SafetensorsDtype::boolean:
            return at::kBool;
    }
    return at::kFloat;
}

std::optional<SafetensorsDtype> safetensors_dtype(c10::ScalarType type)
{
    for (auto dtype : {SafetensorsDtype::f64, SafetensorsDtype::f32, SafetensorsDtype::f16, SafetensorsDtype::bf16, SafetensorsDtype::i64,
                       SafetensorsDtype::i32, SafetensorsDtype::i16, SafetensorsDtype::i8, SafetensorsDtype::u8, SafetensorsDtype::boolean})
        if (scalar_type(dtype) == type)
            return dtype;
    return std::nullopt;
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason)
{
    throw CheckpointError("The safetensors file '" + path.string() + "' " + reason + ".");
}

// An open file descriptor, closed on scope exit.
class FileDescriptor {
public:
    explicit FileDescriptor(const std::filesystem::path& path) : fd_{::open(path.c_str(), O_RDONLY | O_CLOEXEC)}
    {
        if (fd_ < 0)
            fail(path, std::string("cannot be opened (") + std::strerror(errno) + ")");
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() { ::close(fd_); }

    int get() const noexcept { return fd_; }

private:
    int fd_;
};

// Reads exactly `size` bytes at `offset`; false when the file ends first.
bool read_at(int fd, void* buffer, std::uint64_t size, std::uint64_t offset, const std::filesystem::path& path)
{
    char* out = static_cast<char*>(buffer);
    while (size > 0) {
        const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(size, std::uint64_t{1} << 30));
        ssize_t got = ::pread(fd, out, chunk, static_cast<off_t>(offset));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fail(path, std::string("cannot be read (") + std::strerror(errno) + ")");
        }
        if (got == 0)
            return false;
        out += got;
        offset += static_cast<std::uint64_t>(got);
        size -= static_cast<std::uint64_t>(got);
    }
    return true;
}

std::uint64_t file_size(int fd, const std::filesystem::path& path)
{
    struct stat info {};
    if (::fstat(fd, &info) != 0)
        fail(path, std::string("cannot be examined (") + std::strerror(errno) + ")");
    if (!S_ISREG(info.st_mode))
        fail(path, "is not a regular file");
    return static_cast<std::uint64_t>(info.st_size);
}

// The file mapped copy-on-write; unmapped when the last tensor using it goes.
class Mapping {
public:
    Mapping(int fd, std::uint64_t size, const std::filesystem::path& path) : size_{static_cast<std::size_t>(size)}
    {
        void* base = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED)
            fail(path, std::string("cannot be memory-mapped (") + std::strerror(errno) + "); try --no-mmap");
        base_ = static_cast<char*>(base);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { ::munmap(base_, size_); }

    char* data() const noexcept { return base_; }
    std::size_t size() const noexcept { return size_; }

    // Faults in the pages of [begin, end) readable, so the first forward
    // pass does not pay for it and a file truncated meanwhile is an error
    // here rather than a SIGBUS later.
    void populate(std::uint64_t begin, std::uint64_t end, const std::string& tensor, const std::filesystem::path& path) const
    {
        static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        if (begin == end)
            return;
        const std::uint64_t first = begin / page * page;
        const std::uint64_t last = std::min<std::uint64_t>((end + page - 1) / page * page, size_);
        if (::madvise(base_ + first, last - first, MADV_POPULATE_READ) == 0)
            return;
        if (errno != EINVAL)
            fail(path, "cannot be read at the tensor '" + tensor + "' (" + std::strerror(errno) + "); was it truncated while loading?");
        // Kernels before 5.14: touch one byte per page.
        volatile const char* bytes = base_;
        for (std::uint64_t offset = first; offset < last; offset += page)
            (void)bytes[offset];
    }

private:
    char* base_ = nullptr;
    std::size_t size_;
};

// BOOL elements must be 0 or 1; other bytes would make torch's bool kernels
// misbehave.
void check_bools(const at::Tensor& tensor, const std::string& name, const std::filesystem::path& path)
{
    const auto* bytes = static_cast<const unsigned char*>(tensor.data_ptr());
    for (std::int64_t i = 0; i < tensor.numel(); ++i)
        if (bytes[i] > 1)
            fail(path, "holds the byte " + std::to_string(bytes[i]) + " at element " + std::to_string(i) + " of the BOOL tensor '" + name +
                           "'; BOOL elements must be 0 or 1");
}

at::TensorOptions options_of(SafetensorsDtype dtype)
{
    return at::TensorOptions().dtype(scalar_type(dtype)).device(at::kCPU);
}

SafetensorsFile read_mapped(int fd, std::uint64_t size, const std::filesystem::path& path, LoadProgress* progress)
{
    auto mapping = std::make_shared<Mapping>(fd, size, path);
    SafetensorsHeader header = parse_safetensors_header(std::string_view(mapping->data(), mapping->size()), size, path.string());
    SafetensorsFile file;
    file.metadata = std::move(header.metadata);
    for (auto& entry : header.entries) {
        const std::uint64_t begin = header.data_offset + entry.begin;
        const std::uint64_t bytes = entry.end - entry.begin;
        mapping->populate(begin, begin + bytes, entry.name, path);
        char* data = mapping->data() + begin;
        at::Tensor tensor;
        if (reinterpret_cast<std::uintptr_t>(data) % safetensors_dtype_size(entry.dtype) == 0) {
            tensor = at::from_blob(data, entry.shape, [mapping](void*) {}, options_of(entry.dtype));
        } else {
            tensor = at::empty(entry.shape, options_of(entry.dtype));
            std::memcpy(tensor.data_ptr(), data, bytes);
        }
        if (entry.dtype == SafetensorsDtype::boolean)
            check_bools(tensor, entry.name, path);
        file.tensors.emplace(std::move(entry.name), std::move(tensor));
        if (progress != nullptr)
            progress->advance(bytes);
    }
    return file;
}

// Fresh memory is faulted in page by page as it is read into; transparent
// huge pages make that one fault per 2 MB for large tensors (a hint the
// kernel may ignore).
void advise_huge_pages(void* data, std::uint64_t bytes)
{
    constexpr std::uint64_t huge_page = std::uint64_t{2} << 20;
    if (bytes < 2 * huge_page)
        return;
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge_page - 1) / huge_page * huge_page;
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) / huge_page * huge_page;
    if (end > begin)
        ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

SafetensorsFile read_copied(int fd, std::uint64_t size, const std::filesystem::path& path, LoadProgress* progress)
{
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    // The length field, then as much of the header as it claims when that
    // is plausible; the parser reports every implausible case.
    std::string prefix(static_cast<std::size_t>(std::min<std::uint64_t>(size, 8)), '\0');
    read_at(fd, prefix.data(), prefix.size(), 0, path);
    if (prefix.size() == 8) {
        std::uint64_t length = 0;
        for (int i = 7; i >= 0; --i)
            length = (length << 8) | static_cast<unsigned char>(prefix[static_cast<std::size_t>(i)]);
        if (length <= max_safetensors_header_length && length <= size - 8) {
            prefix.resize(static_cast<std::size_t>(8 + length));
            if (!read_at(fd, prefix.data() + 8, length, 8, path))
                fail(path, "ends inside its header; it is truncated");
        }
    }
    SafetensorsHeader header = parse_safetensors_header(prefix, size, path.string());
    prefix = std::string();

    SafetensorsFile file;
    file.metadata = std::move(header.metadata);
    for (auto& entry : header.entries) {
        const std::uint64_t bytes = entry.end - entry.begin;
        at::Tensor tensor = at::empty(entry.shape, options_of(entry.dtype));
        advise_huge_pages(tensor.data_ptr(), bytes);
        if (!read_at(fd, tensor.data_ptr(), bytes, header.data_offset + entry.begin, path))
            fail(path, "ends inside the tensor '" + entry.name + "'; it is truncated");
        if (entry.dtype == SafetensorsDtype::boolean)
            check_bools(tensor, entry.name, path);
        file.tensors.emplace(std::move(entry.name), std::move(tensor));
        if (progress != nullptr)
            progress->advance(bytes);
    }
    return file;
}

}  // namespace

bool looks_like_safetensors(std::string_view first_bytes, std::uint64_t file_size)
{
    if (first_bytes.size() < 9 || file_size < 9)
        return false;
    std::uint64_t length = 0;
    for (int i = 7; i >= 0; --i)
        length = (length << 8) | static_cast<unsigned char>(first_bytes[static_cast<std::size_t>(i)]);
    return length >= 2 && length <= max_safetensors_header_length && length <= file_size - 8 && first_bytes[8] == '{';
}

SafetensorsFile read_safetensors(const std::filesystem::path& path, bool mmap, LoadProgress* progress)
{
    FileDescriptor fd(path);
    const std::uint64_t size = file_size(fd.get(), path);
    // A file too short for a length field cannot be mapped (nor parsed).
    SafetensorsFile file = mmap && size >= 8 ? read_mapped(fd.get(), size, path, progress) : read_copied(fd.get(), size, path, progress);
    // safetensors' save_model() keeps one tensor of each shared set (tied
    // weights) and records each name it dropped as metadata, dropped name ->
    // kept name; the dropped names come back as the same tensor.
    for (const auto& [name, kept] : file.metadata)
        if (!file.tensors.contains(name))
            if (auto it = file.tensors.find(kept); it != file.tensors.end())
                file.tensors.emplace(name, it->second);
    return file;
}

void write_safetensors(const std::filesystem::path& path, const StateDict& tensors, const std::map<std::string, std::string>& metadata)
{
    struct Item {
        const std::string* name;
        at::Tensor tensor;
        SafetensorsDtype dtype;
        std::uint64_t bytes;
    };
    std::vector<Item> items;
    items.reserve(tensors.size());
    for (const auto& [name, tensor] : tensors) {
        if (!tensor.defined())
            throw CheckpointError("Cannot write '" + path.string() + "': the tensor '" + name + "' is undefined.");
        if (tensor.layout() != at::kStrided)
            throw CheckpointError("Cannot write '" + path.string() + "': the tensor '" + name + "' is not dense (strided).");
        auto dtype = safetensors_dtype(tensor.scalar_type());
        if (!dtype)
            throw CheckpointError("Cannot write '" + path.string() + "': the tensor '" + name + "' has the dtype " +
                                  std::string(c10::toString(tensor.scalar_type())) +
                                  ", which safetensors files cannot hold here (use F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL).");
        at::Tensor data = tensor.detach().to(at::kCPU).contiguous();
        items.push_back({&name, data, *dtype, static_cast<std::uint64_t>(data.numel()) * safetensors_dtype_size(*dtype)});
    }
    // Larger elements first: every tensor then starts at a multiple of its
    // element size, with no gaps (which the safetensors library refuses).
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return safetensors_dtype_size(a.dtype) > safetensors_dtype_size(b.dtype); });

    boost::json::object header;
    if (!metadata.empty()) {
        boost::json::object meta;
        for (const auto& [key, value] : metadata)
            meta[key] = value;
        header["__metadata__"] = std::move(meta);
    }
    std::uint64_t offset = 0;
    for (const auto& item : items) {
        boost::json::array shape;
        for (auto size : item.tensor.sizes())
            shape.emplace_back(size);
        header[*item.name] = boost::json::object{{"dtype", std::string(safetensors_dtype_name(item.dtype))},
                                                 {"shape", std::move(shape)},
                                                 {"data_offsets", boost::json::array{offset, offset + item.bytes}}};
        offset += item.bytes;
    }
    std::string text = boost::json::serialize(header);
    text.append((8 - text.size() % 8) % 8, ' ');

    AtomicFile file(path);
    unsigned char length[8];
    for (int i = 0; i < 8; ++i)
        length[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
    file.write(length, sizeof length);
    file.write(text.data(), text.size());
    for (const auto& item : items)
        file.write(item.tensor.data_ptr(), static_cast<std::size_t>(item.bytes));
    file.commit();
}

}  // namespace fairseq2::checkpoint

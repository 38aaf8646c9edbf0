#pragma once

// A file written under a temporary name beside its destination and renamed
// onto it by commit(), so the destination is never seen half-written.

#include <cstddef>
#include <string>
#include <filesystem>

#include "fairseq2/version.hpp"

namespace fairseq2::checkpoint {

class FAIRSEQ2_API AtomicFile {
public:
    // Creates "<path>.tmp-<pid>"; throws CheckpointError naming `path` when
    // it cannot be created (a missing folder, no permission, ...).
    explicit AtomicFile(std::filesystem::path path);
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    // Removes the temporary file unless commit() succeeded.
    ~AtomicFile();

    // Appends `size` bytes; throws CheckpointError naming the file.
    void write(const void* data, std::size_t size);

    // Closes the temporary file and renames it onto the destination.
    void commit();

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    [[noreturn]] void fail(const std::string& reason);

    std::filesystem::path path_;
    std::filesystem::path temp_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace fairseq2::checkpoint

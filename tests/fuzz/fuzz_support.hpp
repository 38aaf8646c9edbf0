#pragma once

// What the libFuzzer targets share: the input as a file (a memfd, so no disk
// is touched and the readers take their real path), and a check that fails
// loudly (a trap libFuzzer reports as a crash) when a promise is broken.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace fairseq2::fuzz {

inline void require(bool condition)
{
    if (!condition)
        __builtin_trap();
}

// The fuzzer's input as a file named /proc/self/fd/N, closed on destruction.
class InputFile {
public:
    InputFile(const std::uint8_t* data, std::size_t size)
    {
        fd_ = ::memfd_create("fairseq2-fuzz", MFD_CLOEXEC);
        require(fd_ >= 0);
        std::size_t done = 0;
        while (done < size) {
            ssize_t n = ::write(fd_, data + done, size - done);
            require(n > 0);
            done += static_cast<std::size_t>(n);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;
    ~InputFile() { ::close(fd_); }

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    int fd_ = -1;
    std::filesystem::path path_;
};

}  // namespace fairseq2::fuzz

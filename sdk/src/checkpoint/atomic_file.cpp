#include "fairseq2/checkpoint/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "fairseq2/error.hpp"

namespace fairseq2::checkpoint {

AtomicFile::AtomicFile(std::filesystem::path path) : path_{std::move(path)}
{
    temp_ = path_;
    temp_ += ".tmp-" + std::to_string(::getpid());
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
        fail("the temporary file '" + temp_.string() + "' cannot be created (" + std::strerror(errno) + ")");
}

AtomicFile::~AtomicFile()
{
    if (fd_ >= 0)
        ::close(fd_);
    if (!committed_) {
        std::error_code ignored;
        std::filesystem::remove(temp_, ignored);
    }
}

void AtomicFile::fail(const std::string& reason)
{
    throw CheckpointError("Cannot write '" + path_.string() + "': " + reason + ".");
}

void AtomicFile::write(const void* data, std::size_t size)
{
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t written = ::write(fd_, bytes, size);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            fail("writing the temporary file '" + temp_.string() + "' failed (" + std::strerror(errno) + ")");
        }
        bytes += written;
        size -= static_cast<std::size_t>(written);
    }
}

void AtomicFile::commit()
{
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0)
        fail("closing the temporary file '" + temp_.string() + "' failed (" + std::strerror(errno) + ")");
    std::error_code error;
    std::filesystem::rename(temp_, path_, error);
    if (error)
        fail("renaming the temporary file '" + temp_.string() + "' to it failed (" + error.message() + ")");
    committed_ = true;
}

}  // namespace fairseq2::checkpoint

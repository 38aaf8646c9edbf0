#pragma once

// Progress of reading a checkpoint: a bar on stderr once reading has taken
// more than a second and stderr is a terminal; otherwise one log line when
// it is done.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "fairseq2/version.hpp"

namespace fairseq2::checkpoint {

class FAIRSEQ2_API LoadProgress {
public:
    struct Options {
        // Draw a bar (else only log at the end).
        bool terminal = false;
        // Seconds before the bar first appears.
        double delay_s = 1.0;
        // Where the bar goes.
        std::FILE* stream = stderr;
    };

    // Reading `what` (the checkpoint path), about `total_bytes` bytes; the
    // bar is drawn when stderr is a terminal.
    LoadProgress(std::string what, std::uint64_t total_bytes);
    LoadProgress(std::string what, std::uint64_t total_bytes, Options options);
    LoadProgress(const LoadProgress&) = delete;
    LoadProgress& operator=(const LoadProgress&) = delete;
    ~LoadProgress();

    // `bytes` more were read (one tensor or storage).
    void advance(std::uint64_t bytes);

    // Reading is complete: ends the bar, or logs "Read N tensors (S) from
    // 'what' in T s." at info level when no bar was drawn.
    void finish(std::size_t tensors);

    // Whether a bar has been drawn.
    bool drew_bar() const noexcept { return drawn_; }

private:
    void draw(bool final);

    std::string what_;
    std::uint64_t total_;
    std::uint64_t done_ = 0;
    Options options_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
    bool drawn_ = false;
    bool finished_ = false;
};

// "1.07 GB", "512 KB", "17 B".
FAIRSEQ2_API std::string format_bytes(std::uint64_t bytes);

}  // namespace fairseq2::checkpoint

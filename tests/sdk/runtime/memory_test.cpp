#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "fairseq2/runtime/memory.hpp"

namespace {

// Resident pages of this process, from /proc/self/statm.
long resident_pages()
{
    std::ifstream statm("/proc/self/statm");
    long size = 0;
    long resident = 0;
    statm >> size >> resident;
    return resident;
}

long minor_faults()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

constexpr std::size_t block_bytes = std::size_t{16} << 20;
constexpr long block_pages = static_cast<long>(block_bytes / 4096);

// The pattern of a forward pass: each round (a layer) allocates three 16 MiB
// temporaries, writes them and frees them. Returns the minor page faults of
// rounds 2 to 5, after the first round has warmed the heap.
long faults_of_repeated_rounds()
{
    auto round = [] {
        void* blocks[3];
        for (auto& block : blocks) {
            block = std::malloc(block_bytes);
            std::memset(block, 1, block_bytes);
        }
        for (auto* block : blocks)
            std::free(block);
    };
    round();
    const long before = minor_faults();
    for (int i = 0; i < 4; ++i)
        round();
    return minor_faults() - before;
}

}  // namespace

// glibc's defaults hand the freed blocks back to the system (48 MiB free at
// the top of the heap is over its adaptive trim threshold), so every round
// faults its pages in again. After retain_freed_memory() the rounds reuse
// the memory of the first one.
TEST(RetainFreedMemoryTest, RoundsOfLargeTemporariesStopFaulting)
{
#ifndef __GLIBC__
    GTEST_SKIP() << "retain_freed_memory() changes nothing without glibc";
#endif
    // The defaults, measured in a child process so that this one keeps them
    // until the call below.
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        long faults = faults_of_repeated_rounds();
        ssize_t written = write(pipe_fds[1], &faults, sizeof faults);
        _exit(written == sizeof faults ? 0 : 1);
    }
    long default_faults = -1;
    ASSERT_EQ(read(pipe_fds[0], &default_faults, sizeof default_faults), static_cast<ssize_t>(sizeof default_faults));
    int status = 0;
    waitpid(child, &status, 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    ASSERT_TRUE(fairseq2::retain_freed_memory());
    const long retained_faults = faults_of_repeated_rounds();

    // 4 rounds of 3 blocks of 4096 pages: 49152 faults when nothing is kept.
    EXPECT_GE(default_faults, 4 * block_pages) << "glibc's defaults kept the freed blocks: the test no longer shows the difference";
    EXPECT_LT(retained_faults, block_pages / 4);

    // Tensors take the same path: a second 16 MiB tensor reuses the first's memory.
    { at::Tensor warm = at::ones({static_cast<std::int64_t>(block_bytes / 4)}, at::kFloat); }
    const long before = minor_faults();
    at::Tensor again = at::ones({static_cast<std::int64_t>(block_bytes / 4)}, at::kFloat);
    EXPECT_LT(minor_faults() - before, block_pages / 4);
    EXPECT_EQ(again.sum().item<double>(), static_cast<double>(block_bytes / 4));
}

// Memory freed in the middle of the heap stays resident under
// retain_freed_memory() until release_free_memory() hands it back.
TEST(RetainFreedMemoryTest, ReleaseHandsBackFreeMemoryInsideTheHeap)
{
#ifndef __GLIBC__
    GTEST_SKIP() << "release_free_memory() changes nothing without glibc";
#endif
    ASSERT_TRUE(fairseq2::retain_freed_memory());
    void* blocks[3];
    for (auto& block : blocks) {
        block = std::malloc(block_bytes);
        std::memset(block, 1, block_bytes);
    }
    std::free(blocks[1]);  // a hole between two live blocks
    const long before = resident_pages();
    fairseq2::release_free_memory();
    const long released = before - resident_pages();
    std::free(blocks[0]);
    std::free(blocks[2]);
    EXPECT_GE(released, block_pages * 3 / 4);
}

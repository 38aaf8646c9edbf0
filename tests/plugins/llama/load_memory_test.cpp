// Loading and creating a model leave the C library's heap compact under
// retain_freed_memory(): the weights' way-stations (the checkpoint reader's
// tensors, the uninitialised parameters they replace, random initial
// values) get mappings of their own and go back to the system once packed,
// instead of leaving a hole the size of the weights in the heap, in which
// every later temporary would fault its pages in again and keep them.
//
// Its own executable: retain_freed_memory() is a process-wide policy.

#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/runtime/memory.hpp"
#include "plugins/llama/plugin_host.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A llama of about 64 MB in float32 whose matrices are all 256 KiB or more:
// dim 512, 4 layers, vocab 4096.
json::value config()
{
    return fairseq2::test::llama_handler()->check_config(fairseq2::test::small_llama_config({.model_dim = 512,
                                                                                             .num_layers = 4,
                                                                                             .num_attn_heads = 8,
                                                                                             .num_key_value_heads = 2,
                                                                                             .ffn_inner_dim = 1536,
                                                                                             .ffn_inner_dim_to_multiple = 256,
                                                                                             .vocab_size = 4096,
                                                                                             .max_seq_len = 256}));
}

// Bytes free inside the heap (every arena): memory that later allocations
// are placed in before the heap grows.
std::int64_t heap_free_bytes()
{
    return static_cast<std::int64_t>(mallinfo2().fordblks);
}

std::int64_t parameter_bytes(const torch::nn::Module& module)
{
    std::int64_t bytes = 0;
    for (const auto& p : module.parameters())
        bytes += static_cast<std::int64_t>(p.nbytes());
    return bytes;
}

// Whether a block larger than all the heap's free memory now extends the
// heap, as retain_freed_memory() has it (its threshold for a mapping of its
// own is 32 MiB), rather than getting a mapping: the policy is back once
// loading is over. (A smaller block could be placed in free memory under
// either policy.)
bool a_new_block_extends_the_heap()
{
    const std::size_t size = mallinfo2().fordblks + (std::size_t{1} << 20);
    EXPECT_LT(size, std::size_t{30} << 20) << "the heap has too much free memory for the check";
    const std::size_t mapped_before = mallinfo2().hblks;
    // Volatile, or the compiler drops the unused malloc() and free().
    void* volatile block = std::malloc(size);
    const bool extended = block != nullptr && mallinfo2().hblks == mapped_before;
    std::free(block);
    return extended;
}

// First in the file, and outside the fixture (which creates a model to
// save): a process that has not made a model yet.
TEST(CreateMemoryTest, CreatingAModelLeavesNoHoleInTheHeap)
{
#ifndef __GLIBC__
    GTEST_SKIP() << "the heap policy is glibc's";
#endif
    ASSERT_TRUE(fairseq2::retain_freed_memory());
    const std::int64_t before = heap_free_bytes();
    auto model = fairseq2::test::llama_handler()->create(config(), at::kCPU, at::kFloat);
    const std::int64_t growth = heap_free_bytes() - before;
    const std::int64_t weight_bytes = parameter_bytes(*model);
    EXPECT_GT(weight_bytes, std::int64_t{60} << 20);
    std::printf("[ measured ] create: the heap's free bytes grew by %.2f MB for %.2f MB of weights\n", static_cast<double>(growth) / 1e6,
                static_cast<double>(weight_bytes) / 1e6);
    EXPECT_LT(growth, weight_bytes / 10);
    EXPECT_TRUE(a_new_block_extends_the_heap());
}

class LoadMemoryTest : public ::testing::Test {
protected:
    void SetUp() override
    {
#ifndef __GLIBC__
        GTEST_SKIP() << "the heap policy is glibc's";
#endif
        ASSERT_TRUE(fairseq2::retain_freed_memory());
        dir_ = fs::temp_directory_path() / ("fairseq2-load-memory-" + std::to_string(getpid()));
        fs::create_directories(dir_);
        at::manual_seed(5);
        auto model = fairseq2::test::llama_handler()->create(config(), at::kCPU, at::kFloat);
        weights_ = fairseq2::checkpoint::module_state_dict(*model);
        weight_bytes_ = parameter_bytes(*model);
        fairseq2::checkpoint::save_fairseq2_checkpoint(dir_ / "model.pt", weights_);
        fairseq2::checkpoint::write_safetensors(dir_ / "model.safetensors", weights_, {{"fs2", "true"}});
        fairseq2::release_free_memory();
    }

    void TearDown() override
    {
        std::error_code error;
        fs::remove_all(dir_, error);
    }

    // Loads `file` and checks the weights are those saved; returns how much
    // the heap's free bytes grew.
    std::int64_t load_and_check(const fs::path& file, bool mmap)
    {
        const std::int64_t before = heap_free_bytes();
        auto model = fairseq2::test::llama_handler()->load_from_path(file, config(), at::kCPU, at::kFloat, {.mmap = mmap});
        const std::int64_t growth = heap_free_bytes() - before;
        for (const auto& [key, tensor] : fairseq2::checkpoint::module_state_dict(*model)) {
            EXPECT_TRUE(tensor.equal(weights_.at(key))) << file << ": " << key;
        }
        std::printf("[ measured ] %s: the heap's free bytes grew by %.2f MB loading %.2f MB of weights\n", file.filename().c_str(),
                    static_cast<double>(growth) / 1e6, static_cast<double>(weight_bytes_) / 1e6);
        return growth;
    }

    fs::path dir_;
    fairseq2::checkpoint::StateDict weights_;
    std::int64_t weight_bytes_ = 0;
};

// Without the mappings the heap would be left with about twice the weights
// free (the reader's tensors and the uninitialised parameters); a tenth of
// them leaves room for the small objects loading frees.
TEST_F(LoadMemoryTest, LoadingATorchArchiveLeavesNoHoleInTheHeap)
{
    EXPECT_LT(load_and_check(dir_ / "model.pt", true), weight_bytes_ / 10);
    EXPECT_TRUE(a_new_block_extends_the_heap());
}

TEST_F(LoadMemoryTest, ReadingSafetensorsLeavesNoHoleInTheHeap)
{
    EXPECT_LT(load_and_check(dir_ / "model.safetensors", false), weight_bytes_ / 10);
    EXPECT_TRUE(a_new_block_extends_the_heap());
}

// Loads on two threads at once overlap; the policy comes back when the
// last one ends, not the first.
TEST_F(LoadMemoryTest, ThePolicyComesBackAfterConcurrentLoads)
{
    std::vector<std::thread> threads;
    std::vector<std::int64_t> ok(2, 0);
    for (int i = 0; i < 2; ++i)
        threads.emplace_back([&, i] {
            auto model = fairseq2::test::llama_handler()->load_from_path(dir_ / "model.pt", config(), at::kCPU, at::kFloat);
            ok[static_cast<std::size_t>(i)] = parameter_bytes(*model);
        });
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(ok[0], weight_bytes_);
    EXPECT_EQ(ok[1], weight_bytes_);
    EXPECT_TRUE(a_new_block_extends_the_heap());
}

}  // namespace

// Decoding allocates nothing per token: this executable counts every heap
// allocation of the process (it interposes malloc, calloc, realloc and
// posix_memalign, which operator new, LibTorch's CPU allocator and the
// OpenMP runtime all go through) while llama models of random weights
// decode, and checks that more tokens cost no more allocations.
//
// Its own executable, as the interposed functions serve every library
// of the process.

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/generation/generator.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "plugins/llama/plugin_host.hpp"

namespace {

std::atomic<std::int64_t> heap_allocations{0};

}  // namespace

// glibc's own entry points, which these forward to.
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);

void* malloc(std::size_t size)
{
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size)
{
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(count, size);
}

void* realloc(void* pointer, std::size_t size)
{
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(pointer, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size)
{
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    void* pointer = __libc_memalign(alignment, size);
    if (pointer == nullptr)
        return ENOMEM;
    *out = pointer;
    return 0;
}
}

namespace {

namespace json = boost::json;
using fairseq2::models::DecoderModel;

std::int64_t allocations()
{
    return heap_allocations.load(std::memory_order_relaxed);
}

struct Case {
    std::string name;
    std::int64_t model_dim;
    std::int64_t heads;
    at::ScalarType dtype;
};

// Random llama3_8b-shaped models, made small: dim 64 (products on one
// thread) and dim 384 (products shared between threads), float32 and
// bfloat16, 2 layers, vocab 256.
const std::vector<Case>& cases()
{
    static const std::vector<Case> all{
        {"dim 64 float32", 64, 8, at::kFloat},
        {"dim 384 float32", 384, 6, at::kFloat},
        {"dim 384 bfloat16", 384, 6, at::kBFloat16},
    };
    return all;
}

std::shared_ptr<DecoderModel> make_model(const Case& c)
{
    auto handler = fairseq2::test::llama_handler();
    const json::value config = fairseq2::test::small_llama_config({.model_dim = c.model_dim,
                                                                   .num_layers = 2,
                                                                   .num_attn_heads = c.heads,
                                                                   .num_key_value_heads = 2,
                                                                   .ffn_inner_dim = 1024,
                                                                   .ffn_inner_dim_to_multiple = 256,
                                                                   .vocab_size = 256,
                                                                   .max_seq_len = 512});
    at::manual_seed(3);
    auto model = std::dynamic_pointer_cast<DecoderModel>(handler->create(handler->check_config(config), at::kCPU, c.dtype));
    if (!model)
        throw std::runtime_error("the llama handler did not return a DecoderModel");
    return model;
}

class DecodeAllocationTest : public ::testing::TestWithParam<std::size_t> {
protected:
    void SetUp() override { at::set_num_threads(2); }
};

// After the first step of a bag, decode_step() allocates nothing at all,
// for 100 steps (the caches' room for them was made by that first step:
// the bag holds 120 positions, under their first capacity).
TEST_P(DecodeAllocationTest, DecodeStepsAllocateNothing)
{
    const Case& c = cases().at(GetParam());
    auto model = make_model(c);
    c10::InferenceMode guard;
    fairseq2::nn::IncrementalStateBag bag(120);
    at::Tensor ids = at::full({1, 1}, 7, at::kLong);
    at::Tensor logits = model->decode_step(ids, bag);
    bag.increment_step_nr(1);

    const std::int64_t before = allocations();
    std::int64_t* id = ids.data_ptr<std::int64_t>();
    for (int step = 0; step < 100; ++step) {
        *id = (step * 31 + 5) % 256;
        logits = model->decode_step(ids, bag);
        bag.increment_step_nr(1);
    }
    const std::int64_t during = allocations() - before;
    std::printf("[ measured ] %s: %lld heap allocations in 100 decode steps\n", c.name.c_str(), static_cast<long long>(during));
    EXPECT_EQ(during, 0) << c.name;
    EXPECT_EQ(bag.step_nr(), 101);

    // The counter does see a step through the modules (forward()).
    const std::int64_t modules_before = allocations();
    model->forward(ids, nullptr, &bag);
    EXPECT_GT(allocations() - modules_before, 10) << c.name;
}

// generate(): 64 more greedy tokens cost no more allocations than the
// first 8 (prompt, prefill and the first token cost the same in both).
TEST_P(DecodeAllocationTest, GeneratedTokensAllocateNothing)
{
    const Case& c = cases().at(GetParam());
    auto model = make_model(c);
    fairseq2::generation::GenerationOptions options;
    const std::vector<std::int64_t> prompt{1, 17, 99, 3, 45};
    options.max_new_tokens = 4;
    fairseq2::generation::generate(*model, prompt, options);  // warm-up

    std::vector<std::int64_t> counts;
    for (std::int64_t tokens : {8, 72}) {
        options.max_new_tokens = tokens;
        const std::int64_t before = allocations();
        auto result = fairseq2::generation::generate(*model, prompt, options);
        counts.push_back(allocations() - before);
        ASSERT_EQ(static_cast<std::int64_t>(result.ids.size()), tokens);
    }
    std::printf("[ measured ] %s: %lld heap allocations generating 8 tokens, %lld generating 72\n", c.name.c_str(),
                static_cast<long long>(counts[0]), static_cast<long long>(counts[1]));
    EXPECT_EQ(counts[1], counts[0]) << c.name;
    EXPECT_GT(counts[0], 0) << "the counter counts nothing";
}

INSTANTIATE_TEST_SUITE_P(Models, DecodeAllocationTest, ::testing::Range<std::size_t>(0, 3),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                             std::string name = cases().at(info.param).name;
                             for (char& ch : name)
                                 if (ch == ' ')
                                     ch = '_';
                             return name;
                         });

}  // namespace

// nn::pack_parameters: weights move into one block with their values, in
// registration order (matrices first), shared storages stay shared, borrowed
// memory stays where it is, and fused projections take packed parts as one
// view without copying them.

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/nn/embedding.hpp"
#include "fairseq2/nn/linear.hpp"
#include "fairseq2/nn/multihead_attention.hpp"
#include "fairseq2/nn/parameter_packing.hpp"
#include "test_support.hpp"

using namespace fairseq2::nn;

namespace {

const char* address(const at::Tensor& t)
{
    return static_cast<const char*>(t.data_ptr());
}

// Attention with biases (registered between the weights of q, k and v) and
// a tied embedding/projection pair.
struct Toy : torch::nn::Module {
    Toy()
    {
        const auto options = at::TensorOptions().dtype(at::kFloat);
        MultiheadAttentionOptions o;
        o.model_dim = 16;
        o.num_heads = 4;
        o.num_key_value_heads = 2;
        o.qkv_bias = true;
        o.output_bias = true;
        attn = register_module("attn", std::make_shared<MultiheadAttention>(o, nullptr, options));
        embed = register_module("embed", std::make_shared<StandardEmbedding>(10, 16, std::nullopt, options));
        proj = register_module("proj", std::make_shared<TiedProjection>(embed->weight));
        at::manual_seed(23);
        at::NoGradGuard no_grad;
        for (auto& p : parameters())
            p.copy_(at::randn(p.sizes()));
    }
    std::shared_ptr<MultiheadAttention> attn;
    std::shared_ptr<StandardEmbedding> embed;
    std::shared_ptr<TiedProjection> proj;
};

TEST(ParameterPackingTest, MovesWeightsIntoOneBlockKeepingValuesAndSharing)
{
    Toy toy;
    std::map<std::string, at::Tensor> before;
    for (const auto& item : toy.named_parameters())
        before[item.key()] = item.value().detach().clone();
    at::manual_seed(29);
    at::Tensor x = at::randn({2, 3, 16});
    at::Tensor expected;
    {
        c10::InferenceMode guard;
        expected = toy.attn->forward(x, nullptr, nullptr);
    }

    PackedParameters packed = pack_parameters(toy);
    std::printf("[ measured ] packed %lld tensors, %lld bytes, huge pages advised: %s\n", static_cast<long long>(packed.tensors),
                static_cast<long long>(packed.bytes), packed.huge_pages ? "yes" : "no");
    // q, k, v, output weights and biases, and the one embedding table.
    EXPECT_EQ(packed.tensors, 9);
    EXPECT_EQ(packed.bytes, static_cast<std::int64_t>((16 * 16 * 2 + 8 * 16 * 2 + 10 * 16 + 16 * 2 + 8 * 2) * sizeof(float)));

    const auto params = toy.named_parameters();
    const at::Tensor& q = params["attn.q_proj.weight"];
    for (const auto& item : params) {
        EXPECT_TRUE(item.value().storage().is_alias_of(q.storage())) << item.key();
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(item.value().data_ptr()) % 16, 0u) << item.key();
        EXPECT_LE((item.value() - before.at(item.key())).abs().max().item<double>(), 0.0) << item.key();
        EXPECT_FALSE(item.value().is_inference());
        EXPECT_TRUE(item.value().requires_grad()) << item.key();
    }
    // Matrices first, in registration order: q, k and v back to back, and
    // so are their biases, although each bias was registered between them.
    EXPECT_EQ(address(params["attn.k_proj.weight"]), address(q) + 16 * 16 * sizeof(float));
    EXPECT_EQ(address(params["attn.v_proj.weight"]), address(params["attn.k_proj.weight"]) + 8 * 16 * sizeof(float));
    EXPECT_EQ(address(params["attn.k_proj.bias"]), address(params["attn.q_proj.bias"]) + 16 * sizeof(float));
    EXPECT_EQ(address(params["attn.v_proj.bias"]), address(params["attn.k_proj.bias"]) + 8 * sizeof(float));
    EXPECT_LT(address(params["embed.weight"]), address(params["attn.q_proj.bias"]));
    // Tied weights still share one tensor.
    EXPECT_EQ(address(params["proj.weight"]), address(params["embed.weight"]));

    // The fused q/k/v product takes the packed weights as they are.
    const char* q_address = address(q);
    {
        c10::InferenceMode guard;
        at::Tensor out = toy.attn->forward(x, nullptr, nullptr);
        EXPECT_LE((out - expected).abs().max().item<double>(), 1e-6);
    }
    EXPECT_EQ(address(toy.attn->q_proj->weight), q_address) << "fusing moved packed weights";
    EXPECT_EQ(address(toy.attn->v_proj->bias), address(params["attn.k_proj.bias"]) + 8 * sizeof(float));

    // Packed memory is not LibTorch's: packing again moves nothing.
    EXPECT_EQ(pack_parameters(toy).tensors, 0);
    EXPECT_EQ(address(q), q_address);
}

// A packed model saves each tensor's own bytes (not the whole block), tied
// weights once, without copying, and reads back equal.
TEST(ParameterPackingTest, PackedModelsSaveEachTensorOnce)
{
    Toy toy;
    pack_parameters(toy);
    fairseq2::test::TempDir dir;
    const auto path = dir.path() / "toy.pt";
    fairseq2::checkpoint::save_fairseq2_checkpoint(path, fairseq2::checkpoint::module_state_dict(toy));

    std::int64_t stored = 0;
    const c10::IValue archive =
        fairseq2::checkpoint::read_torch_archive(path, [&](std::uint64_t bytes) { stored += static_cast<std::int64_t>(bytes); });
    EXPECT_EQ(stored, static_cast<std::int64_t>(976 * sizeof(float))) << "each tensor once, the tied table once";
    const auto state_dict = fairseq2::checkpoint::extract_state_dict(archive, path.string());
    const auto params = toy.named_parameters();
    ASSERT_EQ(state_dict.size(), params.size());
    for (const auto& item : params)
        EXPECT_LE((state_dict.at(item.key()) - item.value()).abs().max().item<double>(), 0.0) << item.key();
    EXPECT_TRUE(state_dict.at("proj.weight").storage().is_alias_of(state_dict.at("embed.weight").storage()));
}

TEST(ParameterPackingTest, LeavesBorrowedMemoryAndInferenceTensorsUsable)
{
    // Parameters created in inference mode are inference tensors; a weight
    // in borrowed memory (a memory-mapped checkpoint) stays where it is.
    std::vector<float> mapped(3 * 4, 0.5f);
    c10::InferenceMode guard;
    auto a = std::make_shared<Linear>(4, 3, false, at::TensorOptions().dtype(at::kFloat));
    auto b = std::make_shared<Linear>(4, 3, false, at::TensorOptions().dtype(at::kFloat));
    a->reset_parameters();
    b->weight.set_data(at::from_blob(mapped.data(), {3, 4}, at::TensorOptions().dtype(at::kFloat)));
    torch::nn::Module both;
    both.register_module("a", a);
    both.register_module("b", b);
    const at::Tensor a_before = a->weight.clone();

    PackedParameters packed = pack_parameters(both);
    EXPECT_EQ(packed.tensors, 1);
    EXPECT_EQ(b->weight.data_ptr(), static_cast<void*>(mapped.data()));
    EXPECT_TRUE(a->weight.is_inference());
    EXPECT_LE((a->weight - a_before).abs().max().item<double>(), 0.0);
    at::Tensor x = at::randn({2, 4});
    EXPECT_LE((a->forward(x) - at::linear(x, a_before)).abs().max().item<double>(), 1e-6);
}

}  // namespace

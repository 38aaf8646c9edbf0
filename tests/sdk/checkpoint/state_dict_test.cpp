// Key conversion and the strict state-dict loader.

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/nn/linear.hpp"

namespace fairseq2 {
namespace {

using checkpoint::StateDict;

// Two linears, the second with bias, and a tied projection of the first.
struct Toy : torch::nn::Module {
    Toy()
    {
        first = register_module("first", std::make_shared<nn::Linear>(3, 2, false, at::kFloat));
        second = register_module("second", std::make_shared<nn::Linear>(2, 4, true, at::kFloat));
        tied = register_module("tied", std::make_shared<nn::TiedProjection>(first->weight));
    }
    std::shared_ptr<nn::Linear> first;
    std::shared_ptr<nn::Linear> second;
    std::shared_ptr<nn::TiedProjection> tied;
};

StateDict full_state_dict()
{
    return {
        {"first.weight", at::arange(6, at::kFloat).view({2, 3})},
        {"second.weight", at::arange(8, at::kFloat).view({4, 2})},
        {"second.bias", at::ones({4})},
    };
}

std::string load_error(torch::nn::Module& module, const StateDict& state_dict)
{
    try {
        checkpoint::load_state_dict(module, state_dict, "/ckpt/model.pt");
    } catch (const CheckpointError& error) {
        return error.what();
    }
    return "(no error)";
}

TEST(ConvertStateDictTest, FirstPatternThatChangesAKeyWins)
{
    StateDict state_dict{{"model.layers.3.attn.q.weight", at::zeros({1})}, {"model.norm.weight", at::zeros({1})}, {"other", at::zeros({1})}};
    checkpoint::KeyMap map{
        {R"(^model\.layers\.([0-9]+)\.attn\.q\.)", R"(decoder.layers.\1.self_attn.q_proj.)"},
        {R"(^model\.layers\.([0-9]+)\.)", R"(never.\1.)"},
        {R"(^model\.norm\.)", R"(decoder.layer_norm.)"},
    };
    StateDict converted = checkpoint::convert_state_dict(std::move(state_dict), map);
    std::vector<std::string> keys;
    for (const auto& [key, tensor] : converted)
        keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"decoder.layer_norm.weight", "decoder.layers.3.self_attn.q_proj.weight", "other"}));
}

TEST(ConvertStateDictTest, TwoKeysConvertedToOneNameIsAnError)
{
    StateDict state_dict{{"a.weight", at::zeros({1})}, {"b.weight", at::zeros({1})}};
    checkpoint::KeyMap map{{R"(^[ab]\.)", "c."}};
    try {
        checkpoint::convert_state_dict(std::move(state_dict), map);
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_STREQ(error.what(), "Two checkpoint keys are converted to the same name 'c.weight' (one of them is 'b.weight').");
    }
}

TEST(StripModulePrefixTest, RemovesOnlyALeadingModulePrefix)
{
    StateDict stripped = checkpoint::strip_module_prefix({{"module.a", at::zeros({1})}, {"b.module.c", at::zeros({1})}});
    EXPECT_TRUE(stripped.contains("a"));
    EXPECT_TRUE(stripped.contains("b.module.c"));
}

TEST(LoadStateDictTest, LoadsValuesAndAdoptsMatchingTensorsWithoutCopy)
{
    Toy toy;
    StateDict state_dict = full_state_dict();
    checkpoint::load_state_dict(toy, state_dict, "/ckpt/model.pt");
    EXPECT_TRUE(at::equal(toy.first->weight, state_dict["first.weight"]));
    EXPECT_TRUE(at::equal(toy.second->bias, at::ones({4})));
    EXPECT_EQ(toy.second->weight.data_ptr(), state_dict["second.weight"].data_ptr()) << "same dtype and device: no copy";
    // The tied projection sees the loaded weight under its own name.
    EXPECT_TRUE(at::equal(toy.tied->weight, state_dict["first.weight"]));
}

TEST(LoadStateDictTest, ConvertsDtypeToTheModels)
{
    Toy toy;
    StateDict state_dict = full_state_dict();
    state_dict["second.weight"] = state_dict["second.weight"].to(at::kDouble);
    checkpoint::load_state_dict(toy, state_dict, "/ckpt/model.pt");
    EXPECT_EQ(toy.second->weight.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(toy.second->weight, at::arange(8, at::kFloat).view({4, 2})));
}

TEST(LoadStateDictTest, ReportsEveryProblemInOneError)
{
    Toy toy;
    StateDict state_dict = full_state_dict();
    state_dict.erase("second.bias");
    state_dict["extra.weight"] = at::zeros({1});
    state_dict["second.weight"] = at::zeros({2, 4});
    EXPECT_EQ(load_error(toy, state_dict),
              "The checkpoint at '/ckpt/model.pt' does not match the model:\n"
              "  missing keys (1):\n"
              "    second.bias\n"
              "  unexpected keys (1):\n"
              "    extra.weight\n"
              "  shape mismatches (1):\n"
              "    `second.weight` has a shape of (2, 4) in the checkpoint, but (4, 2) in the model.");
    // Nothing was loaded, not even the keys that matched.
    EXPECT_NE(toy.first->weight.data_ptr(), state_dict["first.weight"].data_ptr());
}

TEST(LoadStateDictTest, OneDimensionalShapesUsePythonTupleSpelling)
{
    Toy toy;
    StateDict state_dict = full_state_dict();
    state_dict["second.bias"] = at::ones({5});
    EXPECT_NE(load_error(toy, state_dict).find("`second.bias` has a shape of (5,) in the checkpoint, but (4,) in the model."),
              std::string::npos);
}

TEST(LoadStateDictTest, TiedWeightNeedsOnlyOneOfItsNames)
{
    Toy toy;
    StateDict state_dict = full_state_dict();
    ASSERT_FALSE(state_dict.contains("tied.weight"));
    EXPECT_EQ(load_error(toy, state_dict), "(no error)");

    // Only the alias given: loads too.
    Toy other;
    state_dict["tied.weight"] = state_dict["first.weight"];
    state_dict.erase("first.weight");
    EXPECT_EQ(load_error(other, state_dict), "(no error)");
    EXPECT_TRUE(at::equal(other.first->weight, at::arange(6, at::kFloat).view({2, 3})));
}

TEST(ModuleStateDictTest, ListsParametersUnderEveryName)
{
    Toy toy;
    StateDict state_dict = checkpoint::module_state_dict(toy);
    std::vector<std::string> keys;
    for (const auto& [key, tensor] : state_dict)
        keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"first.weight", "second.bias", "second.weight", "tied.weight"}));
}

}  // namespace
}  // namespace fairseq2

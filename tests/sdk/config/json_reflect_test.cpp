// Config reflection: unstructuring to JSON and strict structuring back.

#include <gtest/gtest.h>

#include <boost/describe.hpp>
#include <boost/json.hpp>

#include "fairseq2/config/json_reflect.hpp"
#include "fairseq2/data/vocabulary_info.hpp"

namespace fairseq2 {
namespace {

BOOST_DEFINE_ENUM_CLASS(Activation, relu, silu)

struct Inner {
    std::int32_t width = 3;
    std::optional<double> scale;
};
BOOST_DESCRIBE_STRUCT(Inner, (), (width, scale))

struct Outer {
    std::string name = "outer";
    bool flag = true;
    Inner inner;
    std::vector<std::int64_t> dims{1, 2};
    std::array<double, 2> pair{0.5, 1.5};
    Activation activation = Activation::silu;
    VocabularyInfo vocab{10, 0, 1, 2, std::nullopt};

    void validate() const
    {
        if (inner.width <= 0)
            throw ConfigError("The field 'inner.width' must be positive.");
    }
};
BOOST_DESCRIBE_STRUCT(Outer, (), (name, flag, inner, dims, pair, activation, vocab))

boost::json::value parse(std::string_view text)
{
    return boost::json::parse(text);
}

template <typename T>
std::string structure_error(const boost::json::value& json)
{
    try {
        config::structure_config<T>(json);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(no error)";
}

TEST(JsonReflectTest, UnstructuresEveryMemberKind)
{
    boost::json::value json = config::to_json(Outer{});
    EXPECT_EQ(json, parse(R"({"name":"outer","flag":true,"inner":{"width":3,"scale":null},"dims":[1,2],"pair":[0.5,1.5],)"
                          R"("activation":"silu","vocab":{"size":10,"unk_idx":0,"bos_idx":1,"eos_idx":2,"pad_idx":null}})"));
}

TEST(JsonReflectTest, RoundTripKeepsEveryValue)
{
    Outer config;
    config.name = "x";
    config.flag = false;
    config.inner = {7, 0.25};
    config.dims = {4, 5, 6};
    config.pair = {2.0, 3.0};
    config.activation = Activation::relu;
    config.vocab.pad_idx = 3;
    Outer back = config::structure_config<Outer>(config::to_json(config));
    EXPECT_EQ(config::to_json(back), config::to_json(config));
    EXPECT_EQ(back.inner.scale, 0.25);
    EXPECT_EQ(back.activation, Activation::relu);
}

TEST(JsonReflectTest, IntegersAreAcceptedForDoubles)
{
    auto json = config::to_json(Outer{});
    json.as_object()["pair"] = parse("[1, 2]");
    EXPECT_EQ(config::structure_config<Outer>(json).pair[1], 2.0);
}

TEST(JsonReflectTest, UnknownKeysAreListedWithTheValidOnes)
{
    auto json = config::to_json(Outer{});
    json.as_object()["inner"].as_object()["depth"] = 1;
    EXPECT_EQ(structure_error<Outer>(json), "The field 'inner' has unknown key 'depth'; valid keys are 'width', 'scale'.");

    json = config::to_json(Outer{});
    json.as_object()["zeta"] = 1;
    json.as_object()["alpha"] = 2;
    EXPECT_EQ(structure_error<Outer>(json),
              "The config has unknown keys 'alpha', 'zeta'; valid keys are 'name', 'flag', 'inner', 'dims', 'pair', 'activation', 'vocab'.");
}

TEST(JsonReflectTest, WrongTypesNameTheFieldPath)
{
    auto json = config::to_json(Outer{});
    json.as_object()["inner"].as_object()["width"] = "wide";
    EXPECT_EQ(structure_error<Outer>(json), "The field 'inner.width' must be an integer, but is a string (\"wide\").");

    json = config::to_json(Outer{});
    json.as_object()["dims"] = parse("[1, 2.5]");
    EXPECT_EQ(structure_error<Outer>(json), "The field 'dims[1]' must be an integer, but is a number (2.5).");

    json = config::to_json(Outer{});
    json.as_object()["flag"] = 1;
    EXPECT_EQ(structure_error<Outer>(json), "The field 'flag' must be a boolean, but is an integer (1).");

    json = config::to_json(Outer{});
    json.as_object()["pair"] = parse("[1]");
    EXPECT_EQ(structure_error<Outer>(json), "The field 'pair' must be an array of 2 elements, but is an array ([1]).");

    json = config::to_json(Outer{});
    json.as_object()["activation"] = "gelu";
    EXPECT_EQ(structure_error<Outer>(json), "The field 'activation' must be one of 'relu' 'silu', but is a string (\"gelu\").");

    json = config::to_json(Outer{});
    json.as_object()["inner"].as_object()["width"] = 5000000000LL;
    EXPECT_EQ(structure_error<Outer>(json), "The field 'inner.width' must be an integer in range, but is an integer (5000000000).");

    EXPECT_EQ(structure_error<Outer>(parse("[]")), "The config must be an object, but is an array ([]).");
}

TEST(JsonReflectTest, MissingFieldsAreErrors)
{
    auto json = config::to_json(Outer{});
    json.as_object()["vocab"].as_object().erase("eos_idx");
    EXPECT_EQ(structure_error<Outer>(json), "The field 'vocab.eos_idx' is missing.");
}

TEST(JsonReflectTest, ValidateRunsAfterStructuring)
{
    auto json = config::to_json(Outer{});
    json.as_object()["inner"].as_object()["width"] = 0;
    EXPECT_EQ(structure_error<Outer>(json), "The field 'inner.width' must be positive.");
    // from_json alone does not validate.
    EXPECT_EQ(config::from_json<Outer>(json).inner.width, 0);
}

}  // namespace
}  // namespace fairseq2

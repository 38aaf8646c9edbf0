// Overrides of unstructured configs: KEY=VALUE parsing, dotted paths and
// fairseq2's _set_/_add_/_del_ directives.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"

namespace fairseq2 {
namespace {

boost::json::value tree()
{
    return boost::json::parse(R"({"model_dim": 4096, "name": "x", "vocab_info": {"size": 32000, "pad_idx": null}, "factors": [1.0, 4.0]})");
}

std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(no error)";
}

TEST(ParseAssignmentTest, ValuesAreJsonElseStrings)
{
    auto [key, value] = config::parse_assignment("model_dim=64");
    EXPECT_EQ(key, "model_dim");
    EXPECT_EQ(value, boost::json::value(64));
    EXPECT_EQ(config::parse_assignment("a.b=0.5").second, boost::json::value(0.5));
    EXPECT_EQ(config::parse_assignment("flag=true").second, boost::json::value(true));
    EXPECT_EQ(config::parse_assignment("pad=null").second, boost::json::value(nullptr));
    EXPECT_EQ(config::parse_assignment("f=[1,2]").second, boost::json::parse("[1,2]"));
    EXPECT_EQ(config::parse_assignment("name=abc").second, boost::json::value("abc"));
    EXPECT_EQ(config::parse_assignment("name=a=b").second, boost::json::value("a=b"));
    EXPECT_EQ(config::parse_assignment("name=").second, boost::json::value(""));
    EXPECT_EQ(error_of([] { config::parse_assignment("model_dim"); }), "The override 'model_dim' must have the form KEY=VALUE.");
    EXPECT_EQ(error_of([] { config::parse_assignment("=3"); }), "The override '=3' has an empty key; it must have the form KEY=VALUE.");
}

TEST(SetPathTest, SetsTopLevelAndNestedLeaves)
{
    auto config = tree();
    config::set_path(config, "model_dim", 64);
    config::set_path(config, "vocab_info.size", 512);
    config::set_path(config, "vocab_info.pad_idx", 0);
    EXPECT_EQ(config.at("model_dim"), boost::json::value(64));
    EXPECT_EQ(config.at("vocab_info").at("size"), boost::json::value(512));
    EXPECT_EQ(config.at("vocab_info").at("pad_idx"), boost::json::value(0));
}

TEST(SetPathTest, UnknownKeysListTheValidOnesAtThatLevel)
{
    auto config = tree();
    EXPECT_EQ(error_of([&] { config::set_path(config, "vocab_info.sise", 1); }),
              "The field 'vocab_info' has unknown key 'sise'; valid keys are 'size', 'pad_idx'.");
    EXPECT_EQ(error_of([&] { config::set_path(config, "modeldim", 1); }),
              "The config has unknown key 'modeldim'; valid keys are 'model_dim', 'name', 'vocab_info', 'factors'.");
    EXPECT_EQ(error_of([&] { config::set_path(config, "model_dim.x", 1); }),
              "The field 'model_dim' is an integer (4096), not an object, so it has no keys to set.");
    EXPECT_EQ(error_of([&] { config::set_path(config, "vocab_info", 3); }),
              "The field 'vocab_info' is an object; set its keys ('vocab_info.KEY=VALUE') instead of replacing it with an integer (3).");
    EXPECT_EQ(error_of([&] { config::set_path(config, "vocab_info..size", 3); }), "The override key 'vocab_info..size' has an empty segment.");
    EXPECT_EQ(config, tree()) << "failed overrides change nothing";
}

TEST(MergeOverridesTest, PlainNestedKeysMerge)
{
    auto config = tree();
    config::merge_overrides(config, boost::json::parse(R"({"vocab_info": {"size": 8}, "name": "y"})"));
    EXPECT_EQ(config.at("vocab_info").at("size"), boost::json::value(8));
    EXPECT_EQ(config.at("vocab_info").at("pad_idx"), boost::json::value(nullptr));
    EXPECT_EQ(config.at("name"), boost::json::value("y"));
    EXPECT_EQ(config.at("model_dim"), boost::json::value(4096));
}

TEST(MergeOverridesTest, Fairseq2Directives)
{
    auto config = tree();
    config::merge_overrides(config, boost::json::parse(R"({"_set_": {"model_dim": 8, "vocab_info": {"_set_": {"size": 9}}}})"));
    EXPECT_EQ(config.at("model_dim"), boost::json::value(8));
    EXPECT_EQ(config.at("vocab_info").at("size"), boost::json::value(9));

    config::merge_overrides(config, boost::json::parse(R"({"_add_": {"extra": 1}, "vocab_info": {"_del_": ["pad_idx"]}})"));
    EXPECT_EQ(config.at("extra"), boost::json::value(1));
    EXPECT_FALSE(config.at("vocab_info").as_object().contains("pad_idx"));

    EXPECT_EQ(error_of([&] { config::merge_overrides(config, boost::json::parse(R"({"_del_": ["nope"]})")); }),
              "The '_del_' directive names a string (\"nope\"), which is not a key of the config.");
    EXPECT_EQ(error_of([&] { config::merge_overrides(config, boost::json::parse(R"({"vocab_info": {"sizes": 1}})")); }),
              "The field 'vocab_info' has unknown key 'sizes'; valid keys are 'size'.");
    EXPECT_EQ(error_of([&] { config::merge_overrides(config, boost::json::parse(R"({"vocab_info": 5})")); }),
              "The field 'vocab_info' is an object, but the override gives an integer (5).");
}

}  // namespace
}  // namespace fairseq2

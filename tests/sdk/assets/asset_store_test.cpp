// Asset cards and the asset store: YAML and JSON card files, the user,
// system and plugin sources and their precedence, `NAME@user` overlays,
// base chains, path fields, and every malformed card with its message.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include <boost/json.hpp>

#include "fairseq2/assets/asset_card.hpp"
#include "fairseq2/assets/asset_card_source.hpp"
#include "fairseq2/assets/asset_directories.hpp"
#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/asset_store.hpp"
#include "fairseq2/assets/card_loader.hpp"
#include "fairseq2/logging.hpp"
#include "fairseq2/runtime/runtime_context.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;

using assets::AssetCard;
using assets::AssetCardSource;
using assets::AssetStore;
using test::TempDir;
using test::write_file;

// Sets (or, with nullopt, unsets) environment variables for one test.
class ScopedEnv {
public:
    ScopedEnv(std::initializer_list<std::pair<const char*, std::optional<std::string>>> vars)
    {
        for (const auto& [name, value] : vars) {
            const char* old = std::getenv(name);
            saved_.emplace_back(name, old == nullptr ? std::nullopt : std::optional<std::string>(old));
            if (value)
                ::setenv(name, value->c_str(), 1);
            else
                ::unsetenv(name);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv()
    {
        for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
            if (it->second)
                ::setenv(it->first.c_str(), it->second->c_str(), 1);
            else
                ::unsetenv(it->first.c_str());
        }
    }

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A user and a system folder set through the environment.
struct AssetDirs {
    TempDir root;
    fs::path user = root / "user";
    fs::path system = root / "system";
    fs::path cache = root / "cache";
    ScopedEnv env{{"FAIRSEQ2_USER_ASSET_DIR", user.string()},
                  {"FAIRSEQ2_ASSET_DIR", system.string()},
                  {"FAIRSEQ2_CACHE_DIR", cache.string()}};

    AssetDirs()
    {
        fs::create_directories(user);
        fs::create_directories(system);
    }
};

template <typename E = Error>
std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const E& error) {
        return error.what();
    }
    return "(no error)";
}

std::vector<std::string> names_of(const std::vector<assets::AssetCardData>& cards)
{
    std::vector<std::string> names;
    for (const auto& card : cards)
        names.push_back(card.name);
    return names;
}

// --- parsing -------------------------------------------------------------------

TEST(CardLoaderTest, YamlScalarsAreTypedByTheCoreSchema)
{
    auto cards = assets::parse_yaml_cards(R"(# a comment
name: typed
int: 42
negative: -7
hex: 0x1F
octal: 0o17
float: 2.5
exponent: 1e-5
infinity: -.inf
true_value: true
false_value: False
yes_is_a_string: yes
tilde: ~
null_word: null
empty:
quoted_int: "42"
quoted_bool: 'true'
version: 3.2.1
arch: 7b
list: [1, two, 3.0]
nested:
  a: 1
  b: [x, {c: null}]
)",
                                          "typed.yaml");
    ASSERT_EQ(cards.size(), 1u);
    EXPECT_EQ(cards[0].name, "typed");
    EXPECT_EQ(cards[0].line, 2u);
    boost::json::object fields = cards[0].fields;
    ASSERT_TRUE(fields.at("infinity").is_double());
    EXPECT_TRUE(std::isinf(fields.at("infinity").get_double()));
    EXPECT_LT(fields.at("infinity").get_double(), 0.0);
    fields.erase("infinity");
    EXPECT_EQ(boost::json::value(fields), boost::json::parse(R"({
        "name": "typed", "int": 42, "negative": -7, "hex": 31, "octal": 15, "float": 2.5, "exponent": 1e-5,
        "true_value": true, "false_value": false, "yes_is_a_string": "yes", "tilde": null, "null_word": null, "empty": null,
        "quoted_int": "42", "quoted_bool": "true", "version": "3.2.1", "arch": "7b", "list": [1, "two", 3.0],
        "nested": {"a": 1, "b": ["x", {"c": null}]}})"));
    EXPECT_TRUE(cards[0].fields.at("int").is_int64());
    EXPECT_TRUE(cards[0].fields.at("list").get_array()[2].is_double());
}

TEST(CardLoaderTest, YamlDocumentsAreCardsWithTheirLines)
{
    auto cards = assets::parse_yaml_cards("# header only\n---\nname: a\nx: 1\n---\n\nname: b\n---\n", "cards.yaml");
    EXPECT_EQ(names_of(cards), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(cards[0].line, 3u);
    EXPECT_EQ(cards[1].line, 7u);
    EXPECT_EQ(cards[0].location(), "cards.yaml, line 3");
    EXPECT_TRUE(cards[0].on_disk);
    EXPECT_EQ(assets::parse_yaml_cards("", "empty.yaml").size(), 0u);
}

TEST(CardLoaderTest, JsonCardsAreAnObjectOrAnArray)
{
    auto one = assets::parse_json_cards(R"({"name": "a", "model_config": {"model_dim": 64}})", "a.json");
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(one[0].name, "a");
    EXPECT_EQ(one[0].line, 0u);
    EXPECT_EQ(one[0].location(), "a.json");
    EXPECT_EQ(one[0].fields.at("model_config").at("model_dim").as_int64(), 64);
    auto many = assets::parse_json_cards(R"([{"name": "a"}, {"name": "b", "base": "a"}])", "b.json");
    EXPECT_EQ(names_of(many), (std::vector<std::string>{"a", "b"}));

    EXPECT_EQ(error_of<assets::AssetError>([] { assets::parse_json_cards("[1]", "c.json"); }),
              "The asset card file 'c.json' must hold a card object or an array of card objects, but holds an integer (1).");
}

TEST(CardLoaderTest, SyntaxErrorsNameTheFileAndLine)
{
    EXPECT_EQ(error_of<assets::AssetError>([] { assets::parse_yaml_cards("name: a\nmodel_config:\n  model_dim: [64\nx: 1\n", "bad.yaml"); }),
              "The asset card file 'bad.yaml' is not valid YAML: end of sequence flow not found at line 4, column 2.");
    EXPECT_EQ(error_of<assets::AssetError>([] { assets::parse_json_cards("{\n  \"name\": \"a\",\n  \"x\": [1, 2\n}\n", "bad.json"); }),
              "The asset card file 'bad.json' is not valid JSON: syntax error at line 4, column 1.");
}

// Hostile card files, found by tests/fuzz/card_fuzzer.cpp or written as the
// classic attacks on YAML loaders: each is one error, quickly, with bounded
// memory and no deep recursion.
// Found by the card fuzzer: a name holding a NUL cut the message (what() is
// a C string) before the file it names. Control characters in names are
// refused, and quoted escaped.
TEST(CardLoaderTest, ControlCharactersInNamesAreRefusedAndQuotedEscaped)
{
    const std::string nul_name = std::string("{\"name\": \"afr") + '\0' + "atn\"}";
    std::string msg = error_of<assets::AssetError>([&] { assets::parse_yaml_cards(nul_name, "cards.yaml"); });
    EXPECT_EQ(msg, "The field 'name' of the asset card at line 1 of 'cards.yaml' must be a name without control characters, but is "
                   "'afr\\x00atn'.");
    // JSON spells it \u0000.
    msg = error_of<assets::AssetError>([&] { assets::parse_json_cards(R"({"name": "afr\u0000atn"})", "cards.json"); });
    EXPECT_NE(msg.find("'cards.json'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'afr\\x00atn'"), std::string::npos) << msg;
    msg = error_of<assets::AssetError>([&] { assets::parse_yaml_cards("name: a\n\"k\\x1b[2J\": 1\n\"k\\x1b[2J\": 2\n", "cards.yaml"); });
    EXPECT_NE(msg.find("gives the key 'k\\x1b[2J' twice"), std::string::npos) << msg;
}

TEST(CardLoaderTest, HostileYamlIsOneError)
{
    auto yaml_error = [](const std::string& text) {
        return error_of<assets::AssetError>([&] { assets::parse_yaml_cards(text, "cards.yaml"); });
    };
    // yaml-cpp 0.7's LoadAll yields empty documents forever on a stray ','.
    EXPECT_EQ(yaml_error(",]\n"), "The asset card file 'cards.yaml' is not valid YAML: unexpected character at line 1, column 1.");
    EXPECT_EQ(yaml_error("name: a\n---\n, {\"name\": \"b\"}]x\n"),
              "The asset card file 'cards.yaml' is not valid YAML: unexpected character at line 3, column 1.");

    // A billion laughs: ten aliases of ten aliases of ... of one string.
    std::string laughs = "name: a\nl0: &l0 lol\n";
    for (int i = 1; i <= 9; ++i) {
        const std::string name = std::to_string(i);
        const std::string previous = std::to_string(i - 1);
        laughs.append("l").append(name).append(": &l").append(name).append(" [");
        for (int j = 0; j < 10; ++j)
            laughs.append(j ? ", *l" : "*l").append(previous);
        laughs += "]\n";
    }
    std::string msg = yaml_error(laughs);
    EXPECT_NE(msg.find("would expand to more than"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(line 6, column 45)"), std::string::npos) << msg;

    // Aliases within reason are copies.
    auto cards = assets::parse_yaml_cards("name: a\nshared: &s {x: 1}\nagain: *s\n", "cards.yaml");
    ASSERT_EQ(cards.size(), 1u);
    EXPECT_EQ(boost::json::serialize(cards[0].fields.at("again")), R"({"x":1})");

    // A node that contains itself.
    msg = yaml_error("name: a\nloop: &x [1, *x]\n");
    EXPECT_NE(msg.find("refers to an anchor whose node is not complete"), std::string::npos) << msg;

    // 100 000 nested lists: refused at depth 64, before yaml-cpp recurses further.
    std::string deep = "name: a\nx: ";
    deep.append(100000, '[');
    deep.append(100000, ']');
    msg = yaml_error(deep);
    EXPECT_NE(msg.find("nests lists and mappings more than 64 deep (line 2, column 67)"), std::string::npos) << msg;

    // A mapping key that is itself a mapping.
    EXPECT_EQ(yaml_error("name: a\n? {k: v}\n: 1\n"),
              "The asset card file 'cards.yaml' has a mapping key that is not a plain name at line 2; keys must be names.");
}

TEST(CardLoaderTest, MalformedCardsAreRejected)
{
    auto yaml_error = [](const std::string& text) {
        return error_of<assets::AssetError>([&] { assets::parse_yaml_cards(text, "cards.yaml"); });
    };
    EXPECT_EQ(yaml_error("- a\n- b\n"), "The document at line 1 of 'cards.yaml' is not a mapping of fields, so it is not an asset card.");
    EXPECT_EQ(yaml_error("model_family: llama\n"), "The asset card at line 1 of 'cards.yaml' does not have a field named 'name'.");
    EXPECT_EQ(yaml_error("name: 3\n"),
              "The field 'name' of the asset card at line 1 of 'cards.yaml' must be a non-empty string, but is an integer (3).");
    EXPECT_EQ(yaml_error("name: a\n---\nname: b\n---\nname: a\n"),
              "The asset card file 'cards.yaml' defines the card 'a' twice (at lines 1 and 5); card names must be unique.");
    EXPECT_EQ(yaml_error("name: a\nx: 1\nx: 2\n"), "The asset card file 'cards.yaml' gives the key 'x' twice in one mapping (line 3).");
    EXPECT_EQ(yaml_error("name: a@env\n"),
              "The asset card name 'a@env' (cards.yaml, line 1) is invalid; '@' is reserved for overlay cards named 'NAME@user'.");
    EXPECT_EQ(yaml_error("name: a@user\nbase: b\n"),
              "The 'a@user' asset card (cards.yaml, line 1) sets 'base', but an overlay card only changes fields of 'a'; set 'base' in "
              "that card instead.");
    EXPECT_EQ(yaml_error("name: a\nbase: [b]\n"),
              "The field 'base' of the 'a' asset card (cards.yaml, line 1) must be the name of another card (a string without '@'), but "
              "is an array ([\"b\"]).");
    EXPECT_EQ(yaml_error("name: a\nbase: a\n"), "The 'a' asset card (cards.yaml, line 1) names itself as its base.");
    EXPECT_EQ(error_of<assets::AssetError>([] { assets::parse_json_cards(R"([{"name": "a"}, {"name": "a"}])", "cards.json"); }),
              "The asset card file 'cards.json' defines the card 'a' twice; card names must be unique.");
}

TEST(AssetCardSourceTest, ReadsAFolderRecursivelyAndRejectsDuplicates)
{
    TempDir dir;
    fs::create_directories(dir / "sub");
    fs::create_directories(dir / ".hidden");
    write_file(dir / "b.yaml", "name: b\n");
    write_file(dir / "sub" / "a.yml", "name: a\n---\nname: c\n");
    write_file(dir / "d.json", R"({"name": "d"})");
    write_file(dir / ".hidden" / "e.yaml", "name: e\n");
    write_file(dir / "notes.txt", "name: f\n");
    auto source = AssetCardSource::from_directory(dir.path());
    std::vector<std::string> names;
    for (const auto& card : source->cards())
        names.push_back(card->name);
    // Path order: b.yaml, d.json, sub/a.yml.
    EXPECT_EQ(names, (std::vector<std::string>{"b", "d", "a", "c"}));
    ASSERT_TRUE(source->find("c"));
    EXPECT_EQ(source->find("c")->file, dir / "sub" / "a.yml");
    EXPECT_EQ(source->find("c")->line, 3u);
    EXPECT_FALSE(source->find("e"));

    write_file(dir / "sub" / "z.json", R"({"name": "b"})");
    EXPECT_EQ(error_of<assets::AssetError>([&] { AssetCardSource::from_directory(dir.path()); }),
              "The asset card 'b' is defined twice: in " + (dir / "b.yaml").string() + ", line 1 and in " + (dir / "sub" / "z.json").string() +
                  "; card names must be unique.");

    EXPECT_EQ(AssetCardSource::from_directory(dir / "missing")->cards().size(), 0u);
    EXPECT_EQ(error_of<assets::AssetError>([&] { AssetCardSource::from_directory(dir / "notes.txt"); }),
              "The asset folder '" + (dir / "notes.txt").string() + "' is not a folder.");
}

// --- folders -------------------------------------------------------------------

TEST(AssetDirectoriesTest, EnvironmentThenXdgThenHome)
{
    {
        ScopedEnv env{{"FAIRSEQ2_USER_ASSET_DIR", "/u"}, {"FAIRSEQ2_ASSET_DIR", "/s"}, {"FAIRSEQ2_CACHE_DIR", "/c"}};
        EXPECT_EQ(assets::user_asset_dir(), fs::path("/u"));
        EXPECT_EQ(assets::system_asset_dir(), fs::path("/s"));
        EXPECT_EQ(assets::asset_cache_dir(), fs::path("/c"));
    }
    {
        ScopedEnv env{{"FAIRSEQ2_USER_ASSET_DIR", ""},   {"FAIRSEQ2_ASSET_DIR", std::nullopt}, {"FAIRSEQ2_CACHE_DIR", std::nullopt},
                      {"XDG_CONFIG_HOME", "/xdg/config"}, {"XDG_CACHE_HOME", "/xdg/cache"}};
        EXPECT_EQ(assets::user_asset_dir(), fs::path("/xdg/config/fairseq2/assets"));
        EXPECT_EQ(assets::asset_cache_dir(), fs::path("/xdg/cache/fairseq2/assets"));
        EXPECT_EQ(assets::system_asset_dir(), assets::installed_asset_dir());
    }
    {
        ScopedEnv env{{"FAIRSEQ2_USER_ASSET_DIR", std::nullopt}, {"FAIRSEQ2_CACHE_DIR", std::nullopt}, {"XDG_CONFIG_HOME", std::nullopt},
                      {"XDG_CACHE_HOME", std::nullopt},          {"HOME", "/home/someone"}};
        EXPECT_EQ(assets::user_asset_dir(), fs::path("/home/someone/.config/fairseq2/assets"));
        EXPECT_EQ(assets::asset_cache_dir(), fs::path("/home/someone/.cache/fairseq2/assets"));
    }
    // <build or install prefix>/share/fairseq2/assets, beside lib/.
    const fs::path installed = assets::installed_asset_dir();
    EXPECT_TRUE(installed.is_absolute()) << installed;
    EXPECT_EQ(installed.filename(), "assets");
    EXPECT_EQ(installed.parent_path().filename(), "fairseq2");
    EXPECT_EQ(installed.parent_path().parent_path().filename(), "share");
}

// --- the store -------------------------------------------------------------------

TEST(AssetStoreTest, UserCardsWinOverSystemCardsOverPluginCards)
{
    AssetDirs dirs;
    write_file(dirs.system / "cards.yaml", "name: shared\nnote: system\nmodel_family: llama\n---\nname: system_only\nnote: system\n");
    write_file(dirs.user / "cards.yaml", "name: shared\nnote: user\n");
    // The host sets plugins up in a context named after the plugin file.
    RuntimeContext context("/plugins/libfake.so");
    assets::register_cards(context, "fake", "name: shared\nnote: plugin\n---\nname: plugin_only\nnote: plugin\n", "fake.yaml");

    auto store = AssetStore::load_default(context);
    ASSERT_EQ(store->sources().size(), 3u);
    EXPECT_EQ(store->sources()[0].name, "user");
    EXPECT_EQ(store->sources()[0].location, dirs.user.string());
    EXPECT_EQ(store->sources()[1].name, "system");
    EXPECT_EQ(store->sources()[1].location, dirs.system.string());
    EXPECT_EQ(store->sources()[2].name, "plugin");
    EXPECT_EQ(store->sources()[2].location, "/plugins/libfake.so");
    EXPECT_EQ(store->card_names(), (std::vector<std::string>{"plugin_only", "shared", "system_only"}));

    auto shared = store->retrieve_card("shared");
    EXPECT_EQ(shared->name(), "shared");
    ASSERT_EQ(shared->layers().size(), 1u);
    EXPECT_EQ(shared->layers()[0].source, "user");
    EXPECT_EQ(shared->layers()[0].data->file, dirs.user / "cards.yaml");
    EXPECT_EQ(shared->string_field("note"), "user");
    // A field the winning card lacks does not come from the card it hides.
    EXPECT_FALSE(shared->find_field("model_family"));

    EXPECT_EQ(store->retrieve_card("system_only")->string_field("note"), "system");
    auto plugin = store->retrieve_card("plugin_only");
    EXPECT_EQ(plugin->string_field("note"), "plugin");
    EXPECT_EQ(plugin->layers()[0].source, "plugin");
    EXPECT_EQ(plugin->layers()[0].data->location(), "libfake.so:fake.yaml, line 4");
    EXPECT_FALSE(plugin->layers()[0].data->on_disk);

    EXPECT_EQ(error_of<assets::AssetCardNotFoundError>([&] { store->retrieve_card("nope"); }), "'nope' is not a known asset card.");
}

TEST(AssetStoreTest, UserOverlayChangesFieldsOfTheCard)
{
    AssetDirs dirs;
    write_file(dirs.system / "m.yaml", "name: m\nmodel_family: llama\ncheckpoint: /sys/m.pt\nnote: system\n");
    write_file(dirs.user / "mine.yaml", "name: m@user\ncheckpoint: /mine/m.pt\n---\nname: lonely@user\nnote: x\n");
    RuntimeContext context;
    auto store = AssetStore::load_default(context);

    auto card = store->retrieve_card("m");
    EXPECT_EQ(card->name(), "m");
    ASSERT_EQ(card->layers().size(), 2u);
    EXPECT_EQ(card->layers()[0].data->name, "m@user");
    EXPECT_EQ(card->layers()[0].source, "user");
    EXPECT_EQ(card->layers()[1].data->name, "m");
    EXPECT_EQ(card->layers()[1].source, "system");
    EXPECT_EQ(card->string_field("checkpoint"), "/mine/m.pt");
    EXPECT_EQ(card->string_field("note"), "system");
    EXPECT_EQ(card->path_field("checkpoint"), fs::path("/mine/m.pt"));
    // Overlays are not cards of their own.
    EXPECT_EQ(store->card_names(), (std::vector<std::string>{"m"}));
    EXPECT_EQ(error_of<assets::AssetCardNotFoundError>([&] { store->retrieve_card("m@user"); }),
              "'m@user' is not a card name; 'm' is, and retrieving it applies its overlay cards.");
    EXPECT_EQ(error_of<assets::AssetCardNotFoundError>([&] { store->retrieve_card("lonely"); }),
              "'lonely' is not a known asset card; the 'lonely@user' card (" + (dirs.user / "mine.yaml").string() +
                  ", line 4) changes fields of it, but no card named 'lonely' exists.");
}

TEST(AssetStoreTest, FieldsFallBackAlongTheBaseChain)
{
    AssetDirs dirs;
    fs::create_directories(dirs.system / "family");
    write_file(dirs.system / "family" / "root.yaml",
               "name: root\nmodel_family: llama\nmodel_arch: llama2_7b\ncheckpoint: weights/root.pt\nextra:\n  a: 1\n");
    write_file(dirs.user / "child.yaml", "name: child\nbase: middle\nmodel_arch: llama3_8b\n---\nname: middle\nbase: root\nnote: middle\n");
    RuntimeContext context;
    auto store = AssetStore::load_default(context);

    auto child = store->retrieve_card("child");
    std::vector<std::string> chain;
    for (const AssetCard* card : child->chain())
        chain.push_back(card->name());
    EXPECT_EQ(chain, (std::vector<std::string>{"child", "middle", "root"}));
    EXPECT_EQ(child->string_field("model_arch"), "llama3_8b");
    EXPECT_EQ(child->string_field("model_family"), "llama");
    EXPECT_EQ(child->string_field("note"), "middle");
    auto field = child->field("extra.a");
    EXPECT_EQ(field.value->as_int64(), 1);
    EXPECT_EQ(field.card->name(), "root");
    EXPECT_EQ(AssetCard::describe(field), "'root' asset card (" + (dirs.system / "family" / "root.yaml").string() + ", line 1)");
    // A relative path resolves against the folder of the card that wrote it.
    EXPECT_EQ(child->path_field("checkpoint"), dirs.system / "family" / "weights" / "root.pt");
    EXPECT_EQ(error_of<assets::AssetError>([&] { child->field("extra.b"); }),
              "The 'child' asset card does not have a field named 'extra.b'.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { child->string_field("extra"); }),
              "The field 'extra' of the 'root' asset card (" + (dirs.system / "family" / "root.yaml").string() +
                  ", line 1) must be a string, but is an object ({\"a\":1}).");
    EXPECT_EQ(child->optional_string_field("missing"), std::nullopt);
}

TEST(AssetStoreTest, MissingBasesAndCyclesAreErrors)
{
    AssetDirs dirs;
    write_file(dirs.user / "bad.yaml",
               "name: orphan\nbase: ghost\n---\nname: grandchild\nbase: orphan\n---\nname: a\nbase: b\n---\nname: b\nbase: c\n---\nname: c\nbase: "
               "a\n");
    RuntimeContext context;
    auto store = AssetStore::load_default(context);
    const std::string file = (dirs.user / "bad.yaml").string();
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("orphan"); }),
              "A transitive base asset card with name 'ghost' is not found; the 'orphan' card (" + file + ", line 1) names it as its base.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("grandchild"); }),
              "A transitive base asset card with name 'ghost' is not found; the 'orphan' card (" + file + ", line 1) names it as its base.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("a"); }),
              "The base chain of the 'a' asset card has a cycle: a -> b -> c -> a.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("c"); }),
              "The base chain of the 'c' asset card has a cycle: c -> a -> b -> c.");
}

TEST(AssetStoreTest, PathFields)
{
    AssetDirs dirs;
    fs::create_directories(dirs.user / "sub");
    write_file(dirs.user / "sub" / "paths.yaml",
               "name: relative\ncheckpoint: ../weights/model.pt\n---\nname: uri\ncheckpoint: file:///data/my%20model.pt\n---\n"
               "name: localhost\ncheckpoint: file://localhost/data/m.pt\n---\nname: bad_uri\ncheckpoint: file://data/m.pt\n---\n"
               "name: remote\ncheckpoint: https://example.com/models/model.pt?download=1\n---\nname: home\ncheckpoint: ~/m.pt\n---\n"
               "name: number\ncheckpoint: 3\n");
    ScopedEnv home{{"HOME", "/home/someone"}};
    RuntimeContext context("libfake.so");
    assets::register_cards(context, "fake", "name: embedded\ncheckpoint: rel.pt\n", "fake.yaml");
    auto store = AssetStore::load_default(context);
    const std::string file = (dirs.user / "sub" / "paths.yaml").string();

    EXPECT_EQ(store->retrieve_card("relative")->path_field("checkpoint"), dirs.user / "weights" / "model.pt");
    EXPECT_EQ(store->retrieve_card("uri")->path_field("checkpoint"), fs::path("/data/my model.pt"));
    EXPECT_EQ(store->retrieve_card("localhost")->path_field("checkpoint"), fs::path("/data/m.pt"));
    EXPECT_EQ(store->retrieve_card("home")->path_field("checkpoint"), fs::path("/home/someone/m.pt"));
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("bad_uri")->path_field("checkpoint"); }),
              "The field 'checkpoint' of the 'bad_uri' asset card (" + file +
                  ", line 10) is the URI 'file://data/m.pt', but a file URI must name an absolute path (file:///PATH).");
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("remote")->path_field("checkpoint"); }),
              "The field 'checkpoint' of the 'remote' asset card (" + file +
                  ", line 13) is the URI 'https://example.com/models/model.pt?download=1', which cannot be downloaded here; put the file at '" +
                  (dirs.cache / "remote" / "model.pt").string() + "' and set 'checkpoint' to that path in a 'remote@user' card in the user asset folder '" +
                  dirs.user.string() + "'.");
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("number")->path_field("checkpoint"); }),
              "The field 'checkpoint' of the 'number' asset card (" + file + ", line 19) must be a string, but is an integer (3).");
    EXPECT_EQ(error_of<assets::AssetError>([&] { store->retrieve_card("embedded")->path_field("checkpoint"); }),
              "The field 'checkpoint' of the 'embedded' asset card (libfake.so:fake.yaml, line 1) is the relative path 'rel.pt', but that "
              "card is not in a folder to resolve it against; give an absolute path.");
}

TEST(AssetStoreTest, BrokenFilesAreWarningsUnlessStrict)
{
    AssetDirs dirs;
    write_file(dirs.user / "good.yaml", "name: good\n");
    write_file(dirs.system / "broken.yaml", "name: broken\nmodel_config: {model_dim: 64\n");
    RuntimeContext context;

    // Strict: the broken file fails the store, naming the file and line.
    const std::string message = error_of<assets::AssetError>([&] { AssetStore::load_default(context, /*strict=*/true); });
    EXPECT_EQ(message.rfind("The asset card file '" + (dirs.system / "broken.yaml").string() + "' is not valid YAML: ", 0), 0u) << message;
    EXPECT_NE(message.find(" at line 3, column 1."), std::string::npos) << message;

    // By default it is one warning with the same words, and the other cards load.
    std::string warnings;
    {
        ScopedLogSink sink([&](LogLevel level, std::string_view text) {
            if (level == LogLevel::warn)
                warnings += std::string(text) + "\n";
        });
        auto store = AssetStore::load_default(context);
        EXPECT_EQ(store->card_names(), (std::vector<std::string>{"good"}));
    }
    EXPECT_EQ(warnings, message + " Its cards are left out; the other card files still load (`fairseq2 assets list --strict` makes this an "
                                  "error).\n");

    // A folder named in the environment that does not exist only has no cards.
    ScopedEnv env{{"FAIRSEQ2_ASSET_DIR", (dirs.root / "missing").string()}};
    auto store = AssetStore::load_default(context);
    EXPECT_EQ(store->card_names(), (std::vector<std::string>{"good"}));
}

// People keep checkpoints and tokenizers beside their cards: JSON files
// without a card's shape are not cards.
TEST(AssetStoreTest, FilesThatAreNotCardsAreSkipped)
{
    TempDir dir;
    write_file(dir / "card.yaml", "name: a\nmodel_family: llama\n");
    write_file(dir / "cards.json", R"([{"name": "b"}, {"name": "c"}])");
    write_file(dir / "one.json", R"({"name": "d", "model_family": "llama"})");
    std::filesystem::create_directories(dir / "model");
    write_file(dir / "model" / "config.json", R"({"model_type": "llama", "hidden_size": 64})");
    write_file(dir / "model" / "tokenizer.json", R"({"version": "1.0", "model": {"type": "BPE", "vocab": {}}})");
    write_file(dir / "model" / "tokenizer_config.json", R"({"bos_token": "<s>", "add_bos_token": true})");
    write_file(dir / "model" / "model.safetensors.index.json", R"({"metadata": {}, "weight_map": {}})");
    write_file(dir / "model" / "params.json", R"({"dim": 64, "n_layers": 2})");
    write_file(dir / "model" / "list.json", R"([1, 2, 3])");
    write_file(dir / "model" / "named_number.json", R"({"name": 3})");
    write_file(dir / "model" / "tokenizer.model", "not a card");
    auto source = AssetCardSource::from_directory(dir.path(), /*strict=*/true);
    std::vector<std::string> names;
    for (const auto& card : source->cards())
        names.push_back(card->name);
    EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(AssetStoreTest, PluginCardsWithBadTextFailRegistration)
{
    RuntimeContext context("libfake.so");
    EXPECT_EQ(error_of<assets::AssetError>([&] { assets::register_cards(context, "fake", "name: [x\n", "fake.yaml"); }).rfind(
                  "The asset card file 'libfake.so:fake.yaml' is not valid YAML: ", 0),
              0u);
    EXPECT_FALSE(context.get_registry<AssetCardSource>().contains("fake"));
}

}  // namespace
}  // namespace fairseq2

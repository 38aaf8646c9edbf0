// The one checkpoint entry point: format detection by content, directory
// layouts, sharded checkpoints and their errors, recorded model metadata,
// the checkpoint dtype rule and load progress.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/load_progress.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;
using checkpoint::load_checkpoint;
using checkpoint::StateDict;
using test::TempDir;

StateDict first_half()
{
    return {{"a.weight", at::arange(6, at::kFloat).view({2, 3})}, {"b.weight", at::ones({2})}};
}

StateDict second_half()
{
    return {{"c.weight", at::full({3}, 2.5)}};
}

std::string load_error(const fs::path& path)
{
    try {
        load_checkpoint(path);
    } catch (const CheckpointError& error) {
        return error.what();
    }
    return "(no error)";
}

// A sharded safetensors checkpoint: two shards and their index.
void write_sharded(const fs::path& dir, const std::string& index_text)
{
    fs::create_directories(dir);
    checkpoint::write_safetensors(dir / "model-00001-of-00002.safetensors", first_half());
    checkpoint::write_safetensors(dir / "model-00002-of-00002.safetensors", second_half());
    test::write_file(dir / "model.safetensors.index.json", index_text);
}

const std::string good_index = R"({"metadata": {"total_size": 44}, "weight_map": {
    "a.weight": "model-00001-of-00002.safetensors",
    "b.weight": "model-00001-of-00002.safetensors",
    "c.weight": "model-00002-of-00002.safetensors"}})";

TEST(CheckpointLoaderTest, DetectsTheFormatByContent)
{
    TempDir dir;
    // A safetensors file with a torch extension, and a torch archive with none.
    checkpoint::write_safetensors(dir / "weights.bin", first_half());
    checkpoint::save_fairseq2_checkpoint(dir / "weights", first_half());
    for (const char* name : {"weights.bin", "weights"}) {
        auto loaded = load_checkpoint(dir / name);
        EXPECT_EQ(loaded.state_dict.size(), 2u) << name;
        EXPECT_TRUE(at::equal(loaded.state_dict.at("a.weight"), first_half().at("a.weight"))) << name;
        EXPECT_EQ(loaded.files, std::vector<fs::path>{dir / name});
    }
    EXPECT_FALSE(load_checkpoint(dir / "weights.bin").fairseq2_layout);
    EXPECT_TRUE(load_checkpoint(dir / "weights").fairseq2_layout);
}

TEST(CheckpointLoaderTest, FilesOfNoKnownFormat)
{
    TempDir dir;
    test::write_file(dir / "model.pt", "not a zip file");
    EXPECT_EQ(load_error(dir / "model.pt"), "Cannot read the PyTorch archive '" + (dir / "model.pt").string() +
                                                "': it is not a PyTorch zip archive; expected a zip file starting with the bytes 50 4b "
                                                "03 04 (\"PK\\x03\\x04\"), found 6e 6f 74 20.");
    test::write_file(dir / "legacy.pt", std::string("\x80\x02\x8a\x0a", 4));
    EXPECT_EQ(load_error(dir / "legacy.pt"),
              "Cannot read the PyTorch archive '" + (dir / "legacy.pt").string() +
                  "': it is a legacy (pre-zip) torch.save archive, which is not supported; re-save it with torch.save in PyTorch >= 1.6 "
                  "(without _use_new_zipfile_serialization=False).");
    test::write_file(dir / "notes.txt", "hello");
    EXPECT_EQ(load_error(dir / "notes.txt"),
              "The checkpoint '" + (dir / "notes.txt").string() +
                  "' is neither a safetensors file nor a PyTorch zip archive: it starts with the bytes 68 65 6c 6c 6f, but a safetensors "
                  "file starts with an 8-byte header length and '{', and a torch.save archive with 50 4b 03 04 (\"PK\\x03\\x04\").");
    // A damaged .safetensors gets the safetensors reader's explanation.
    test::write_file(dir / "cut.safetensors", std::string("\x10\x00", 2));
    EXPECT_EQ(load_error(dir / "cut.safetensors"), "The safetensors file '" + (dir / "cut.safetensors").string() +
                                                       "' is truncated: it has 2 bytes, fewer than the 8 bytes of its header length.");
    EXPECT_EQ(load_error(dir / "absent.pt"), "The checkpoint '" + (dir / "absent.pt").string() + "' does not exist.");
}

TEST(CheckpointLoaderTest, DirectoryLayouts)
{
    TempDir dir;
    EXPECT_EQ(load_error(dir.path()),
              "The checkpoint directory '" + dir.path().string() +
                  "' holds no checkpoint: expected model.safetensors (or a sharded set with model.safetensors.index.json), "
                  "pytorch_model.bin (or pytorch_model.bin.index.json), consolidated.00.pth, or a single .safetensors, .pt, .pth or .bin "
                  "file.");

    // A single torch archive, whatever its name.
    checkpoint::save_fairseq2_checkpoint(dir / "model.pt", first_half());
    EXPECT_EQ(load_checkpoint(dir.path()).files, std::vector<fs::path>{dir / "model.pt"});
    checkpoint::save_fairseq2_checkpoint(dir / "other.pth", first_half());
    EXPECT_EQ(load_error(dir.path()), "The checkpoint directory '" + dir.path().string() +
                                          "' holds several checkpoint files ('model.pt', 'other.pth') but no pytorch_model.bin.index.json "
                                          "saying how they form one checkpoint; pass one file instead.");
    // Meta's consolidated.00.pth wins over other archives.
    checkpoint::save_fairseq2_checkpoint(dir / "consolidated.00.pth", second_half());
    EXPECT_EQ(load_checkpoint(dir.path()).files, std::vector<fs::path>{dir / "consolidated.00.pth"});
    checkpoint::save_fairseq2_checkpoint(dir / "consolidated.01.pth", second_half());
    EXPECT_EQ(load_error(dir.path()),
              "The checkpoint directory '" + dir.path().string() +
                  "' holds 2 model-parallel shards ('consolidated.00.pth', 'consolidated.01.pth'); sharded reference checkpoints need "
                  "tensor parallelism, which is not supported yet, so merge them into one consolidated.00.pth or use a Hugging Face "
                  "checkpoint.");
    // Safetensors win over archives; several need an index.
    checkpoint::write_safetensors(dir / "a.safetensors", first_half());
    EXPECT_EQ(load_checkpoint(dir.path()).files, std::vector<fs::path>{dir / "a.safetensors"});
    checkpoint::write_safetensors(dir / "b.safetensors", second_half());
    EXPECT_EQ(load_error(dir.path()), "The checkpoint directory '" + dir.path().string() +
                                          "' holds several safetensors files ('a.safetensors', 'b.safetensors') but no "
                                          "model.safetensors.index.json saying how they form one checkpoint.");
    checkpoint::write_safetensors(dir / "model.safetensors", second_half());
    EXPECT_EQ(load_checkpoint(dir.path()).files, std::vector<fs::path>{dir / "model.safetensors"});
}

TEST(CheckpointLoaderTest, ShardedSafetensors)
{
    TempDir dir;
    write_sharded(dir.path(), good_index);
    for (const fs::path& path : {dir.path(), dir / "model.safetensors.index.json"}) {
        auto loaded = load_checkpoint(path, {.mmap = false});
        EXPECT_EQ(loaded.state_dict.size(), 3u);
        EXPECT_TRUE(at::equal(loaded.state_dict.at("c.weight"), second_half().at("c.weight")));
        EXPECT_EQ(loaded.files.size(), 2u);
        EXPECT_FALSE(loaded.fairseq2_layout);
    }
}

TEST(CheckpointLoaderTest, ShardErrors)
{
    TempDir dir;
    const fs::path index = dir / "model.safetensors.index.json";

    write_sharded(dir.path(), good_index);
    fs::remove(dir / "model-00002-of-00002.safetensors");
    EXPECT_EQ(load_error(dir.path()), "The shard index '" + index.string() +
                                          "' names the shard 'model-00002-of-00002.safetensors', which does not exist in '" +
                                          dir.path().string() + "'.");

    // The same key in two shards.
    write_sharded(dir.path(), good_index);
    checkpoint::write_safetensors(dir / "model-00002-of-00002.safetensors", {{"c.weight", at::ones({3})}, {"a.weight", at::ones({1})}});
    EXPECT_EQ(load_error(dir.path()), "The checkpoint '" + dir.path().string() +
                                          "' has the key 'a.weight' in two shards, 'model-00001-of-00002.safetensors' and "
                                          "'model-00002-of-00002.safetensors'; each key must be in exactly one shard.");

    // The index puts a key where it is not.
    write_sharded(dir.path(), R"({"weight_map": {"a.weight": "model-00002-of-00002.safetensors",
                                                 "b.weight": "model-00001-of-00002.safetensors",
                                                 "c.weight": "model-00002-of-00002.safetensors"}})");
    EXPECT_EQ(load_error(dir.path()), "The shard index '" + index.string() +
                                          "' puts the key 'a.weight' in 'model-00002-of-00002.safetensors', but it is in "
                                          "'model-00001-of-00002.safetensors'.");
    write_sharded(dir.path(), R"({"weight_map": {"zz": "model-00002-of-00002.safetensors",
                                                 "a.weight": "model-00001-of-00002.safetensors"}})");
    EXPECT_EQ(load_error(dir.path()), "The shard index '" + index.string() +
                                          "' puts the key 'zz' in 'model-00002-of-00002.safetensors', but no shard holds it.");

    write_sharded(dir.path(), "{\"weight_map\": {\n  \"a\": \"x\",,\n}}");
    EXPECT_EQ(load_error(dir.path()), "The file '" + index.string() + "' is not valid JSON: syntax error at line 2, column 12.");
    write_sharded(dir.path(), R"({"metadata": {}})");
    EXPECT_EQ(load_error(dir.path()), "The shard index '" + index.string() +
                                          "' has no \"weight_map\" object; expected {\"weight_map\": {\"KEY\": \"SHARD FILE\", ...}}.");
    write_sharded(dir.path(), R"({"weight_map": {"a.weight": "../model-00001-of-00002.safetensors"}})");
    EXPECT_EQ(load_error(dir.path()), "The shard index '" + index.string() +
                                          "' names the shard '../model-00001-of-00002.safetensors', which is not a file name in the index's "
                                          "folder.");
}

TEST(CheckpointLoaderTest, RecordedModelMetadata)
{
    TempDir dir;
    const boost::json::value config = boost::json::parse(R"({"model_dim": 64, "vocab_info": {"size": 8, "pad_idx": null},
                                                              "ratio": 0.5, "flag": true, "pair": [1.0, 4.0], "name": "x"})");
    checkpoint::save_fairseq2_checkpoint(dir / "model.pt", first_half(), checkpoint::ModelMetadata{"toy", config});
    checkpoint::write_safetensors(dir / "model.safetensors", first_half(),
                                  {{"fs2", "true"}, {"model_family", "toy"}, {"model_config", boost::json::serialize(config)}});
    for (const char* name : {"model.pt", "model.safetensors"}) {
        auto loaded = load_checkpoint(dir / name);
        EXPECT_TRUE(loaded.fairseq2_layout) << name;
        ASSERT_TRUE(loaded.model.has_value()) << name;
        EXPECT_EQ(loaded.model->family, "toy");
        EXPECT_EQ(loaded.model->config, config) << boost::json::serialize(loaded.model->config);
    }

    // Python's torch.load reads the metadata as plain values.
    const std::string script = "import sys, torch, json\n"
                               "c = torch.load(sys.argv[1])\n"
                               "print(sorted(c.keys()), c['model_family'], json.dumps(c['model_config'], sort_keys=True))\n";
    test::write_file(dir / "read.py", script);
    auto result = test::run_command(test::python() + " " + test::shell_quote((dir / "read.py").string()) + " " +
                                    test::shell_quote((dir / "model.pt").string()));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "['fs2', 'model', 'model_config', 'model_family', 'model_key'] toy {\"flag\": true, \"model_dim\": 64, \"name\": "
                          "\"x\", \"pair\": [1.0, 4.0], \"ratio\": 0.5, \"vocab_info\": {\"pad_idx\": null, \"size\": 8}}\n");

    // A fairseq2 safetensors file whose model_config is not JSON.
    checkpoint::write_safetensors(dir / "bad.safetensors", first_half(),
                                  {{"fs2", "true"}, {"model_family", "toy"}, {"model_config", "{oops"}});
    EXPECT_EQ(load_error(dir / "bad.safetensors"), "The safetensors file '" + (dir / "bad.safetensors").string() +
                                                       "' has a \"model_config\" metadata entry that is not a JSON object (syntax error).");
}

TEST(CheckpointDtypeTest, TheFloatingDtypeHoldingMostElements)
{
    EXPECT_EQ(checkpoint::checkpoint_dtype({}), at::kFloat);
    EXPECT_EQ(checkpoint::checkpoint_dtype({{"ids", at::zeros({100}, at::kLong)}}), at::kFloat);
    EXPECT_EQ(checkpoint::checkpoint_dtype({{"w", at::zeros({10}, at::kBFloat16)}, {"freqs", at::zeros({4}, at::kFloat)},
                                            {"ids", at::zeros({100}, at::kLong)}}),
              at::kBFloat16);
    EXPECT_EQ(checkpoint::checkpoint_dtype({{"w", at::zeros({10}, at::kHalf)}, {"v", at::zeros({11}, at::kDouble)}}), at::kDouble);
}

TEST(LoadProgressTest, DrawsABarOnATerminalAfterTheDelay)
{
    std::FILE* stream = std::tmpfile();
    ASSERT_NE(stream, nullptr);
    {
        checkpoint::LoadProgress progress("/ckpt/model.safetensors", 2'000'000, {.terminal = true, .delay_s = 0.0, .stream = stream});
        progress.advance(1'000'000);
        EXPECT_TRUE(progress.drew_bar());
        progress.advance(1'000'000);
        progress.finish(7);
    }
    std::rewind(stream);
    std::string text;
    char buffer[512];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, stream))
        text.append(buffer, n);
    std::fclose(stream);
    EXPECT_NE(text.find("\r\x1b[KLoading /ckpt/model.safetensors [===============>              ]  50% 1.00 MB / 2.00 MB"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("[==============================] 100% 2.00 MB / 2.00 MB"), std::string::npos) << text;
    EXPECT_TRUE(text.ends_with(" s\n")) << text;

    // Not a terminal (or fast): no bar.
    std::FILE* quiet = std::tmpfile();
    {
        checkpoint::LoadProgress progress("x", 10, {.terminal = false, .delay_s = 0.0, .stream = quiet});
        progress.advance(10);
        EXPECT_FALSE(progress.drew_bar());
        progress.finish(1);
    }
    EXPECT_EQ(std::ftell(quiet), 0);
    std::fclose(quiet);
}

TEST(LoadProgressTest, FormatsBytes)
{
    EXPECT_EQ(checkpoint::format_bytes(17), "17 B");
    EXPECT_EQ(checkpoint::format_bytes(1'500), "1.50 KB");
    EXPECT_EQ(checkpoint::format_bytes(1'073'741'824), "1.07 GB");
}

}  // namespace
}  // namespace fairseq2

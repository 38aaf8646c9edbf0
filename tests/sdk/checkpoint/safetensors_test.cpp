// The safetensors header parser (every malformed case with its message), the
// reader (memory-mapped and not) and the writer.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <boost/json.hpp>

#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/checkpoint/safetensors_header.hpp"
#include "fairseq2/error.hpp"
#include "test_support.hpp"

namespace fairseq2 {
namespace {

namespace fs = std::filesystem;
using checkpoint::parse_safetensors_header;
using checkpoint::SafetensorsDtype;
using test::TempDir;

// The 8-byte little-endian length of `header`, then `header`, then `data`.
std::string safetensors_bytes(const std::string& header, const std::string& data = "")
{
    std::string bytes(8, '\0');
    std::uint64_t length = header.size();
    for (int i = 0; i < 8; ++i)
        bytes[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
    return bytes + header + data;
}

std::string length_only(std::uint64_t length)
{
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i)
        bytes[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
    return bytes;
}

std::string parse_error(const std::string& bytes)
{
    try {
        parse_safetensors_header(bytes, bytes.size(), "/ckpt/m.safetensors");
    } catch (const CheckpointError& error) {
        return error.what();
    }
    return "(no error)";
}

// 24 data bytes: two F32 tensors of shape (3,).
const std::string two_tensors = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}})";

TEST(SafetensorsHeaderTest, ParsesEntriesInDataOrderAndMetadata)
{
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"z":{"dtype":"BF16","shape":[2,2],"data_offsets":[8,16]},)"
        R"("y":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"BOOL","shape":[0,5],"data_offsets":[16,16]}})";
    const std::string bytes = safetensors_bytes(header, std::string(16, '\0'));
    auto parsed = parse_safetensors_header(bytes, bytes.size(), "m");
    EXPECT_EQ(parsed.data_offset, 8 + header.size());
    ASSERT_EQ(parsed.entries.size(), 3u);
    EXPECT_EQ(parsed.entries[0].name, "y");
    EXPECT_EQ(parsed.entries[0].dtype, SafetensorsDtype::i64);
    EXPECT_TRUE(parsed.entries[0].shape.empty());
    EXPECT_EQ(parsed.entries[1].name, "z");
    EXPECT_EQ(parsed.entries[1].shape, (std::vector<std::int64_t>{2, 2}));
    EXPECT_EQ(parsed.entries[1].begin, 8u);
    EXPECT_EQ(parsed.entries[1].end, 16u);
    EXPECT_EQ(parsed.entries[2].name, "e");
    EXPECT_EQ(parsed.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST(SafetensorsHeaderTest, EveryDtypeHasItsSize)
{
    const std::pair<const char*, std::size_t> dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                          {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
    for (const auto& [name, size] : dtypes) {
        const std::string header = std::string(R"({"t":{"dtype":")") + name + R"(","shape":[3],"data_offsets":[0,)" +
                                   std::to_string(3 * size) + "]}}";
        const std::string bytes = safetensors_bytes(header, std::string(3 * size, '\0'));
        auto parsed = parse_safetensors_header(bytes, bytes.size(), "m");
        ASSERT_EQ(parsed.entries.size(), 1u) << name;
        EXPECT_EQ(checkpoint::safetensors_dtype_name(parsed.entries[0].dtype), name);
        EXPECT_EQ(checkpoint::safetensors_dtype_size(parsed.entries[0].dtype), size) << name;
    }
}

TEST(SafetensorsHeaderTest, TruncatedFiles)
{
    EXPECT_EQ(parse_error("abc"),
              "The safetensors file '/ckpt/m.safetensors' is truncated: it has 3 bytes, fewer than the 8 bytes of its header length.");
    // The header cut short.
    std::string bytes = safetensors_bytes(two_tensors, std::string(24, '\0'));
    EXPECT_EQ(parse_error(bytes.substr(0, 40)),
              "The safetensors file '/ckpt/m.safetensors' declares a header of " + std::to_string(two_tensors.size()) +
                  " bytes, but only 32 bytes follow its length field; it is truncated or damaged.");
    // The data cut short.
    EXPECT_EQ(parse_error(bytes.substr(0, bytes.size() - 5)),
              "The tensor 'b' of the safetensors file '/ckpt/m.safetensors' has the data_offsets [12, 24], which end past its data area "
              "of 19 bytes.");
}

TEST(SafetensorsHeaderTest, HeaderLengthPastTheEndOrAbsurd)
{
    EXPECT_EQ(parse_error(length_only(1000) + "{}"),
              "The safetensors file '/ckpt/m.safetensors' declares a header of 1000 bytes, but only 2 bytes follow its length field; it "
              "is truncated or damaged.");
    EXPECT_EQ(parse_error(length_only(0xFFFFFFFFFFFFFFFFull) + "{}"),
              "The safetensors file '/ckpt/m.safetensors' declares a header of 18446744073709551615 bytes, more than the limit of "
              "100000000 bytes; it is damaged or not a safetensors file.");
    // Absurd even when the (claimed) file is that large: refused before any allocation.
    const std::string bytes = length_only(200'000'000) + "{}";
    try {
        parse_safetensors_header(bytes, 300'000'000, "big");
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_STREQ(error.what(), "The safetensors file 'big' declares a header of 200000000 bytes, more than the limit of 100000000 "
                                   "bytes; it is damaged or not a safetensors file.");
    }
}

TEST(SafetensorsHeaderTest, InvalidJson)
{
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"a":{"dtype":"F32",,}})")),
              "The safetensors file '/ckpt/m.safetensors' has a header that is not valid JSON: syntax error at byte 20 of the header.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"a": 1)")),
              "The safetensors file '/ckpt/m.safetensors' has a header that is not valid JSON: incomplete JSON at byte 7 of the header.");
    EXPECT_EQ(parse_error(safetensors_bytes("[1, 2]")),
              "The safetensors file '/ckpt/m.safetensors' has a header that is a list, not a JSON object.");
}

TEST(SafetensorsHeaderTest, UnknownDtype)
{
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xx")),
              "The tensor 'w' of the safetensors file '/ckpt/m.safetensors' has the dtype 'F8_E4M3', which is not supported; expected "
              "one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,2]}})", "xx")),
              "The tensor 'w' of the safetensors file '/ckpt/m.safetensors' has a dtype that is an integer; expected a string such as "
              "\"F32\".");
}

TEST(SafetensorsHeaderTest, SizeNotMatchingShape)
{
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", std::string(24, '\0'))),
              "The tensor 'w' of the safetensors file '/ckpt/m.safetensors' has the data_offsets [0, 20] (20 bytes), but its shape (2, 3) "
              "and dtype F32 need 24 bytes.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"w":{"dtype":"F16","shape":[4611686018427387904,4],"data_offsets":[0,8]}})",
                                            std::string(8, '\0'))),
              "The tensor 'w' of the safetensors file '/ckpt/m.safetensors' has the shape (4611686018427387904, 4), whose size in bytes "
              "does not fit in 64 bits.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd")),
              "The tensor 'w' of the safetensors file '/ckpt/m.safetensors' has the shape [-1]; expected a list of non-negative integers.");
}

TEST(SafetensorsHeaderTest, OverlappingAndOutOfRangeOffsets)
{
    EXPECT_EQ(parse_error(safetensors_bytes(
                  R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                  std::string(16, '\0'))),
              "The tensors 'a' and 'b' of the safetensors file '/ckpt/m.safetensors' overlap: their data_offsets are [0, 12] and [8, 16].");
    // One tensor inside another.
    EXPECT_EQ(parse_error(safetensors_bytes(
                  R"({"big":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"in":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
                  std::string(16, '\0'))),
              "The tensors 'big' and 'in' of the safetensors file '/ckpt/m.safetensors' overlap: their data_offsets are [0, 16] and [4, 6].");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[10,14]}})", std::string(12, '\0'))),
              "The tensor 'a' of the safetensors file '/ckpt/m.safetensors' has the data_offsets [10, 14], which end past its data area "
              "of 12 bytes.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[5,2]}})", std::string(12, '\0'))),
              "The tensor 'a' of the safetensors file '/ckpt/m.safetensors' has the data_offsets [5,2]; expected [begin, end] with 0 <= "
              "begin <= end.");
}

TEST(SafetensorsHeaderTest, MalformedEntriesAndMetadata)
{
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"a":[1]})")),
              "The tensor 'a' of the safetensors file '/ckpt/m.safetensors' is described by a list; expected an object with dtype, shape "
              "and data_offsets.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[0]}})")),
              "The tensor 'a' of the safetensors file '/ckpt/m.safetensors' has no 'data_offsets' field.");
    EXPECT_EQ(parse_error(safetensors_bytes(R"({"__metadata__":{"step":3}})")),
              "The safetensors file '/ckpt/m.safetensors' has a __metadata__ entry 'step' that is an integer; metadata values must be "
              "strings.");
}

// ---------------------------------------------------------------------------
// Reading and writing files.

class SafetensorsFileTest : public ::testing::Test {
protected:
    TempDir dir;

    static checkpoint::StateDict sample()
    {
        at::manual_seed(3);
        checkpoint::StateDict tensors;
        tensors["f64"] = at::randn({2, 3}, at::kDouble);
        tensors["f32"] = at::randn({4, 5});
        tensors["f16"] = at::randn({3}).to(at::kHalf);
        tensors["bf16"] = at::randn({7}).to(at::kBFloat16);
        tensors["i64"] = at::arange(-3, 3, at::kLong);
        tensors["i32"] = at::arange(5, at::kInt);
        tensors["i16"] = at::arange(-2, 1, at::kShort);
        tensors["i8"] = at::arange(-4, 4, at::kChar);
        tensors["u8"] = at::arange(250, 256, at::kInt).to(at::kByte);
        tensors["bool"] = at::arange(5, at::kLong).remainder(2).to(at::kBool);
        tensors["scalar"] = at::scalar_tensor(2.5);
        tensors["empty"] = at::zeros({0, 4});
        tensors["transposed"] = at::arange(6, at::kFloat).view({2, 3}).t();
        return tensors;
    }

    static void expect_equal(const checkpoint::StateDict& actual, const checkpoint::StateDict& expected)
    {
        ASSERT_EQ(actual.size(), expected.size());
        for (const auto& [name, tensor] : expected) {
            ASSERT_TRUE(actual.contains(name)) << name;
            EXPECT_EQ(actual.at(name).scalar_type(), tensor.scalar_type()) << name;
            EXPECT_EQ(actual.at(name).sizes(), tensor.sizes()) << name;
            EXPECT_TRUE(at::equal(actual.at(name), tensor)) << name;
        }
    }
};

// The /proc/self/maps line whose range holds `address`, or "".
std::string mapping_of(const void* address)
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    const auto target = reinterpret_cast<std::uintptr_t>(address);
    while (std::getline(maps, line)) {
        std::uintptr_t begin = 0;
        std::uintptr_t end = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) == 2 && target >= begin && target < end)
            return line;
    }
    return "";
}

bool is_mapped(const fs::path& file)
{
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
        if (line.ends_with(file.string()))
            return true;
    return false;
}

TEST_F(SafetensorsFileTest, WritesAFileBothReadersReadBack)
{
    const fs::path path = dir / "all.safetensors";
    checkpoint::write_safetensors(path, sample(), {{"format", "pt"}, {"note", "x"}});
    for (const auto& entry : fs::directory_iterator(dir.path()))
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();

    for (bool mmap : {true, false}) {
        checkpoint::SafetensorsFile file = checkpoint::read_safetensors(path, mmap);
        expect_equal(file.tensors, sample());
        EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "x"}}));
    }
}

TEST_F(SafetensorsFileTest, WrittenLayoutIsTheLibrarys)
{
    const fs::path path = dir / "layout.safetensors";
    checkpoint::write_safetensors(path, sample());
    const std::string bytes = test::read_file(path);
    std::uint64_t length = 0;
    for (int i = 7; i >= 0; --i)
        length = (length << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    EXPECT_EQ((8 + length) % 8, 0u) << "the header is padded to 8 bytes";
    auto header = parse_safetensors_header(bytes, bytes.size(), path.string());
    // No gaps, and every tensor starts at a multiple of its element size.
    std::uint64_t expected_begin = 0;
    for (const auto& entry : header.entries) {
        EXPECT_EQ(entry.begin, expected_begin) << entry.name;
        EXPECT_EQ(entry.begin % checkpoint::safetensors_dtype_size(entry.dtype), 0u) << entry.name;
        expected_begin = entry.end;
    }
    EXPECT_EQ(header.data_offset + expected_begin, bytes.size());
    // No metadata given: no __metadata__.
    EXPECT_EQ(bytes.find("__metadata__"), std::string::npos);
}

TEST_F(SafetensorsFileTest, MappedTensorsUseTheFilesPagesAndKeepThemAlive)
{
    const fs::path path = dir / "mapped.safetensors";
    checkpoint::write_safetensors(path, {{"w", at::arange(4096, at::kFloat)}});
    at::Tensor kept;
    {
        checkpoint::SafetensorsFile file = checkpoint::read_safetensors(path, /*mmap=*/true);
        kept = file.tensors.at("w");
        EXPECT_NE(mapping_of(kept.data_ptr()).find(path.string()), std::string::npos) << mapping_of(kept.data_ptr());
    }
    // The file's tensors are gone but one is still used: the mapping stays.
    EXPECT_TRUE(is_mapped(path));
    EXPECT_EQ(kept[4095].item<float>(), 4095.0f);
    // Copy-on-write: writing to the tensor never changes the file.
    kept.fill_(-1.0f);
    EXPECT_TRUE(at::equal(checkpoint::read_safetensors(path, false).tensors.at("w"), at::arange(4096, at::kFloat)));
    kept = at::Tensor();
    EXPECT_FALSE(is_mapped(path)) << "unmapped with its last tensor";

    // Without mmap nothing points into the file.
    checkpoint::SafetensorsFile read = checkpoint::read_safetensors(path, /*mmap=*/false);
    EXPECT_EQ(mapping_of(read.tensors.at("w").data_ptr()).find(path.string()), std::string::npos);
    EXPECT_FALSE(is_mapped(path));
}

TEST_F(SafetensorsFileTest, MisalignedTensorsAreCopied)
{
    // A 3-byte U8 tensor, then an F32 tensor at the odd offset 3.
    std::string data = "\x01\x02\x03";
    const float values[] = {1.5f, -2.0f};
    data.append(reinterpret_cast<const char*>(values), sizeof values);
    const std::string header =
        R"({"u":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"f":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}})";
    test::write_file(dir / "odd.safetensors", safetensors_bytes(header + std::string((8 - header.size() % 8) % 8, ' '), data));
    for (bool mmap : {true, false}) {
        auto file = checkpoint::read_safetensors(dir / "odd.safetensors", mmap);
        const at::Tensor& f = file.tensors.at("f");
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.data_ptr()) % 4, 0u);
        EXPECT_EQ(f[0].item<float>(), 1.5f);
        EXPECT_EQ(f[1].item<float>(), -2.0f);
        EXPECT_EQ(file.tensors.at("u")[2].item<std::uint8_t>(), 3);
    }
}

TEST_F(SafetensorsFileTest, ReadErrorsNameTheFile)
{
    const fs::path path = dir / "bad.safetensors";
    test::write_file(path, safetensors_bytes(R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x01\x07\x00", 3)));
    for (bool mmap : {true, false}) {
        try {
            checkpoint::read_safetensors(path, mmap);
            FAIL() << "expected CheckpointError";
        } catch (const CheckpointError& error) {
            EXPECT_EQ(std::string(error.what()), "The safetensors file '" + path.string() +
                                                     "' holds the byte 7 at element 1 of the BOOL tensor 'b'; BOOL elements must be 0 "
                                                     "or 1.");
        }
    }

    // A file shorter than the length field, read with and without mmap.
    test::write_file(path, "abc");
    for (bool mmap : {true, false}) {
        try {
            checkpoint::read_safetensors(path, mmap);
            FAIL() << "expected CheckpointError";
        } catch (const CheckpointError& error) {
            EXPECT_EQ(std::string(error.what()),
                      "The safetensors file '" + path.string() + "' is truncated: it has 3 bytes, fewer than the 8 bytes of its header length.");
        }
    }
    // A header length past the end, without mmap (only 8 bytes are read).
    test::write_file(path, length_only(1u << 20) + "{}");
    try {
        checkpoint::read_safetensors(path, false);
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_EQ(std::string(error.what()), "The safetensors file '" + path.string() +
                                                 "' declares a header of 1048576 bytes, but only 2 bytes follow its length field; it is "
                                                 "truncated or damaged.");
    }

    try {
        checkpoint::read_safetensors(dir / "missing.safetensors");
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_EQ(std::string(error.what()),
                  "The safetensors file '" + (dir / "missing.safetensors").string() + "' cannot be opened (No such file or directory).");
    }
}

TEST_F(SafetensorsFileTest, WriteErrorsLeaveNothingBehind)
{
    try {
        checkpoint::write_safetensors(dir / "c.safetensors", {{"z", at::zeros({2}, at::kComplexFloat)}});
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_EQ(std::string(error.what()), "Cannot write '" + (dir / "c.safetensors").string() +
                                                 "': the tensor 'z' has the dtype ComplexFloat, which safetensors files cannot hold here "
                                                 "(use F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL).");
    }
    const fs::path nowhere = dir / "no_such_folder" / "x.safetensors";
    try {
        checkpoint::write_safetensors(nowhere, {{"w", at::zeros({2})}});
        FAIL() << "expected CheckpointError";
    } catch (const CheckpointError& error) {
        EXPECT_EQ(std::string(error.what()), "Cannot write '" + nowhere.string() + "': the temporary file '" + nowhere.string() + ".tmp-" +
                                                 std::to_string(::getpid()) + "' cannot be created (No such file or directory).");
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace fairseq2

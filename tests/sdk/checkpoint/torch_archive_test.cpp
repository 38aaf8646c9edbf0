// Tests of read_torch_archive / write_torch_archive / extract_state_dict /
// save_fairseq2_checkpoint against archives written by Python's torch.save
// (tests/reference/make_torch_archives.py, run with torch 1.13).

#include "fairseq2/checkpoint/torch_archive.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "fairseq2/error.hpp"
#include "test_support.hpp"

#ifndef FAIRSEQ2_TEST_PYTHON
#define FAIRSEQ2_TEST_PYTHON "/usr/bin/python3"
#endif

namespace fs = std::filesystem;
using c10::IValue;
using fairseq2::CheckpointError;
using fairseq2::checkpoint::StateDict;

namespace {

fs::path reference_dir() {
#ifdef FAIRSEQ2_TEST_REFERENCE_DIR
    return fs::path(FAIRSEQ2_TEST_REFERENCE_DIR);
#else
    // tests/sdk/checkpoint/<this file> -> tests/reference
    return fs::path(__FILE__).parent_path().parent_path().parent_path() / "reference";
#endif
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

bool run(const std::string& command) {
    return std::system(command.c_str()) == 0;
}

std::string python() {
    return shell_quote(FAIRSEQ2_TEST_PYTHON);
}

std::string script() {
    return shell_quote((reference_dir() / "make_torch_archives.py").string());
}

// One line of a description file written by make_torch_archives.py.
struct Expected {
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> stride;
    std::int64_t offset = 0;
    std::vector<std::string> values;
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(s);
    while (std::getline(in, field, sep)) {
        out.push_back(field);
    }
    if (!s.empty() && s.back() == sep) {
        out.emplace_back();
    }
    return out;
}

std::vector<std::int64_t> parse_ints(const std::string& csv) {
    std::vector<std::int64_t> out;
    if (csv.empty()) {
        return out;
    }
    for (const std::string& f : split(csv, ',')) {
        out.push_back(std::stoll(f));
    }
    return out;
}

// Tensors by name; other lines ("keys\t...") go to `extra`.
std::map<std::string, Expected> parse_description(const fs::path& path,
                                                  std::map<std::string, std::string>* extra = nullptr) {
    std::map<std::string, Expected> out;
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot open " << path;
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f = split(line, '\t');
        if (f.size() == 7 && f[0] == "tensor") {
            Expected e;
            e.dtype = f[2];
            e.shape = parse_ints(f[3]);
            e.stride = parse_ints(f[4]);
            e.offset = std::stoll(f[5]);
            if (!f[6].empty()) {
                e.values = split(f[6], ' ');
            }
            out[f[1]] = e;
        } else if (f.size() == 2 && extra != nullptr) {
            (*extra)[f[0]] = f[1];
        } else {
            ADD_FAILURE() << "bad description line: " << line;
        }
    }
    return out;
}

std::string dtype_name(c10::ScalarType t) {
    switch (t) {
        case c10::ScalarType::Float: return "float32";
        case c10::ScalarType::Double: return "float64";
        case c10::ScalarType::Half: return "float16";
        case c10::ScalarType::BFloat16: return "bfloat16";
        case c10::ScalarType::Long: return "int64";
        case c10::ScalarType::Int: return "int32";
        case c10::ScalarType::Short: return "int16";
        case c10::ScalarType::Char: return "int8";
        case c10::ScalarType::Byte: return "uint8";
        case c10::ScalarType::Bool: return "bool";
        default: return c10::toString(t);
    }
}

// Exact comparison of dtype, shape, values (and strides and storage offset
// when `layout` is set) with a description line.
void expect_tensor(const at::Tensor& t, const Expected& e, const std::string& name, bool layout) {
    SCOPED_TRACE("tensor " + name);
    ASSERT_TRUE(t.defined());
    EXPECT_TRUE(t.device().is_cpu());
    EXPECT_EQ(dtype_name(t.scalar_type()), e.dtype);
    ASSERT_EQ(t.sizes().vec(), e.shape);
    if (layout) {
        EXPECT_EQ(t.strides().vec(), e.stride);
        EXPECT_EQ(t.storage_offset(), e.offset);
    }
    ASSERT_EQ(static_cast<std::size_t>(t.numel()), e.values.size());
    at::Tensor flat = t.reshape({-1});
    if (at::isFloatingType(t.scalar_type())) {
        at::Tensor d = flat.to(at::kDouble).contiguous();
        const double* p = d.data_ptr<double>();
        for (std::size_t i = 0; i < e.values.size(); ++i) {
            EXPECT_EQ(p[i], std::strtod(e.values[i].c_str(), nullptr)) << "element " << i;
        }
    } else {
        at::Tensor l = flat.to(at::kLong).contiguous();
        const std::int64_t* p = l.data_ptr<std::int64_t>();
        for (std::size_t i = 0; i < e.values.size(); ++i) {
            EXPECT_EQ(p[i], std::stoll(e.values[i])) << "element " << i;
        }
    }
}

IValue get(const IValue& dict, const std::string& key) {
    auto d = dict.toGenericDict();
    auto it = d.find(IValue(key));
    if (it == d.end()) {
        ADD_FAILURE() << "no key '" << key << "'";
        return IValue();
    }
    return it->value();
}

// The message of the CheckpointError `f` throws ("" and a failure otherwise).
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const CheckpointError& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected a CheckpointError, got another exception: " << e.what();
        return "";
    }
    ADD_FAILURE() << "expected a CheckpointError, nothing was thrown";
    return "";
}

std::string read_error(const fs::path& path) {
    return error_of([&] { fairseq2::checkpoint::read_torch_archive(path); });
}

bool same_storage(const at::Tensor& a, const at::Tensor& b) {
    return a.storage().unsafeGetStorageImpl() == b.storage().unsafeGetStorageImpl();
}

const std::vector<std::string> fs2_names = {
    "encoder.f32",  "encoder.f64",  "encoder.bf16",        "encoder.f16",  "encoder.i64",  "encoder.i32",
    "encoder.i16",  "encoder.i8",   "encoder.u8",          "encoder.mask", "encoder.transposed",
    "shared.full",  "shared.row",   "shared.col",          "scalar",       "empty",
};

// A fresh temporary folder per suite.
class TempDirTest : public ::testing::Test {
protected:
    static void make_dir(const std::string& suite) {
        dir_ = fs::temp_directory_path() /
               ("fairseq2_torch_archive_test_" + suite + "_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }

    static void SetUpTestSuite() { make_dir("plain"); }

    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    static fs::path file(const std::string& name) { return dir_ / name; }

    static inline fs::path dir_;
};

// Plus the archives of make_torch_archives.py. Python with torch is a test
// dependency (scripts/install-deps.sh installs it), so its absence fails.
class TorchArchiveTest : public TempDirTest {
protected:
    static void SetUpTestSuite() {
        make_dir("python");
        // The archives are made once for all test processes of the build,
        // then copied, as the tests write beside them.
        try {
            fs::path made = fairseq2::test::shared_reference_dir("make_torch_archives.py");
            fs::copy(made, dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
        } catch (const std::exception& e) {
            failure_ = e.what();
        }
    }

    void SetUp() override {
        ASSERT_TRUE(failure_.empty()) << failure_;
    }

    static inline std::string failure_;
};

// ---------------------------------------------------------------------------
// Reading torch.save archives.

TEST_F(TorchArchiveTest, ReadsFs2CheckpointWithEveryDtypeExactly) {
    IValue ckpt = fairseq2::checkpoint::read_torch_archive(file("fs2.pt"));
    ASSERT_TRUE(ckpt.isGenericDict());
    EXPECT_EQ(get(ckpt, "model_key").toStringRef(), "model");
    EXPECT_TRUE(get(ckpt, "fs2").toBool());
    EXPECT_EQ(get(ckpt, "step").toInt(), 1234);
    EXPECT_EQ(get(ckpt, "lr").toDouble(), 0.25);

    IValue model = get(ckpt, "model");
    ASSERT_TRUE(model.isGenericDict());
    auto dict = model.toGenericDict();
    ASSERT_EQ(dict.size(), fs2_names.size());

    // OrderedDict order is kept.
    std::vector<std::string> keys;
    for (const auto& entry : dict) {
        keys.push_back(entry.key().toStringRef());
    }
    EXPECT_EQ(keys, fs2_names);

    auto expected = parse_description(file("expected.txt"));
    for (const std::string& name : fs2_names) {
        expect_tensor(get(model, name).toTensor(), expected.at(name), name, /*layout=*/true);
    }

    // The transposed tensor keeps its strides.
    at::Tensor transposed = get(model, "encoder.transposed").toTensor();
    EXPECT_FALSE(transposed.is_contiguous());
    EXPECT_EQ(transposed.strides().vec(), (std::vector<std::int64_t>{1, 3}));
}

TEST_F(TorchArchiveTest, TensorsSharingAStorageInPythonShareItInCpp) {
    IValue model = get(fairseq2::checkpoint::read_torch_archive(file("fs2.pt")), "model");
    at::Tensor full = get(model, "shared.full").toTensor();
    at::Tensor row = get(model, "shared.row").toTensor();
    at::Tensor col = get(model, "shared.col").toTensor();
    EXPECT_TRUE(same_storage(full, row));
    EXPECT_TRUE(same_storage(full, col));
    EXPECT_FALSE(same_storage(full, get(model, "encoder.f32").toTensor()));
    EXPECT_EQ(row.storage_offset(), 10);
    EXPECT_EQ(col.storage_offset(), 1);

    // Writes through one are seen through the others.
    full.index_put_({2, 1}, 42.0);
    EXPECT_EQ(row[1].item<float>(), 42.0F);
    EXPECT_EQ(col[2].item<float>(), 42.0F);
}

TEST_F(TorchArchiveTest, PickleProtocol4ReadsLikeProtocol2) {
    // Protocol 4 uses FRAME, MEMOIZE, SHORT_BINUNICODE and STACK_GLOBAL.
    IValue a = get(fairseq2::checkpoint::read_torch_archive(file("fs2.pt")), "model");
    IValue b = get(fairseq2::checkpoint::read_torch_archive(file("fs2_proto4.pt")), "model");
    for (const std::string& name : fs2_names) {
        SCOPED_TRACE(name);
        at::Tensor x = get(a, name).toTensor();
        at::Tensor y = get(b, name).toTensor();
        EXPECT_EQ(x.scalar_type(), y.scalar_type());
        EXPECT_EQ(x.strides(), y.strides());
        EXPECT_EQ(x.storage_offset(), y.storage_offset());
        EXPECT_TRUE(at::equal(x, y));
    }
    EXPECT_TRUE(same_storage(get(b, "shared.full").toTensor(), get(b, "shared.col").toTensor()));
}

TEST_F(TorchArchiveTest, ExtractsTheModelEntryOfAnFs2Checkpoint) {
    IValue ckpt = fairseq2::checkpoint::read_torch_archive(file("fs2.pt"));
    StateDict sd = fairseq2::checkpoint::extract_state_dict(ckpt, "fs2.pt");
    ASSERT_EQ(sd.size(), fs2_names.size());
    auto expected = parse_description(file("expected.txt"));
    for (const std::string& name : fs2_names) {
        ASSERT_EQ(sd.count(name), 1U) << name;
        expect_tensor(sd.at(name), expected.at(name), name, /*layout=*/true);
    }
}

TEST_F(TorchArchiveTest, ExtractStripsModulePrefixesOfABareStateDict) {
    IValue ckpt = fairseq2::checkpoint::read_torch_archive(file("ddp.pt"));
    StateDict sd = fairseq2::checkpoint::extract_state_dict(ckpt, "ddp.pt");
    std::vector<std::string> keys;
    for (const auto& [k, v] : sd) {
        keys.push_back(k);
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"norm.weight", "proj.bias", "proj.weight"}));
    auto expected = parse_description(file("expected.txt"));
    expect_tensor(sd.at("proj.weight"), expected.at("ddp.module.proj.weight"), "proj.weight", true);
    expect_tensor(sd.at("proj.bias"), expected.at("ddp.module.proj.bias"), "proj.bias", true);
    expect_tensor(sd.at("norm.weight"), expected.at("ddp.norm.weight"), "norm.weight", true);
}

TEST_F(TorchArchiveTest, ReadsACustomModelKeyAndPlainPythonValues) {
    for (const char* name : {"custom_key.pt", "custom_key_proto4.pt"}) {
        SCOPED_TRACE(name);
        IValue ckpt = fairseq2::checkpoint::read_torch_archive(file(name));

        StateDict sd = fairseq2::checkpoint::extract_state_dict(ckpt, name);
        ASSERT_EQ(sd.size(), 1U);
        ASSERT_EQ(sd.count("layer.weight"), 1U);
        EXPECT_TRUE(at::equal(sd.at("layer.weight"), at::arange(4, at::kFloat).reshape({2, 2})));

        EXPECT_EQ(get(ckpt, "epoch").toInt(), 3);
        EXPECT_EQ(get(ckpt, "i2").toInt(), 300);
        EXPECT_EQ(get(ckpt, "neg").toInt(), -5);
        EXPECT_EQ(get(ckpt, "neg_big").toInt(), -(std::int64_t{1} << 40));
        EXPECT_EQ(get(ckpt, "big").toInt(), std::int64_t{1} << 62);
        EXPECT_EQ(get(ckpt, "i32max").toInt(), std::int64_t{1} << 31);
        EXPECT_EQ(get(ckpt, "lr").toDouble(), 1e-3);
        EXPECT_TRUE(get(ckpt, "none").isNone());
        EXPECT_EQ(get(ckpt, "flag").toBool(), false);

        auto names = get(ckpt, "names").toList();
        ASSERT_EQ(names.size(), 2U);
        EXPECT_EQ(names.get(0).toStringRef(), "a");
        EXPECT_EQ(names.get(1).toStringRef(), "b");

        IValue pair = get(ckpt, "pair");
        ASSERT_TRUE(pair.isTuple());
        ASSERT_EQ(pair.toTupleRef().elements().size(), 2U);
        EXPECT_EQ(pair.toTupleRef().elements()[0].toInt(), 1);
        EXPECT_EQ(pair.toTupleRef().elements()[1].toStringRef(), "x");
        EXPECT_EQ(get(ckpt, "triple").toTupleRef().elements().size(), 3U);
        EXPECT_EQ(get(ckpt, "triple").toTupleRef().elements()[2].toInt(), 3);
        EXPECT_EQ(get(ckpt, "quad").toTupleRef().elements().size(), 4U);
        EXPECT_EQ(get(ckpt, "empty_tuple").toTupleRef().elements().size(), 0U);

        auto int_keys = get(ckpt, "int_keys").toGenericDict();
        ASSERT_EQ(int_keys.size(), 2U);
        EXPECT_EQ(int_keys.at(IValue(std::int64_t{1})).toStringRef(), "one");
        EXPECT_EQ(int_keys.at(IValue(std::int64_t{2})).toStringRef(), "two");

        EXPECT_EQ(get(ckpt, "blob").toStringRef(), std::string("\x00\x01xy\xe9\xff", 6));
        EXPECT_EQ(get(ckpt, "empty_blob").toStringRef(), "");
        EXPECT_EQ(get(ckpt, "unicode").toStringRef(), "h\xc3\xa9llo \xe2\x9c\x93");

        auto deep = get(get(ckpt, "nested"), "deep").toList();
        ASSERT_EQ(deep.size(), 2U);
        EXPECT_EQ(deep.get(0).toDouble(), 1.5);
        EXPECT_EQ(get(deep.get(1), "k").toStringRef(), "v");

        // The same Python list twice is one list here.
        EXPECT_TRUE(get(ckpt, "l1").is(get(ckpt, "l2")));

        at::Tensor param = get(ckpt, "param").toTensor();
        EXPECT_TRUE(at::equal(param, at::full({2}, 0.5, at::kFloat)));

        EXPECT_EQ(get(ckpt, "dtype").toInt(), static_cast<std::int64_t>(c10::ScalarType::BFloat16));
    }
}

TEST_F(TorchArchiveTest, ReadsAHandWrittenViewThatFits) {
    IValue ckpt = fairseq2::checkpoint::read_torch_archive(file("ok_view.pt"));
    at::Tensor t = get(ckpt, "t").toTensor();
    EXPECT_TRUE(at::equal(t, at::tensor({2.0F, 3.0F, 4.0F})));
    EXPECT_EQ(t.storage_offset(), 1);
}

// ---------------------------------------------------------------------------
// Errors.

TEST_F(TempDirTest, MissingFile) {
    fs::path path = file("does_not_exist.pt");
    std::string msg = read_error(path);
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, LegacyFormat) {
    std::string msg = read_error(file("legacy.pt"));
    EXPECT_NE(msg.find(file("legacy.pt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("legacy"), std::string::npos) << msg;
    EXPECT_NE(msg.find("PyTorch >= 1.6"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, RandomBytes) {
    std::string msg = read_error(file("random.bin"));
    EXPECT_NE(msg.find(file("random.bin").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not a PyTorch zip archive"), std::string::npos) << msg;
    EXPECT_NE(msg.find("found 13 37"), std::string::npos) << msg;
}

TEST_F(TempDirTest, EmptyFileAndDirectory) {
    fs::path empty = file("empty.pt");
    std::ofstream(empty).close();
    EXPECT_NE(read_error(empty).find("is empty"), std::string::npos);
    EXPECT_NE(read_error(dir_).find("is a directory"), std::string::npos);
}

TEST_F(TorchArchiveTest, TruncatedZip) {
    std::string msg = read_error(file("truncated.pt"));
    EXPECT_NE(msg.find(file("truncated.pt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("damaged or truncated"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, TruncatedPickle) {
    std::string msg = read_error(file("truncated_pickle.pt"));
    EXPECT_NE(msg.find(file("truncated_pickle.pt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("ends unexpectedly"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, UnknownOpcode) {
    std::string msg = read_error(file("bad_opcode.pt"));
    EXPECT_NE(msg.find("opcode 0xff"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at byte 2"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, LargeStateDictFitsTheObjectBudget) {
    // 20 000 tensors with their own storages and a _metadata entry each:
    // the hostile-pickle budget leaves room for what real checkpoints hold.
    IValue ckpt = fairseq2::checkpoint::read_torch_archive(file("many_tensors.pt"));
    StateDict sd = fairseq2::checkpoint::extract_state_dict(ckpt, "many_tensors.pt");
    ASSERT_EQ(sd.size(), 20000U);
    const at::Tensor& last = sd.at("layers.19999.weight");
    EXPECT_EQ(last.sizes(), at::IntArrayRef({2}));
    EXPECT_EQ(last[1].item<float>(), 19999.0F);
}

TEST_F(TorchArchiveTest, DisallowedGlobal) {
    std::string msg = read_error(file("disallowed.pt"));
    EXPECT_NE(msg.find(file("disallowed.pt").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("'datetime.date'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not allowed"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, StorageRecordShorterThanItsTensor) {
    std::string msg = read_error(file("short_storage.pt"));
    EXPECT_NE(msg.find("'data/0' holds 4 bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("12 elements of type Float"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, ViewOutsideItsStorage) {
    std::string msg = read_error(file("oob_view.pt"));
    EXPECT_NE(msg.find("does not fit in its storage of 4 elements"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, ZipWithoutPickle) {
    std::string msg = read_error(file("no_pickle.pt"));
    EXPECT_NE(msg.find("no data.pkl"), std::string::npos) << msg;
}

TEST_F(TorchArchiveTest, EveryPrefixOfAValidArchiveFailsCleanly) {
    // Cut fs2.pt at many lengths: each must be a CheckpointError, not a crash.
    std::ifstream in(file("fs2.pt"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fs::path cut = file("cut.pt");
    for (std::size_t n = 0; n < bytes.size(); n += 97) {
        std::ofstream(cut, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(n));
        EXPECT_FALSE(read_error(cut).empty()) << "prefix of " << n << " bytes";
    }
}

// ---------------------------------------------------------------------------
// extract_state_dict errors.

TEST(ExtractStateDict, Errors) {
    using fairseq2::checkpoint::extract_state_dict;
    auto dict = [] { return c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()); };

    std::string msg = error_of([] { extract_state_dict(IValue(std::int64_t{3}), "ckpt.pt"); });
    EXPECT_NE(msg.find("'ckpt.pt' is an int, not a dict"), std::string::npos) << msg;

    auto model = dict();
    model.insert(IValue("w"), IValue(at::ones({2})));
    model.insert(IValue("step"), IValue(std::int64_t{3}));
    auto root = dict();
    root.insert(IValue("model"), IValue(model));
    msg = error_of([&] { extract_state_dict(IValue(root), "ckpt.pt"); });
    EXPECT_NE(msg.find("'ckpt.pt'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("an int under the key 'step'"), std::string::npos) << msg;

    auto no_model = dict();
    no_model.insert(IValue("w"), IValue(at::ones({2})));
    no_model.insert(IValue("epoch"), IValue(std::int64_t{3}));
    msg = error_of([&] { extract_state_dict(IValue(no_model), "ckpt.pt"); });
    EXPECT_NE(msg.find("holds no model state dict"), std::string::npos) << msg;
    EXPECT_NE(msg.find("an int under the key 'epoch'"), std::string::npos) << msg;

    auto int_key = dict();
    int_key.insert(IValue(std::int64_t{7}), IValue(at::ones({2})));
    msg = error_of([&] { extract_state_dict(IValue(int_key), "ckpt.pt"); });
    EXPECT_NE(msg.find("keys must be strings"), std::string::npos) << msg;

    auto clash = dict();
    clash.insert(IValue("module.w"), IValue(at::ones({2})));
    clash.insert(IValue("w"), IValue(at::ones({2})));
    msg = error_of([&] { extract_state_dict(IValue(clash), "ckpt.pt"); });
    EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'module.w'"), std::string::npos) << msg;

    auto bad_key = dict();
    bad_key.insert(IValue("model_key"), IValue(std::int64_t{1}));
    msg = error_of([&] { extract_state_dict(IValue(bad_key), "ckpt.pt"); });
    EXPECT_NE(msg.find("'model_key'"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------
// Writing.

TEST_F(TorchArchiveTest, Fs2CheckpointRoundTripsThroughPython) {
    at::manual_seed(0);
    at::Tensor big = at::randn({10});
    StateDict sd;
    sd["a.f32"] = at::randn({3, 4});
    sd["a.f64"] = at::randn({2}, at::kDouble);
    sd["a.bf16"] = at::randn({5}).to(at::kBFloat16);
    sd["a.f16"] = at::randn({2, 2}).to(at::kHalf);
    sd["a.i64"] = at::tensor(std::vector<std::int64_t>{-(std::int64_t{1} << 40), 0, std::int64_t{1} << 62});
    sd["a.bool"] = at::tensor(std::vector<std::int64_t>{1, 0, 1}).to(at::kBool);
    sd["a.u8"] = at::tensor(std::vector<std::int64_t>{0, 200, 255}).to(at::kByte);
    sd["b.transposed"] = at::arange(6, at::kFloat).reshape({2, 3}).t();  // non-contiguous
    sd["b.view"] = big.narrow(0, 3, 4);                                  // offset into a larger storage
    sd["b.scalar"] = at::scalar_tensor(2.5);
    sd["b.empty"] = at::zeros({0, 2});

    fs::path path = file("roundtrip.pt");
    fairseq2::checkpoint::save_fairseq2_checkpoint(path, sd);
    for (const auto& entry : fs::directory_iterator(dir_)) {
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    }

    // Python reads it.
    fs::path described = file("roundtrip.txt");
    ASSERT_TRUE(run(python() + " " + script() + " --describe " + shell_quote(path.string()) + " " +
                    shell_quote(described.string())));
    std::map<std::string, std::string> extra;
    auto expected = parse_description(described, &extra);
    EXPECT_EQ(extra["keys"], "fs2 model model_key");
    ASSERT_EQ(expected.size(), sd.size());
    for (const auto& [name, tensor] : sd) {
        ASSERT_EQ(expected.count(name), 1U) << name;
        expect_tensor(tensor, expected.at(name), name, /*layout=*/false);
        EXPECT_EQ(expected.at(name).offset, 0) << name;  // saved compactly
    }

    // And so does C++.
    IValue ckpt = fairseq2::checkpoint::read_torch_archive(path);
    EXPECT_TRUE(get(ckpt, "fs2").toBool());
    EXPECT_EQ(get(ckpt, "model_key").toStringRef(), "model");
    StateDict back = fairseq2::checkpoint::extract_state_dict(ckpt, path.string());
    ASSERT_EQ(back.size(), sd.size());
    for (const auto& [name, tensor] : sd) {
        ASSERT_EQ(back.count(name), 1U) << name;
        EXPECT_EQ(back.at(name).scalar_type(), tensor.scalar_type()) << name;
        EXPECT_TRUE(at::equal(back.at(name), tensor)) << name;
        EXPECT_TRUE(back.at(name).is_contiguous()) << name;
    }
}

TEST_F(TempDirTest, WriteTorchArchiveReplacesAndReadsBack) {
    fs::path path = file("value.pt");
    std::ofstream(path) << "old contents";

    auto dict = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
    auto list = c10::impl::GenericList(c10::AnyType::get());
    list.push_back(IValue(std::int64_t{-7}));
    list.push_back(IValue(std::string("s")));
    list.push_back(IValue(1.25));
    dict.insert(IValue("list"), IValue(list));
    dict.insert(IValue("tuple"), IValue(c10::ivalue::Tuple::create({IValue(true), IValue()})));
    dict.insert(IValue("tensor"), IValue(at::arange(3, at::kLong)));
    fairseq2::checkpoint::write_torch_archive(path, IValue(dict));

    IValue back = fairseq2::checkpoint::read_torch_archive(path);
    auto l = get(back, "list").toList();
    ASSERT_EQ(l.size(), 3U);
    EXPECT_EQ(l.get(0).toInt(), -7);
    EXPECT_EQ(l.get(1).toStringRef(), "s");
    EXPECT_EQ(l.get(2).toDouble(), 1.25);
    auto t = get(back, "tuple").toTupleRef().elements();
    ASSERT_EQ(t.size(), 2U);
    EXPECT_TRUE(t[0].toBool());
    EXPECT_TRUE(t[1].isNone());
    EXPECT_TRUE(at::equal(get(back, "tensor").toTensor(), at::arange(3, at::kLong)));
}

TEST_F(TempDirTest, WriteIntoAMissingFolderFailsAndLeavesNothing) {
    fs::path path = file("no_such_folder") / "x.pt";
    std::string msg = error_of([&] { fairseq2::checkpoint::write_torch_archive(path, IValue(std::int64_t{1})); });
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(path.parent_path()));
}

TEST_F(TempDirTest, SaveRefusesAnUndefinedTensor) {
    StateDict sd;
    sd["w"] = at::Tensor();
    fs::path path = file("undefined.pt");
    std::string msg = error_of([&] { fairseq2::checkpoint::save_fairseq2_checkpoint(path, sd); });
    EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(path));
}

}  // namespace

// Hostile and broken torch.save archives, crafted byte by byte: zip
// directories that claim more than the file holds, overlapping and
// compressed records, damaged checksums, pickles nested deeper than the
// reader allows, containers placed inside themselves, and pickles whose
// objects would take far more memory than their size. Each is one
// CheckpointError naming the file and the problem, raised before the reader
// allocates what the file does not hold. The fuzzer's findings land here too.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace std::string_literals;
using fairseq2::CheckpointError;
using fairseq2::checkpoint::read_torch_archive;

namespace {

void put16(std::string& out, std::uint64_t v) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>((v >> 8) & 0xff);
}

void put32(std::string& out, std::uint64_t v) {
    put16(out, v & 0xffff);
    put16(out, (v >> 16) & 0xffff);
}

// One central-directory entry as it will be written; tests change these to
// make the directory lie about the records.
struct CentralEntry {
    std::string name;
    std::uint16_t method = 0;
    std::uint32_t crc = 0;  // 0: not recorded, so crafted records need no CRC
    std::uint64_t compressed = 0;
    std::uint64_t size = 0;
    std::uint64_t header_offset = 0;
};

struct ZipLayout {
    std::vector<CentralEntry> entries;
    std::uint64_t entry_count = 0;  // what the end record claims
};

// A stored zip of `records` (name, bytes); `tweak` edits the directory first.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& records,
                     const std::function<void(ZipLayout&)>& tweak = {}) {
    std::string out;
    ZipLayout layout;
    for (const auto& [name, data] : records) {
        CentralEntry entry;
        entry.name = name;
        entry.compressed = entry.size = data.size();
        entry.header_offset = out.size();
        put32(out, 0x04034b50);
        put16(out, 20);
        put16(out, 0);
        put16(out, 0);
        put32(out, 0);
        put32(out, 0);
        put32(out, data.size());
        put32(out, data.size());
        put16(out, name.size());
        put16(out, 0);
        out += name;
        out += data;
        layout.entries.push_back(entry);
    }
    layout.entry_count = layout.entries.size();
    if (tweak) {
        tweak(layout);
    }
    std::uint64_t directory_offset = out.size();
    for (const CentralEntry& entry : layout.entries) {
        put32(out, 0x02014b50);
        put16(out, 20);
        put16(out, 20);
        put16(out, 0);
        put16(out, entry.method);
        put32(out, 0);
        put32(out, entry.crc);
        put32(out, entry.compressed);
        put32(out, entry.size);
        put16(out, entry.name.size());
        put16(out, 0);
        put16(out, 0);
        put16(out, 0);
        put16(out, 0);
        put32(out, 0);
        put32(out, entry.header_offset);
        out += entry.name;
    }
    std::uint64_t directory_size = out.size() - directory_offset;
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, layout.entry_count);
    put16(out, layout.entry_count);
    put32(out, directory_size);
    put32(out, directory_offset);
    put16(out, 0);
    return out;
}

// A pickle: protocol 2, `body`, STOP.
std::string pickle(const std::string& body) {
    return "\x80\x02"s + body + ".";
}

// BINUNICODE: a string with its 4-byte length.
std::string unicode(const std::string& text) {
    std::string out = "X";
    put32(out, text.size());
    return out + text;
}

// A persistent id ('storage', torch.FloatStorage, '0', 'cpu', numel) and
// BINPERSID, with `numel` already pickled.
std::string float_storage(const std::string& numel) {
    // Appended piece by piece: GCC 12 warns wrongly about long + chains.
    std::string out = "(";
    out += unicode("storage");
    out += "ctorch\nFloatStorage\n";
    out += unicode("0");
    out += unicode("cpu");
    out += numel;
    out += "tQ";
    return out;
}

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

class HostileArchiveTest : public ::testing::Test {
protected:
    fs::path write(const std::string& name, const std::string& bytes) {
        fs::path path = dir_ / name;
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }

    // The message of the CheckpointError reading `bytes` raises; fails the
    // test when it reads or throws anything else.
    std::string error_of(const std::string& name, const std::string& bytes) {
        fs::path path = write(name, bytes);
        try {
            read_torch_archive(path);
        } catch (const CheckpointError& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
            return msg;
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a CheckpointError: " << e.what();
            return {};
        }
        ADD_FAILURE() << name << " was read";
        return {};
    }

    std::string archive_error(const std::string& name, const std::string& data_pkl) {
        return error_of(name, make_zip({{"archive/data.pkl", data_pkl}}));
    }

    fairseq2::test::TempDir dir_;
};

const std::string four_floats(16, '\0');

// A storage of 4 floats (BININT1 4).
const std::string storage_pickle = pickle(float_storage("K\x04"s));

TEST_F(HostileArchiveTest, CraftedArchiveIsRead) {
    // The builder itself is right: an empty dict and a storage read back.
    fs::path dict = write("dict.pt", make_zip({{"archive/data.pkl", pickle("}")}}));
    EXPECT_TRUE(read_torch_archive(dict).isGenericDict());

    fs::path storage = write("storage.pt", make_zip({{"archive/data.pkl", storage_pickle},
                                                     {"archive/data/0", four_floats}}));
    c10::IValue value = read_torch_archive(storage);
    ASSERT_TRUE(value.isTensor());
    EXPECT_EQ(value.toTensor().numel(), 4);
}

TEST_F(HostileArchiveTest, RecordClaimingMoreThanTheFileIsRefusedBeforeAllocating) {
    std::string msg = error_of("huge_record.pt", make_zip({{"archive/data.pkl", storage_pickle}, {"archive/data/0", four_floats}},
                                                          [](ZipLayout& zip) {
                                                              zip.entries[1].compressed = 0xfffffff0u;
                                                              zip.entries[1].size = 0xfffffff0u;
                                                          }));
    EXPECT_NE(msg.find("damaged or truncated"), std::string::npos) << msg;
    EXPECT_NE(msg.find("record 'archive/data/0' claims 4294967280 bytes"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, DirectoryClaimingMoreRecordsThanItHoldsIsRefused) {
    std::string msg = error_of("many_records.pt", make_zip({{"archive/data.pkl", pickle("}")}},
                                                           [](ZipLayout& zip) { zip.entry_count = 0xffff; }));
    EXPECT_NE(msg.find("claims 65535 records"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, CompressedRecordIsRefused) {
    std::string msg = error_of("deflated.pt", make_zip({{"archive/data.pkl", pickle("}")}},
                                                       [](ZipLayout& zip) { zip.entries[0].method = 8; }));
    EXPECT_NE(msg.find("record 'archive/data.pkl' is compressed (method 8)"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, RecordsSharingBytesAreRefused) {
    // Two names for one 16-byte record would let a file load its bytes twice.
    std::string msg = error_of("overlap.pt", make_zip({{"archive/data.pkl", storage_pickle},
                                                       {"archive/data/0", four_floats},
                                                       {"archive/data/1", four_floats}},
                                                      [](ZipLayout& zip) {
                                                          zip.entries[2].header_offset = zip.entries[1].header_offset;
                                                      }));
    EXPECT_NE(msg.find("overlaps"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, DamagedChecksumIsNamed) {
    std::string msg = error_of("crc.pt", make_zip({{"archive/data.pkl", storage_pickle}, {"archive/data/0", four_floats}},
                                                  [](ZipLayout& zip) { zip.entries[1].crc = 0x12345678; }));
    EXPECT_NE(msg.find("record 'archive/data/0' fails its CRC-32 check"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, TruncatedDirectoryIsNamed) {
    std::string zip = make_zip({{"archive/data.pkl", pickle("}")}});
    std::string msg = error_of("cut.pt", zip.substr(0, zip.size() - 10));
    EXPECT_NE(msg.find("no end-of-central-directory record"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, RecordsOutsideOneFolderAreRefused) {
    std::string msg = error_of("folders.pt", make_zip({{"archive/data.pkl", pickle("}")}, {"other/x", "x"}}));
    EXPECT_NE(msg.find("the record 'other/x' is outside the folder 'archive/'"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, ListsNestedDeeperThanTheLimitAreRefused) {
    // N empty lists, then N-1 APPENDs: each list inside the one below it.
    auto nested = [](std::size_t n) { return pickle(repeat("]", n) + repeat("a", n - 1)); };

    fs::path ok = write("nested_100.pt", make_zip({{"archive/data.pkl", nested(100)}}));
    c10::IValue value = read_torch_archive(ok);
    int depth = 0;
    while (value.isList() && value.toListRef().size() == 1) {
        c10::IValue inner = value.toListRef()[0];
        value = inner;
        ++depth;
    }
    EXPECT_EQ(depth, 99);

    std::string msg = archive_error("nested_101.pt", nested(101));
    EXPECT_NE(msg.find("nested more than 100 deep"), std::string::npos) << msg;

    // 100 000 levels: refused at level 101, with no deep recursion anywhere.
    msg = archive_error("nested_100k.pt", nested(100'000));
    EXPECT_NE(msg.find("nested more than 100 deep"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, DictsAndTuplesCountTowardsTheSameLimit) {
    // A tuple around a dict around a tuple ...: TUPLE1 and SETITEM alternate.
    std::string body = ")";
    for (int i = 0; i < 60; ++i) {
        body = "}K\x01" + body + "s\x85";
    }
    std::string msg = archive_error("mixed.pt", pickle(body));
    EXPECT_NE(msg.find("nested more than 100 deep"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, ContainerInsideItselfIsRefused) {
    // EMPTY_LIST, BINPUT 0, BINGET 0, APPEND: the list appended to itself.
    std::string msg = archive_error("cycle.pt", pickle("]q\x00h\x00"s + "a"));
    EXPECT_NE(msg.find("places a container inside itself"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, ContainerChangedAfterBeingPlacedIsRefused) {
    // List A (memo 0); list B; A appended to B; B popped; A changed: A's
    // recorded height would be stale, and a cycle through B possible.
    std::string msg = archive_error("sealed.pt", pickle("]q\x00]h\x00"s + "a0Na"));
    EXPECT_NE(msg.find("modifies a container after it was placed inside another one"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, PickleWhoseObjectsOutgrowItsSizeIsRefused) {
    // One byte per empty dict: 2 MB of pickle would make two million dicts.
    std::string body = "(";
    body += repeat("}", 2'000'000);
    body += "l";
    std::string msg = archive_error("dicts.pt", pickle(body));
    EXPECT_NE(msg.find("MiB of memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("damaged or hostile"), std::string::npos) << msg;
}

TEST_F(HostileArchiveTest, HugeLengthPrefixesAreTruncation) {
    for (const std::string& op : {"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"s,  // BINUNICODE8
                                  "X\xff\xff\xff\xff"s,                     // BINUNICODE
                                  "\x8e\x00\x00\x00\x00\x00\x00\x00\x80"s}) {  // BINBYTES8
        std::string msg = archive_error("length.pt", pickle(op));
        EXPECT_NE(msg.find("ends unexpectedly"), std::string::npos) << msg;
    }
}

TEST_F(HostileArchiveTest, StorageLargerThanItsRecordIsRefused) {
    // The pickle claims 2^40 floats in a 16-byte record.
    // LONG1 of 6 bytes: 2^40.
    std::string claim = pickle(float_storage("\x8a\x06"s + "\x00\x00\x00\x00\x00\x01"s));
    std::string msg = error_of("big_storage.pt", make_zip({{"archive/data.pkl", claim}, {"archive/data/0", four_floats}}));
    EXPECT_NE(msg.find("holds 16 bytes, but the pickle expects 1099511627776 elements"), std::string::npos) << msg;
}

// fairseq's hyperparameters: an argparse.Namespace becomes a dict of its
// attributes, as protocol 2 pickles it (Namespace.__new__, then BUILD).
TEST_F(HostileArchiveTest, NamespaceIsReadAsARecordAndOnlyAsOne) {
    std::string ns = "cargparse\nNamespace\n)\x81}(";
    ns += unicode("lr");
    ns += "K\x03";
    ns += unicode("arch");
    ns += unicode("transformer");
    ns += "ub";
    fs::path good = write("namespace.pt", make_zip({{"archive/data.pkl", pickle(ns)}}));
    c10::IValue value = read_torch_archive(good);
    ASSERT_TRUE(value.isGenericDict());
    EXPECT_EQ(value.toGenericDict().at("lr").toInt(), 3);
    EXPECT_EQ(value.toGenericDict().at("arch").toStringRef(), "transformer");

    std::string msg = archive_error("ns_state.pt", pickle("cargparse\nNamespace\n)\x81K\x05" "b"));
    EXPECT_NE(msg.find("BUILD gives an argparse.Namespace a state that is not a dict"), std::string::npos) << msg;
    msg = archive_error("ns_args.pt", pickle("cargparse\nNamespace\n(K\x01tR"));
    EXPECT_NE(msg.find("only Namespace() is supported"), std::string::npos) << msg;
    msg = archive_error("parser.pt", pickle("cargparse\nArgumentParser\n)R"));
    EXPECT_NE(msg.find("'argparse.ArgumentParser', which is not allowed"), std::string::npos) << msg;
    // A Namespace already placed in a container cannot be changed by a later BUILD.
    std::string sealed = "]cargparse\nNamespace\n)\x81\x94";
    sealed += "a";       // the Namespace into the list
    sealed += "h\x00"s;  // BINGET it back
    sealed += "}b";      // and BUILD it
    msg = archive_error("ns_sealed.pt", pickle(sealed));
    EXPECT_NE(msg.find("modifies a container after it was placed inside another one"), std::string::npos) << msg;
}

// A training checkpoint read for its model: the storages of other entries
// that hold tensors are never read, so a damaged record there goes unread.
TEST_F(HostileArchiveTest, CheckpointReadSkipsTheStoragesOutsideTheModel) {
    // {"model": {"w": storage 0}, "optimizer": storage 1, "epoch": 3}
    std::string body = "}(";
    body += unicode("model");
    body += "}(";
    body += unicode("w");
    body += float_storage("K\x04"s);
    body += "u";
    body += unicode("optimizer");
    std::string second = float_storage("K\x04"s);
    second.replace(second.find(unicode("0")), unicode("0").size(), unicode("1"));
    body += second;
    body += unicode("epoch");
    body += "K\x03";
    body += "u";
    const std::string weights = "\x00\x00\x80\x3f"s + "\x00\x00\x00\x40"s + "\x00\x00\x40\x40"s + "\x00\x00\x80\x40"s;
    fs::path path = write("training.pt", make_zip({{"archive/data.pkl", pickle(body)},
                                                   {"archive/data/0", weights},
                                                   {"archive/data/1", four_floats}},
                                                  [](ZipLayout& layout) { layout.entries[2].crc = 0xdeadbeef; }));

    // Reading everything reads record 1 and finds its checksum wrong.
    EXPECT_THROW(read_torch_archive(path), CheckpointError);

    std::uint64_t bytes = 0;
    c10::IValue value = fairseq2::checkpoint::read_torch_checkpoint(path, [&](std::uint64_t n) { bytes += n; });
    const c10::impl::GenericDict root = value.toGenericDict();
    EXPECT_FALSE(root.contains("optimizer"));
    EXPECT_EQ(root.at("epoch").toInt(), 3);
    EXPECT_EQ(bytes, 16U);
    const at::Tensor w = root.at("model").toGenericDict().at("w").toTensor();
    EXPECT_TRUE(at::equal(w, at::tensor({1.0F, 2.0F, 3.0F, 4.0F})));
    const boost::json::object extras = fairseq2::checkpoint::checkpoint_extras(value);
    EXPECT_EQ(extras.size(), 1U);
    EXPECT_EQ(extras.at("epoch").as_int64(), 3);
}

}  // namespace

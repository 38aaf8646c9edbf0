// Reading and writing torch.save zip archives.
//
// LibTorch's own torch::pickle_load cannot read real checkpoints (it does not
// know collections.OrderedDict, which every state_dict() is), so reading uses
// the small unpickler below. It understands the opcodes torch.save emits
// (pickle protocols 2 to 5) and a fixed allow-list of globals; everything
// else is refused with a CheckpointError instead of being executed.
//
// Value mapping (what read_torch_archive() returns):
//   dict / OrderedDict  -> c10::impl::GenericDict with key and value type
//                          AnyType. c10::Dict accepts AnyType keys as long as
//                          every key is hashable by DictKeyHash; we only admit
//                          string and int keys, which are.
//   list                -> c10::impl::GenericList (element type AnyType)
//   tuple               -> c10::ivalue::Tuple
//   str                 -> string (UTF-8)
//   bytes               -> string holding the raw bytes (BINBYTES, or
//                          _codecs.encode(str, 'latin1') under protocol 2)
//   int                 -> int64 (larger Python ints are an error)
//   float, bool, None   -> double, bool, None
//   tensor / Parameter  -> CPU tensor with the saved dtype, sizes, strides and
//                          storage offset; tensors that shared a storage in
//                          Python share one c10::Storage here too
//   a bare storage      -> a 1-D tensor over the whole storage
//   torch.float32 & co. -> the ScalarType as an IValue (an int)
// requires_grad, backward hooks and BUILD state (e.g. a state dict's
// _metadata) are dropped.

#include "fairseq2/checkpoint/torch_archive.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/Storage.h>
#include <c10/util/Exception.h>
#include <boost/json.hpp>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "fairseq2/checkpoint/atomic_file.hpp"
#include "fairseq2/error.hpp"
#include "zip_reader.hpp"

namespace fairseq2::checkpoint {
namespace {

using c10::IValue;

// The first line of a c10::Error message, without the C++ backtrace.
std::string short_message(const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (auto pos = msg.find('\n'); pos != std::string::npos) {
        msg.resize(pos);
    }
    while (!msg.empty() && (msg.back() == ' ' || msg.back() == '.')) {
        msg.pop_back();
    }
    return msg;
}

[[noreturn]] void fail_read(const std::filesystem::path& path, const std::string& reason) {
    throw CheckpointError("Cannot read the PyTorch archive '" + path.string() + "': " + reason);
}

[[noreturn]] void fail_write(const std::filesystem::path& path, const std::string& reason) {
    throw CheckpointError("Cannot write the PyTorch archive '" + path.string() + "': " + reason);
}

// "an int", "a dict", ... for messages.
std::string describe(const IValue& value) {
    if (value.isNone()) {
        return "None";
    }
    if (value.isBool()) {
        return "a bool";
    }
    if (value.isInt()) {
        return "an int";
    }
    if (value.isDouble()) {
        return "a float";
    }
    if (value.isString()) {
        return "a string";
    }
    if (value.isGenericDict()) {
        return "a dict";
    }
    if (value.isList()) {
        return "a list";
    }
    if (value.isTuple()) {
        return "a tuple";
    }
    if (value.isTensor()) {
        return "a tensor";
    }
    return "a value of kind " + value.tagKind();
}

// A dict key for messages: 'name' for strings, the number for ints.
std::string key_text(const IValue& key) {
    if (key.isString()) {
        return "'" + key.toStringRef() + "'";
    }
    std::ostringstream out;
    out << key;
    return out.str();
}

std::string hex_bytes(const unsigned char* bytes, std::size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        if (i != 0) {
            out += ' ';
        }
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 0xF];
    }
    return out;
}

// ---------------------------------------------------------------------------
// The unpickler.

// A Python global the unpickler accepts.
struct Global {
    enum class Type {
        ordered_dict,       // collections.OrderedDict
        rebuild_tensor_v2,  // torch._utils._rebuild_tensor_v2
        rebuild_parameter,  // torch._utils._rebuild_parameter
        restore_type_tag,   // torch.jit._pickle.restore_type_tag (LibTorch's pickler)
        build_list,         // torch.jit._pickle.build_{int,double,bool,tensor}list
        codecs_encode,      // _codecs.encode(str, "latin1"): bytes under protocol 2
        empty_bytes,        // __builtin__.bytes() / builtins.bytes(): b"" under protocol 2
        storage_class,      // torch.FloatStorage, ...: dtype holds the element type
        dtype,              // torch.float32, ...: dtype holds it
        namespace_record,   // argparse.Namespace: a plain dict of its attributes (fairseq's args)
    };

    Type type = Type::ordered_dict;
    c10::ScalarType dtype = c10::ScalarType::Undefined;
    std::string name;  // "module.name", for messages
};

struct TupleNode;

// One entry of the unpickler's stack or memo.
struct Item {
    enum class Kind {
        value,    // `value`
        tuple,    // `tuple`; turned into an ivalue::Tuple when stored as a value
        global,   // `global`
        storage,  // `value` is the 1-D tensor over the whole storage
    };

    Kind kind = Kind::value;
    IValue value;
    // Shared, so that copying an Item (memo, DUP) is O(1) whatever it holds,
    // and an Item stays small (the stack and memo hold many).
    std::shared_ptr<const TupleNode> tuple;
    std::shared_ptr<const Global> global;

    const std::vector<Item>& elements() const;

    static Item of(IValue v) {
        Item item;
        item.value = std::move(v);
        return item;
    }
};

// A tuple stays a vector of Items (it may hold globals and storages, as
// persistent ids and REDUCE arguments do) until it is stored as a value.
struct TupleNode {
    std::vector<Item> items;
    int height = 1;              // nesting height, bounded by max_nesting_depth
    std::uint64_t cost = 0;      // charged to the object budget
    mutable IValue converted;    // the ivalue::Tuple, once made (shared, like in Python)
};

// Containers (dicts, lists, tuples) nested deeper are refused. That bounds
// every recursion over the result: to_value(), the conversions and messages
// that walk it, and the destructors of nested IValues, which are recursive.
// State dicts nest 3 to 6 deep.
constexpr int max_nesting_depth = 100;

// What the objects of a pickle may cost at most: a floor for small files,
// plus a multiple of the pickle's size. A real state dict's objects (the
// dict, its tensors and the memo's references) cost about 25 times its
// pickle; a hostile pickle of 1-byte opcodes that each create a container is
// stopped here rather than by the machine running out of memory.
constexpr std::uint64_t object_budget_floor = std::uint64_t{32} << 20;
constexpr std::uint64_t object_budget_per_pickle_byte = 48;

// Heap costs of what the unpickler creates, as measured with LibTorch 1.13
// (peak RSS over a million of each); the stack and the memo are counted by
// their own size.
constexpr std::uint64_t cost_dict = 448;
constexpr std::uint64_t cost_dict_entry = 96;
constexpr std::uint64_t cost_list = 160;
constexpr std::uint64_t cost_list_element = 16;
constexpr std::uint64_t cost_string = 64;
constexpr std::uint64_t cost_tensor = 512;
constexpr std::uint64_t cost_memo_entry = 64;
constexpr std::uint64_t cost_tuple = 160;  // a TupleNode and its control block, before its items

const std::vector<Item>& Item::elements() const {
    return tuple->items;
}

std::optional<c10::ScalarType> storage_dtype(std::string_view name) {
    static const std::pair<std::string_view, c10::ScalarType> table[] = {
        {"FloatStorage", c10::ScalarType::Float},
        {"DoubleStorage", c10::ScalarType::Double},
        {"HalfStorage", c10::ScalarType::Half},
        {"BFloat16Storage", c10::ScalarType::BFloat16},
        {"LongStorage", c10::ScalarType::Long},
        {"IntStorage", c10::ScalarType::Int},
        {"ShortStorage", c10::ScalarType::Short},
        {"CharStorage", c10::ScalarType::Char},
        {"ByteStorage", c10::ScalarType::Byte},
        {"BoolStorage", c10::ScalarType::Bool},
        {"ComplexFloatStorage", c10::ScalarType::ComplexFloat},
        {"ComplexDoubleStorage", c10::ScalarType::ComplexDouble},
        {"UntypedStorage", c10::ScalarType::Byte},
        {"_UntypedStorage", c10::ScalarType::Byte},
    };
    for (const auto& [n, t] : table) {
        if (n == name) {
            return t;
        }
    }
    return std::nullopt;
}

std::optional<c10::ScalarType> dtype_global(std::string_view name) {
    static const std::pair<std::string_view, c10::ScalarType> table[] = {
        {"float32", c10::ScalarType::Float},     {"float", c10::ScalarType::Float},
        {"float64", c10::ScalarType::Double},    {"double", c10::ScalarType::Double},
        {"float16", c10::ScalarType::Half},      {"half", c10::ScalarType::Half},
        {"bfloat16", c10::ScalarType::BFloat16}, {"int64", c10::ScalarType::Long},
        {"long", c10::ScalarType::Long},         {"int32", c10::ScalarType::Int},
        {"int", c10::ScalarType::Int},           {"int16", c10::ScalarType::Short},
        {"short", c10::ScalarType::Short},       {"int8", c10::ScalarType::Char},
        {"uint8", c10::ScalarType::Byte},        {"bool", c10::ScalarType::Bool},
        {"complex64", c10::ScalarType::ComplexFloat},
        {"complex128", c10::ScalarType::ComplexDouble},
    };
    for (const auto& [n, t] : table) {
        if (n == name) {
            return t;
        }
    }
    return std::nullopt;
}

class Unpickler {
public:
    Unpickler(const std::filesystem::path& path,
              const detail::ZipReader& reader,
              const std::string& prefix,
              const char* data,
              std::size_t size,
              const StorageReadCallback& on_storage)
        : path_(path),
          reader_(reader),
          prefix_(prefix),
          data_(data),
          size_(size),
          on_storage_(on_storage),
          budget_(object_budget_floor + object_budget_per_pickle_byte * size) {}

    IValue run();

    // Storage records are read when the caller asks, not while unpickling:
    // until then a tensor's storage has its size but no memory.
    // Reads the records of every storage that `keep` holds a tensor of (or
    // of all storages when `keep` is null).
    void read_storages(const IValue* keep);

private:
    [[noreturn]] void fail(const std::string& reason) const {
        fail_read(path_, "its pickle (data.pkl) " + reason);
    }

    [[noreturn]] void fail_at(const std::string& reason) const {
        fail("is invalid at byte " + std::to_string(op_pos_) + ": " + reason);
    }

    // Reading the byte stream.
    const char* take(std::uint64_t n) {
        if (n > size_ - pos_) {
            fail("ends unexpectedly at byte " + std::to_string(size_) +
                 " before its STOP opcode; the archive is truncated or damaged.");
        }
        const char* p = data_ + pos_;
        pos_ += static_cast<std::size_t>(n);
        return p;
    }

    std::uint64_t read_le(int n) {
        const auto* p = reinterpret_cast<const unsigned char*>(take(static_cast<std::uint64_t>(n)));
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) {
            v = (v << 8) | p[i];
        }
        return v;
    }

    std::string read_string(std::uint64_t n) {
        const char* p = take(n);
        charge(cost_string + n);
        return std::string(p, static_cast<std::size_t>(n));
    }

    std::string read_line() {
        const char* begin = data_ + pos_;
        const void* nl = std::memchr(begin, '\n', size_ - pos_);
        if (nl == nullptr) {
            fail("ends unexpectedly inside a GLOBAL opcode; the archive is truncated or damaged.");
        }
        auto n = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
        pos_ += n + 1;
        return std::string(begin, n);
    }

    // The stack.
    void push(Item item) {
        stack_.push_back(std::move(item));
        check_budget();
    }

    void push(IValue value) { push(Item::of(std::move(value))); }

    void push_tuple(std::vector<Item> items) {
        auto node = std::make_shared<TupleNode>();
        for (const Item& element : items) {
            node->height = std::max(node->height, height(element) + 1);
        }
        if (node->height > max_nesting_depth) {
            fail_at("its containers are nested more than " + std::to_string(max_nesting_depth) + " deep.");
        }
        node->cost = cost_tuple + items.size() * sizeof(Item);
        charge(node->cost);
        for (const Item& element : items) {
            seal(element);
        }
        node->items = std::move(items);
        Item item;
        item.kind = Item::Kind::tuple;
        item.tuple = std::move(node);
        push(std::move(item));
    }

    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

    Item pop() {
        if (stack_.size() <= floor()) {
            fail_at("an opcode pops from an empty stack.");
        }
        Item item = std::move(stack_.back());
        stack_.pop_back();
        return item;
    }

    Item& top() {
        if (stack_.size() <= floor()) {
            fail_at("an opcode reads from an empty stack.");
        }
        return stack_.back();
    }

    std::vector<Item> pop_mark() {
        if (marks_.empty()) {
            fail_at("an opcode needs a MARK that was never set.");
        }
        std::size_t mark = marks_.back();
        marks_.pop_back();
        check_budget((stack_.size() - mark) * sizeof(Item));  // the items, moved out
        std::vector<Item> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                                std::make_move_iterator(stack_.end()));
        stack_.resize(mark);
        return items;
    }

    // Conversions.
    IValue to_value(const Item& item) const;
    static std::vector<IValue> tuple_values(const Item& item);
    std::int64_t expect_int(const Item& item, const char* what) const;
    std::vector<std::int64_t> expect_int_tuple(const Item& item, const char* what) const;

    void append(Item& list, const Item& value);
    void set_item(Item& dict, const Item& key, const Item& value);

    // Memory and nesting bounds. Every dict and list is made by new_list()
    // or new_dict(), which record its height (1 when empty); inserting a
    // value raises its container's height and seals the value, and a sealed
    // container can no longer change. Python's pickler fills each container
    // before placing it in another, so real pickles never modify a sealed
    // one; refusing to keeps every recorded height exact and rules out
    // cycles (a container inside itself).
    struct ContainerInfo {
        int height = 1;
        bool sealed = false;
    };
    void charge(std::uint64_t bytes) {
        used_ += bytes;
        check_budget();
    }
    void check_budget(std::uint64_t extra = 0) const {
        if (used_ + extra + stack_.capacity() * sizeof(Item) > budget_) {
            fail_at("its objects would take more than " + std::to_string(budget_ >> 20) + " MiB of memory, more than " +
                    "a pickle of " + std::to_string(size_) + " bytes can need; the archive is damaged or hostile.");
        }
    }
    // A tuple that an opcode consumed (REDUCE's arguments, a persistent id)
    // is given back to the budget when nothing else holds it.
    void release(Item& item) {
        if (item.kind == Item::Kind::tuple && item.tuple.use_count() == 1) {
            used_ -= std::min(used_, item.tuple->cost);
            item.tuple.reset();
        }
    }
    Item new_list();
    Item new_dict();
    static const void* container_key(const Item& item);
    int height(const Item& item) const;
    void seal(const Item& item);
    // The info of `target` for a modification; fails when it is sealed or
    // when `value` is `target` itself.
    ContainerInfo& modify(const Item& target, const Item& value, const char* what);
    void read_record(const detail::ZipRecord& record, void* out) const {
        try {
            reader_.read(record, out);
        } catch (const detail::ZipError& e) {
            fail_read(path_, std::string("its zip container is damaged or truncated (") + e.what() + ").");
        } catch (const std::system_error& e) {
            fail_read(path_, std::string(e.what()) + ".");
        }
    }

    Global resolve_global(const std::string& module, const std::string& name) const;
    Item call(const Item& callable, const Item& args);
    Item persistent_load(const Item& pid);
    IValue latin1_bytes(const std::vector<Item>& args) const;
    Item rebuild_tensor(const std::vector<Item>& args);

    const std::filesystem::path& path_;
    const detail::ZipReader& reader_;
    const std::string& prefix_;  // "archive/": the folder every record is in
    const char* data_;
    std::size_t size_;
    const StorageReadCallback& on_storage_;
    std::size_t pos_ = 0;
    std::size_t op_pos_ = 0;

    std::vector<Item> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, Item> memo_;

    // Storage records by key, so tensors sharing one share it here; each
    // without memory until read_storages().
    struct PendingStorage {
        const detail::ZipRecord* record = nullptr;
        c10::Storage storage;
    };
    std::unordered_map<std::string, PendingStorage> storages_;
    // The dicts made by argparse.Namespace(), which BUILD fills.
    std::unordered_set<const void*> namespaces_;

    std::unordered_map<const void*, ContainerInfo> containers_;
    std::uint64_t used_ = 0;
    std::uint64_t budget_;
};

IValue Unpickler::to_value(const Item& item) const {
    switch (item.kind) {
        case Item::Kind::value:
        case Item::Kind::storage:
            return item.value;
        case Item::Kind::tuple: {
            const TupleNode& node = *item.tuple;
            if (node.converted.isNone()) {
                std::vector<IValue> values;
                values.reserve(node.items.size());
                for (const Item& element : node.items) {
                    values.push_back(to_value(element));
                }
                node.converted = c10::ivalue::Tuple::create(std::move(values));
            }
            return node.converted;
        }
        case Item::Kind::global:
            if (item.global->type == Global::Type::dtype) {
                return IValue(item.global->dtype);
            }
            fail_at("it stores the Python object '" + item.global->name +
                    "' itself as a value, which is not supported.");
    }
    fail_at("it stores an unknown object as a value.");
}

std::int64_t Unpickler::expect_int(const Item& item, const char* what) const {
    if (item.kind != Item::Kind::value || !item.value.isInt()) {
        fail_at(std::string("expected an int for ") + what + ", found " +
                (item.kind == Item::Kind::value ? describe(item.value) : std::string("a non-value")) + ".");
    }
    return item.value.toInt();
}

std::vector<std::int64_t> Unpickler::expect_int_tuple(const Item& item, const char* what) const {
    if (item.kind != Item::Kind::tuple) {
        fail_at(std::string("expected a tuple of ints for ") + what + ".");
    }
    std::vector<std::int64_t> out;
    out.reserve(item.elements().size());
    for (const Item& element : item.elements()) {
        out.push_back(expect_int(element, what));
    }
    return out;
}

Item Unpickler::new_list() {
    charge(cost_list);
    Item item = Item::of(c10::impl::GenericList(c10::AnyType::get()));
    containers_.insert_or_assign(container_key(item), ContainerInfo{});
    return item;
}

Item Unpickler::new_dict() {
    charge(cost_dict);
    Item item = Item::of(c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()));
    containers_.insert_or_assign(container_key(item), ContainerInfo{});
    return item;
}

const void* Unpickler::container_key(const Item& item) {
    if (item.kind == Item::Kind::value && (item.value.isList() || item.value.isGenericDict())) {
        return item.value.internalToPointer();
    }
    return nullptr;
}

int Unpickler::height(const Item& item) const {
    if (item.kind == Item::Kind::tuple) {
        return item.tuple->height;
    }
    if (const void* key = container_key(item)) {
        auto it = containers_.find(key);
        return it == containers_.end() ? 1 : it->second.height;
    }
    return 0;
}

void Unpickler::seal(const Item& item) {
    if (const void* key = container_key(item)) {
        containers_[key].sealed = true;
    }
}

Unpickler::ContainerInfo& Unpickler::modify(const Item& target, const Item& value, const char* what) {
    const void* key = container_key(target);
    ContainerInfo& info = containers_[key];
    if (info.sealed) {
        fail_at(std::string(what) + " modifies a container after it was placed inside another one, which "
                "torch.save never does.");
    }
    if (key != nullptr && key == container_key(value)) {
        fail_at(std::string(what) + " places a container inside itself.");
    }
    int h = height(value) + 1;
    if (h > max_nesting_depth) {
        fail_at("its containers are nested more than " + std::to_string(max_nesting_depth) + " deep.");
    }
    info.height = std::max(info.height, h);
    return info;
}

void Unpickler::append(Item& list, const Item& value) {
    if (list.kind != Item::Kind::value || !list.value.isList()) {
        fail_at("APPEND targets something that is not a list.");
    }
    modify(list, value, "APPEND");
    charge(cost_list_element);
    seal(value);
    list.value.toList().push_back(to_value(value));
}

void Unpickler::set_item(Item& dict, const Item& key, const Item& value) {
    if (dict.kind != Item::Kind::value || !dict.value.isGenericDict()) {
        fail_at("SETITEM targets something that is not a dict.");
    }
    IValue k = to_value(key);
    if (!k.isString() && !k.isInt()) {
        fail_at("a dict has a key that is " + describe(k) + "; only string and int keys are supported.");
    }
    modify(dict, value, "SETITEM");
    charge(cost_dict_entry);
    seal(value);
    dict.value.toGenericDict().insert_or_assign(std::move(k), to_value(value));
}

Global Unpickler::resolve_global(const std::string& module, const std::string& name) const {
    Global g;
    g.name = module + "." + name;
    if (module == "collections" && name == "OrderedDict") {
        g.type = Global::Type::ordered_dict;
        return g;
    }
    if (module == "argparse" && name == "Namespace") {
        g.type = Global::Type::namespace_record;
        return g;
    }
    if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
        g.type = Global::Type::rebuild_tensor_v2;
        return g;
    }
    if (module == "torch._utils" && name == "_rebuild_parameter") {
        g.type = Global::Type::rebuild_parameter;
        return g;
    }
    if (module == "torch.jit._pickle" && name == "restore_type_tag") {
        g.type = Global::Type::restore_type_tag;
        return g;
    }
    if (module == "torch.jit._pickle" &&
        (name == "build_intlist" || name == "build_doublelist" || name == "build_boollist" ||
         name == "build_tensorlist")) {
        g.type = Global::Type::build_list;
        return g;
    }
    if (module == "_codecs" && name == "encode") {
        g.type = Global::Type::codecs_encode;
        return g;
    }
    if ((module == "__builtin__" || module == "builtins") && name == "bytes") {
        g.type = Global::Type::empty_bytes;
        return g;
    }
    if (module == "torch") {
        if (auto t = storage_dtype(name)) {
            g.type = Global::Type::storage_class;
            g.dtype = *t;
            return g;
        }
        if (auto t = dtype_global(name)) {
            g.type = Global::Type::dtype;
            g.dtype = *t;
            return g;
        }
    }
    fail_at("it refers to the Python global '" + g.name +
            "', which is not allowed; a checkpoint may only hold tensors, storages, "
            "collections.OrderedDict, argparse.Namespace and plain containers, strings, bytes and numbers.");
}

Item Unpickler::call(const Item& callable, const Item& args_item) {
    if (callable.kind != Item::Kind::global) {
        fail_at("REDUCE calls something that is not an allowed global.");
    }
    if (args_item.kind != Item::Kind::tuple) {
        fail_at("REDUCE calls '" + callable.global->name + "' with arguments that are not a tuple.");
    }
    const std::vector<Item>& args = args_item.elements();
    const Global& g = *callable.global;
    switch (g.type) {
        case Global::Type::ordered_dict:
            if (!args.empty()) {
                fail_at("collections.OrderedDict is called with arguments; only OrderedDict() is supported.");
            }
            return new_dict();
        case Global::Type::namespace_record: {
            // Namespace(**kwargs) or, as pickle protocol 2+ writes it,
            // Namespace.__new__(Namespace) followed by BUILD with its
            // attributes.
            Item record = new_dict();
            namespaces_.insert(container_key(record));
            if (!args.empty()) {
                fail_at("argparse.Namespace is called with positional arguments; only Namespace() is supported.");
            }
            return record;
        }
        case Global::Type::rebuild_tensor_v2:
            return rebuild_tensor(args);
        case Global::Type::rebuild_parameter:
            if (args.size() < 2 || args[0].kind != Item::Kind::value || !args[0].value.isTensor()) {
                fail_at("torch._utils._rebuild_parameter is called without a tensor.");
            }
            return args[0];
        case Global::Type::restore_type_tag:
        case Global::Type::build_list:
            if (args.empty()) {
                fail_at("'" + g.name + "' is called without arguments.");
            }
            return args[0];
        case Global::Type::codecs_encode:
            return Item::of(latin1_bytes(args));
        case Global::Type::empty_bytes:
            if (!args.empty()) {
                fail_at("bytes() is called with arguments; only bytes() is supported.");
            }
            return Item::of(IValue(std::string()));
        case Global::Type::storage_class:
        case Global::Type::dtype:
            break;
    }
    fail_at("it calls '" + g.name + "', which is not supported.");
}

// Protocol 2 pickles bytes b as _codecs.encode(s, "latin1"), where s is the
// str whose code points are the bytes (so s is UTF-8 with code points < 256).
IValue Unpickler::latin1_bytes(const std::vector<Item>& args) const {
    if (args.size() != 2 || args[0].kind != Item::Kind::value || !args[0].value.isString() ||
        args[1].kind != Item::Kind::value || !args[1].value.isString() ||
        (args[1].value.toStringRef() != "latin1" && args[1].value.toStringRef() != "latin-1")) {
        fail_at("_codecs.encode is only supported as _codecs.encode(str, 'latin1'), the way pickle stores bytes.");
    }
    const std::string& text = args[0].value.toStringRef();
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if ((c == 0xC2 || c == 0xC3) && i + 1 < text.size() &&
                   (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
            out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3F));
            ++i;
        } else {
            fail_at("_codecs.encode is given a string with a character beyond latin-1.");
        }
    }
    return IValue(std::move(out));
}

Item Unpickler::persistent_load(const Item& pid) {
    // ('storage', StorageClass, key, location, numel)
    if (pid.kind != Item::Kind::tuple || pid.elements().size() != 5 ||
        pid.elements()[0].kind != Item::Kind::value || !pid.elements()[0].value.isString() ||
        pid.elements()[0].value.toStringRef() != "storage") {
        fail_at("a persistent id is not of the form ('storage', StorageClass, key, location, numel).");
    }
    const Item& cls = pid.elements()[1];
    if (cls.kind != Item::Kind::global || cls.global->type != Global::Type::storage_class) {
        fail_at("a persistent id names no torch storage class.");
    }
    const Item& key_item = pid.elements()[2];
    if (key_item.kind != Item::Kind::value || !key_item.value.isString()) {
        fail_at("a persistent id has a storage key that is not a string.");
    }
    const std::string& key = key_item.value.toStringRef();
    std::int64_t numel = expect_int(pid.elements()[4], "a storage size");
    if (numel < 0) {
        fail_at("storage 'data/" + key + "' has the negative size " + std::to_string(numel) + ".");
    }

    auto it = storages_.find(key);
    if (it == storages_.end()) {
        std::string record = "data/" + key;
        const detail::ZipRecord* entry = reader_.find(prefix_ + record);
        if (entry == nullptr) {
            fail_at("it refers to the storage record '" + record + "', which the archive does not contain.");
        }
        // The zip directory was checked: the record lies in the file, and no
        // two records share bytes, so all storages together are at most the
        // file's size. The record is read by read_storages(); until then the
        // storage has no memory.
        auto nbytes = static_cast<std::size_t>(entry->size);
        c10::Storage storage(c10::Storage::use_byte_size_t(), nbytes, at::DataPtr(nullptr, at::Device(at::kCPU)), nullptr, false);
        it = storages_.emplace(key, PendingStorage{entry, std::move(storage)}).first;
    }
    const c10::Storage& storage = it->second.storage;

    auto element_size = static_cast<std::uint64_t>(c10::elementSize(cls.global->dtype));
    auto needed = static_cast<std::uint64_t>(numel);
    if (needed > std::numeric_limits<std::uint64_t>::max() / element_size ||
        needed * element_size > storage.nbytes()) {
        fail_read(path_, "its storage record 'data/" + key + "' holds " + std::to_string(storage.nbytes()) +
                " bytes, but the pickle expects " + std::to_string(numel) + " elements of type " +
                c10::toString(cls.global->dtype) + " (" + std::to_string(needed * element_size) +
                " bytes); the archive is truncated or damaged.");
    }

    charge(cost_tensor);
    at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(cls.global->dtype).device(at::kCPU));
    tensor.set_(storage, 0, {numel}, {1});

    Item item;
    item.kind = Item::Kind::storage;
    item.value = std::move(tensor);
    return item;
}

Item Unpickler::rebuild_tensor(const std::vector<Item>& args) {
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    //                    backward_hooks[, metadata])
    if (args.size() != 6 && args.size() != 7) {
        fail_at("torch._utils._rebuild_tensor_v2 is called with " + std::to_string(args.size()) +
                " arguments instead of 6 or 7.");
    }
    if (args[0].kind != Item::Kind::storage) {
        fail_at("torch._utils._rebuild_tensor_v2 is called without a storage.");
    }
    const at::Tensor& storage = args[0].value.toTensor();
    std::int64_t offset = expect_int(args[1], "a storage offset");
    std::vector<std::int64_t> sizes = expect_int_tuple(args[2], "a tensor size");
    std::vector<std::int64_t> strides = expect_int_tuple(args[3], "a tensor stride");

    if (sizes.size() != strides.size()) {
        fail_at("a tensor has " + std::to_string(sizes.size()) + " sizes but " + std::to_string(strides.size()) +
                " strides.");
    }
    if (offset < 0) {
        fail_at("a tensor has the negative storage offset " + std::to_string(offset) + ".");
    }
    bool empty = false;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] < 0 || strides[i] < 0) {
            fail_at("a tensor has a negative size or stride.");
        }
        empty = empty || sizes[i] == 0;
    }
    std::int64_t storage_numel = storage.numel();
    if (!empty) {
        // Index of the last element the view touches, checked for overflow.
        std::int64_t last = offset;
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            std::int64_t span = 0;
            if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &span) ||
                __builtin_add_overflow(last, span, &last)) {
                last = std::numeric_limits<std::int64_t>::max();
                break;
            }
        }
        if (last >= storage_numel) {
            std::ostringstream view;
            view << "a tensor of size " << c10::IntArrayRef(sizes) << ", stride " << c10::IntArrayRef(strides)
                 << " and storage offset " << offset << " does not fit in its storage of " << storage_numel
                 << " elements.";
            fail_at(view.str());
        }
    } else if (offset > storage_numel) {
        fail_at("an empty tensor has the storage offset " + std::to_string(offset) + " beyond its storage of " +
                std::to_string(storage_numel) + " elements.");
    }

    // A plain tensor over the same storage, as storage.as_strided(sizes,
    // strides, offset) would give, but without autograd view bookkeeping.
    charge(cost_tensor);
    at::Tensor tensor = at::empty({0}, storage.options());
    tensor.set_(storage.storage(), offset, sizes, strides);
    return Item::of(std::move(tensor));
}

IValue Unpickler::run() {
    while (true) {
        op_pos_ = pos_;
        auto op = static_cast<unsigned char>(*take(1));
        switch (op) {
            case 0x80: {  // PROTO
                auto proto = read_le(1);
                if (proto > 5) {
                    fail_at("it uses pickle protocol " + std::to_string(proto) + "; protocols up to 5 are supported.");
                }
                break;
            }
            case 0x95:  // FRAME: a length prefix we do not need
                read_le(8);
                break;
            case '.': {  // STOP
                Item result = pop();
                return to_value(result);
            }
            case '(':  // MARK
                marks_.push_back(stack_.size());
                break;
            case '0': {  // POP
                Item item = pop();
                release(item);
                break;
            }
            case '1':  // POP_MARK
                pop_mark();
                break;
            case '2':  // DUP
                push(Item(top()));
                break;
            case '}':  // EMPTY_DICT
                push(new_dict());
                break;
            case ']':  // EMPTY_LIST
                push(new_list());
                break;
            case ')':  // EMPTY_TUPLE
                push_tuple({});
                break;
            case 't':  // TUPLE
                push_tuple(pop_mark());
                break;
            case 0x85:    // TUPLE1
            case 0x86:    // TUPLE2
            case 0x87: {  // TUPLE3
                std::size_t n = op - 0x84;
                std::vector<Item> items(n);
                for (std::size_t i = n; i > 0; --i) {
                    items[i - 1] = pop();
                }
                push_tuple(std::move(items));
                break;
            }
            case 'l': {  // LIST
                std::vector<Item> items = pop_mark();
                Item list = new_list();
                for (const Item& element : items) {
                    append(list, element);
                }
                push(std::move(list));
                break;
            }
            case 'd': {  // DICT
                std::vector<Item> items = pop_mark();
                if (items.size() % 2 != 0) {
                    fail_at("DICT has an odd number of items.");
                }
                Item dict = new_dict();
                for (std::size_t i = 0; i < items.size(); i += 2) {
                    set_item(dict, items[i], items[i + 1]);
                }
                push(std::move(dict));
                break;
            }
            case 'a': {  // APPEND
                Item value = pop();
                append(top(), value);
                break;
            }
            case 'e': {  // APPENDS
                std::vector<Item> items = pop_mark();
                Item& list = top();
                for (const Item& element : items) {
                    append(list, element);
                }
                break;
            }
            case 's': {  // SETITEM
                Item value = pop();
                Item key = pop();
                set_item(top(), key, value);
                break;
            }
            case 'u': {  // SETITEMS
                std::vector<Item> items = pop_mark();
                if (items.size() % 2 != 0) {
                    fail_at("SETITEMS has an odd number of items.");
                }
                Item& dict = top();
                for (std::size_t i = 0; i < items.size(); i += 2) {
                    set_item(dict, items[i], items[i + 1]);
                }
                break;
            }
            case 'X':  // BINUNICODE
                push(IValue(read_string(read_le(4))));
                break;
            case 0x8c:  // SHORT_BINUNICODE
                push(IValue(read_string(read_le(1))));
                break;
            case 0x8d:  // BINUNICODE8
                push(IValue(read_string(read_le(8))));
                break;
            case 'B':  // BINBYTES
                push(IValue(read_string(read_le(4))));
                break;
            case 'C':  // SHORT_BINBYTES
                push(IValue(read_string(read_le(1))));
                break;
            case 0x8e:  // BINBYTES8
                push(IValue(read_string(read_le(8))));
                break;
            case 'J':  // BININT: signed 32-bit
                push(IValue(static_cast<std::int64_t>(static_cast<std::int32_t>(read_le(4)))));
                break;
            case 'K':  // BININT1: unsigned 8-bit
                push(IValue(static_cast<std::int64_t>(read_le(1))));
                break;
            case 'M':  // BININT2: unsigned 16-bit
                push(IValue(static_cast<std::int64_t>(read_le(2))));
                break;
            case 0x8a:    // LONG1
            case 0x8b: {  // LONG4
                std::int64_t n = 0;
                if (op == 0x8a) {
                    n = static_cast<std::int64_t>(read_le(1));
                } else {
                    n = static_cast<std::int32_t>(read_le(4));
                }
                if (n < 0) {
                    fail_at("LONG4 has a negative length.");
                }
                if (n > 8) {
                    fail_at("it holds an integer of " + std::to_string(n) +
                            " bytes, which does not fit in 64 bits.");
                }
                std::uint64_t bits = n == 0 ? 0 : read_le(static_cast<int>(n));
                if (n > 0 && n < 8 && (bits >> (8 * n - 1)) != 0) {
                    bits |= ~std::uint64_t{0} << (8 * n);  // sign-extend
                }
                push(IValue(static_cast<std::int64_t>(bits)));
                break;
            }
            case 'G': {  // BINFLOAT: big-endian double
                const auto* p = reinterpret_cast<const unsigned char*>(take(8));
                std::uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) {
                    bits = (bits << 8) | p[i];
                }
                double d = 0;
                std::memcpy(&d, &bits, sizeof d);
                push(IValue(d));
                break;
            }
            case 0x88:  // NEWTRUE
                push(IValue(true));
                break;
            case 0x89:  // NEWFALSE
                push(IValue(false));
                break;
            case 'N':  // NONE
                push(IValue());
                break;
            case 'q':  // BINPUT
                charge(cost_memo_entry + sizeof(Item));
                memo_[read_le(1)] = top();
                break;
            case 'r':  // LONG_BINPUT
                charge(cost_memo_entry + sizeof(Item));
                memo_[read_le(4)] = top();
                break;
            case 0x94:  // MEMOIZE
                charge(cost_memo_entry + sizeof(Item));
                memo_[memo_.size()] = top();
                break;
            case 'h':    // BINGET
            case 'j': {  // LONG_BINGET
                std::uint64_t index = read_le(op == 'h' ? 1 : 4);
                auto it = memo_.find(index);
                if (it == memo_.end()) {
                    fail_at("it reads the memo entry " + std::to_string(index) + ", which was never written.");
                }
                push(Item(it->second));
                break;
            }
            case 'c': {  // GLOBAL
                std::string module = read_line();
                std::string name = read_line();
                Item item;
                item.kind = Item::Kind::global;
                item.global = std::make_shared<const Global>(resolve_global(module, name));
                push(std::move(item));
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                Item name = pop();
                Item module = pop();
                if (name.kind != Item::Kind::value || !name.value.isString() || module.kind != Item::Kind::value ||
                    !module.value.isString()) {
                    fail_at("STACK_GLOBAL needs a module and a name string.");
                }
                Item item;
                item.kind = Item::Kind::global;
                item.global = std::make_shared<const Global>(resolve_global(module.value.toStringRef(), name.value.toStringRef()));
                push(std::move(item));
                break;
            }
            case 'R':       // REDUCE
            case 0x81: {    // NEWOBJ: cls.__new__(cls, *args); same for our globals
                Item args = pop();
                Item callable = pop();
                Item result = call(callable, args);
                release(args);
                push(std::move(result));
                break;
            }
            case 'b': {  // BUILD: state setting, e.g. a state dict's _metadata
                Item state = pop();
                Item& target = top();
                if (target.kind != Item::Kind::value || !(target.value.isGenericDict() || target.value.isTensor())) {
                    fail_at("BUILD targets something that is neither a dict nor a tensor.");
                }
                if (target.value.isGenericDict() && namespaces_.count(container_key(target)) != 0) {
                    // A Namespace's attributes become the record's entries.
                    if (state.kind != Item::Kind::value || !state.value.isGenericDict()) {
                        fail_at("BUILD gives an argparse.Namespace a state that is not a dict of its attributes.");
                    }
                    modify(target, state, "BUILD");
                    for (const auto& entry : state.value.toGenericDict()) {
                        if (!entry.key().isString()) {
                            fail_at("an argparse.Namespace has an attribute name that is not a string.");
                        }
                        modify(target, Item::of(entry.value()), "BUILD");
                        charge(cost_dict_entry);
                        target.value.toGenericDict().insert_or_assign(entry.key(), entry.value());
                    }
                }
                break;
            }
            case 'Q': {  // BINPERSID
                Item pid = pop();
                Item storage = persistent_load(pid);
                release(pid);
                push(std::move(storage));
                break;
            }
            default: {
                unsigned char byte = op;
                fail_at("it uses the pickle opcode 0x" + hex_bytes(&byte, 1) +
                        ", which this reader does not support.");
            }
        }
    }
}

}  // namespace

namespace {

void collect_storages(const IValue& value, std::unordered_set<const void*>& out) {
    if (value.isTensor()) {
        const at::Tensor& tensor = value.toTensor();
        if (tensor.defined() && tensor.has_storage()) {
            out.insert(tensor.storage().unsafeGetStorageImpl());
        }
    } else if (value.isGenericDict()) {
        for (const auto& entry : value.toGenericDict()) {
            collect_storages(entry.value(), out);
        }
    } else if (value.isList()) {
        for (const IValue& element : value.toListRef()) {
            collect_storages(element, out);
        }
    } else if (value.isTuple()) {
        for (const IValue& element : value.toTupleRef().elements()) {
            collect_storages(element, out);
        }
    }
}

bool holds_tensor(const IValue& value) {
    std::unordered_set<const void*> found;
    collect_storages(value, found);
    if (!found.empty()) {
        return true;
    }
    // A tensor without storage still counts.
    if (value.isTensor()) {
        return true;
    }
    return false;
}

}  // namespace

void Unpickler::read_storages(const IValue* keep) {
    std::unordered_set<const void*> wanted;
    if (keep != nullptr) {
        collect_storages(*keep, wanted);
    }
    for (auto& [key, pending] : storages_) {
        c10::StorageImpl* impl = pending.storage.unsafeGetStorageImpl();
        if (keep != nullptr && wanted.count(impl) == 0) {
            continue;
        }
        auto nbytes = static_cast<std::size_t>(pending.record->size);
        at::DataPtr ptr = c10::GetCPUAllocator()->allocate(nbytes);
        read_record(*pending.record, ptr.get());
        impl->set_data_ptr(std::move(ptr));
        if (on_storage_) {
            on_storage_(static_cast<std::uint64_t>(nbytes));
        }
    }
}

namespace {

enum class ArchivePart { everything, model };

c10::IValue read_archive(const std::filesystem::path& path, const StorageReadCallback& on_storage, ArchivePart part) {
    std::error_code ec;
    auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) {
        fail_read(path, "the file does not exist.");
    }
    if (std::filesystem::is_directory(status)) {
        fail_read(path, "it is a directory, not a file.");
    }

    // Tell a zip archive from the legacy format and from anything else
    // before the zip directory is read.
    {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            fail_read(path, std::string("the file cannot be opened (") + std::strerror(errno) + ").");
        }
        unsigned char magic[4] = {};
        in.read(reinterpret_cast<char*>(magic), sizeof magic);
        auto n = static_cast<std::size_t>(in.gcount());
        if (n < 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
            if (n == 0) {
                fail_read(path, "the file is empty; expected a zip archive written by torch.save.");
            }
            if (magic[0] == 0x80) {
                fail_read(path,
                          "it is a legacy (pre-zip) torch.save archive, which is not supported; re-save it "
                          "with torch.save in PyTorch >= 1.6 (without _use_new_zipfile_serialization=False).");
            }
            fail_read(path, "it is not a PyTorch zip archive; expected a zip file starting with the bytes "
                            "50 4b 03 04 (\"PK\\x03\\x04\"), found " +
                                hex_bytes(magic, n) + ".");
        }
    }

    std::optional<detail::ZipReader> reader;
    std::string prefix;
    std::string pickle;
    try {
        reader.emplace(path);
        // torch.save puts every record in one folder named after the file
        // ("archive/data.pkl"); the folder is the first record's.
        const std::string& first = reader->records().empty() ? std::string() : reader->records().front().name;
        auto slash = first.find('/');
        if (slash == std::string::npos) {
            fail_read(path, "it is a zip file but not a torch.save archive: its records are not in a folder.");
        }
        prefix = first.substr(0, slash + 1);
        for (const detail::ZipRecord& record : reader->records()) {
            if (record.name.compare(0, prefix.size(), prefix) != 0) {
                fail_read(path, "it is a zip file but not a torch.save archive: the record '" + record.name +
                                    "' is outside the folder '" + prefix + "' that holds the others.");
            }
        }
        const detail::ZipRecord* pickle_record = reader->find(prefix + "data.pkl");
        if (pickle_record == nullptr) {
            fail_read(path, "it is a zip file but has no data.pkl record, so it is not a torch.save archive.");
        }
        if (const detail::ZipRecord* order = reader->find(prefix + "byteorder")) {
            std::string text = reader->read_string(*order);
            if (text != "little") {
                fail_read(path, "its tensors are stored in '" + text.substr(0, 32) +
                                    "' byte order; only little-endian archives are supported.");
            }
        }
        pickle = reader->read_string(*pickle_record);
    } catch (const detail::ZipError& e) {
        fail_read(path, std::string("its zip container is damaged or truncated (") + e.what() + ").");
    } catch (const std::system_error& e) {
        fail_read(path, std::string(e.what()) + ".");
    } catch (const std::bad_alloc&) {
        fail_read(path, "there is not enough memory to read its records.");
    }

    try {
        Unpickler unpickler(path, *reader, prefix, pickle.data(), pickle.size(), on_storage);
        IValue value = unpickler.run();
        if (part == ArchivePart::everything || !value.isGenericDict()) {
            unpickler.read_storages(nullptr);
            return value;
        }
        // A training checkpoint also holds optimizer state and the like: the
        // top-level entries that hold tensors, other than the model's state
        // dict, are dropped before any of their storages is read.
        c10::impl::GenericDict root = value.toGenericDict();
        std::string model_key = "model";
        if (auto it = root.find(IValue("model_key")); it != root.end() && it->value().isString()) {
            model_key = it->value().toStringRef();
        }
        auto model = root.find(IValue(model_key));
        if (model != root.end() && model->value().isGenericDict()) {
            std::vector<IValue> dropped;
            for (const auto& entry : root) {
                if (!(entry.key().isString() && entry.key().toStringRef() == model_key) && holds_tensor(entry.value())) {
                    dropped.push_back(entry.key());
                }
            }
            for (const IValue& key : dropped) {
                (void)root.erase(key);
            }
        }
        unpickler.read_storages(&value);
        return value;
    } catch (const fairseq2::Error&) {
        throw;
    } catch (const c10::Error& e) {
        fail_read(path, "a record is damaged or truncated (" + short_message(e) + ").");
    } catch (const std::bad_alloc&) {
        fail_read(path, "there is not enough memory to load it.");
    } catch (const std::exception& e) {
        fail_read(path, std::string("reading it failed (") + e.what() + ").");
    }
}

}  // namespace

c10::IValue read_torch_archive(const std::filesystem::path& path, const StorageReadCallback& on_storage) {
    return read_archive(path, on_storage, ArchivePart::everything);
}

c10::IValue read_torch_checkpoint(const std::filesystem::path& path, const StorageReadCallback& on_storage) {
    return read_archive(path, on_storage, ArchivePart::model);
}

void write_torch_archive(const std::filesystem::path& path, const c10::IValue& value) {
    // As torch::jit::pickle_save, but streaming the zip container into the
    // file instead of building it in memory: tensors are written from their
    // own storage, so saving needs no second copy of the weights.
    std::vector<char> pickle_data;
    std::vector<at::Tensor> tensors;
    try {
        torch::jit::Pickler pickler(
            [&pickle_data](const char* bytes, std::size_t size) { pickle_data.insert(pickle_data.end(), bytes, bytes + size); });
        pickler.protocol();
        pickler.pushIValue(value);
        pickler.stop();
        tensors = pickler.tensorData();
    } catch (const c10::Error& e) {
        fail_write(path, "the value cannot be pickled (" + short_message(e) + ").");
    }

    AtomicFile file(path);
    // The writer callback runs under miniz's C code, so it must not throw:
    // it records the first error, swallows what follows, and the error is
    // raised once the container is closed.
    std::optional<CheckpointError> write_error;
    try {
        caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, std::size_t size) -> std::size_t {
            if (!write_error) {
                try {
                    file.write(bytes, size);
                } catch (const CheckpointError& error) {
                    write_error = error;
                }
            }
            return size;
        });
        torch::jit::writeArchiveAndTensors("data", pickle_data.data(), pickle_data.size(), tensors, writer);
        writer.writeEndOfFile();
    } catch (const c10::Error& e) {
        fail_write(path, "the zip container cannot be written (" + short_message(e) + ").");
    }
    if (write_error) {
        throw *write_error;
    }
    file.commit();
}

namespace {

constexpr std::string_view module_prefix = "module.";

StateDict to_state_dict(const c10::impl::GenericDict& dict, const std::string& source, const std::string& where) {
    StateDict out;
    for (const auto& entry : dict) {
        const IValue& key = entry.key();
        if (!key.isString()) {
            throw CheckpointError("The state dict of checkpoint '" + source + "' (" + where + ") has the key " +
                                  key_text(key) + ", which is " + describe(key) + "; state dict keys must be strings.");
        }
        const std::string& name = key.toStringRef();
        if (!entry.value().isTensor()) {
            throw CheckpointError("The state dict of checkpoint '" + source + "' (" + where + ") holds " +
                                  describe(entry.value()) + " under the key '" + name +
                                  "'; every state dict value must be a tensor.");
        }
        std::string stripped = name;
        if (stripped.compare(0, module_prefix.size(), module_prefix) == 0) {
            stripped.erase(0, module_prefix.size());
        }
        if (!out.emplace(stripped, entry.value().toTensor()).second) {
            throw CheckpointError("The state dict of checkpoint '" + source + "' (" + where +
                                  ") has both the key '" + stripped + "' and the key 'module." + stripped +
                                  "', which are the same once the DDP prefix 'module.' is removed.");
        }
    }
    return out;
}

}  // namespace

StateDict extract_state_dict(const c10::IValue& checkpoint, const std::string& source) {
    if (!checkpoint.isGenericDict()) {
        throw CheckpointError("The checkpoint '" + source + "' is " + describe(checkpoint) +
                              ", not a dict, so it holds no model state dict.");
    }
    c10::impl::GenericDict root = checkpoint.toGenericDict();

    std::string model_key = "model";
    if (auto it = root.find(IValue("model_key")); it != root.end()) {
        if (!it->value().isString()) {
            throw CheckpointError("The checkpoint '" + source + "' has a 'model_key' entry that is " +
                                  describe(it->value()) + "; expected the string key of its model state dict.");
        }
        model_key = it->value().toStringRef();
    }

    if (auto it = root.find(IValue(model_key)); it != root.end() && it->value().isGenericDict()) {
        return to_state_dict(it->value().toGenericDict(), source, "its '" + model_key + "' entry");
    }

    for (const auto& entry : root) {
        if (!entry.value().isTensor()) {
            throw CheckpointError("The checkpoint '" + source + "' holds no model state dict: it has no dict under '" +
                                  model_key + "', and it is not itself a dict of tensors (it holds " +
                                  describe(entry.value()) + " under the key " + key_text(entry.key()) + ").");
        }
    }
    return to_state_dict(root, source, "the checkpoint itself");
}

namespace {

// JSON as the plain values a pickle holds: objects become dicts with string
// keys, arrays lists.
IValue json_to_ivalue(const boost::json::value& value) {
    switch (value.kind()) {
        case boost::json::kind::null:
            return IValue();
        case boost::json::kind::bool_:
            return IValue(value.get_bool());
        case boost::json::kind::int64:
            return IValue(value.get_int64());
        case boost::json::kind::uint64:
            return IValue(static_cast<std::int64_t>(value.get_uint64()));
        case boost::json::kind::double_:
            return IValue(value.get_double());
        case boost::json::kind::string:
            return IValue(std::string(value.get_string()));
        case boost::json::kind::array: {
            c10::impl::GenericList list(c10::AnyType::get());
            for (const auto& item : value.get_array()) {
                list.push_back(json_to_ivalue(item));
            }
            return IValue(std::move(list));
        }
        case boost::json::kind::object: {
            c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
            for (const auto& [key, item] : value.get_object()) {
                dict.insert(IValue(std::string(key)), json_to_ivalue(item));
            }
            return IValue(std::move(dict));
        }
    }
    return IValue();
}

boost::json::value ivalue_to_json(const IValue& value, const std::string& source, const std::string& where) {
    if (value.isNone()) {
        return nullptr;
    }
    if (value.isBool()) {
        return value.toBool();
    }
    if (value.isInt()) {
        return value.toInt();
    }
    if (value.isDouble()) {
        return value.toDouble();
    }
    if (value.isString()) {
        return boost::json::string(value.toStringRef());
    }
    if (value.isList() || value.isTuple()) {
        boost::json::array array;
        std::vector<IValue> items = value.isList() ? value.toList().vec() : value.toTupleRef().elements().vec();
        for (std::size_t i = 0; i < items.size(); ++i) {
            array.push_back(ivalue_to_json(items[i], source, where + "[" + std::to_string(i) + "]"));
        }
        return array;
    }
    if (value.isGenericDict()) {
        boost::json::object object;
        for (const auto& entry : value.toGenericDict()) {
            if (!entry.key().isString()) {
                throw CheckpointError("The checkpoint '" + source + "' has a non-string key " + key_text(entry.key()) + " in its " + where +
                                      "; a model config has string keys only.");
            }
            const std::string& key = entry.key().toStringRef();
            object[key] = ivalue_to_json(entry.value(), source, where + "." + key);
        }
        return object;
    }
    throw CheckpointError("The checkpoint '" + source + "' holds " + describe(value) + " in its " + where +
                          "; a model config holds only dicts, lists, strings, numbers, booleans and None.");
}

}  // namespace

namespace {

// JSON of a value without tensors; nullopt for what JSON cannot hold.
std::optional<boost::json::value> lenient_json(const IValue& value) {
    if (value.isNone()) {
        return boost::json::value(nullptr);
    }
    if (value.isBool()) {
        return boost::json::value(value.toBool());
    }
    if (value.isInt()) {
        return boost::json::value(value.toInt());
    }
    if (value.isDouble()) {
        return boost::json::value(value.toDouble());
    }
    if (value.isString()) {
        return boost::json::value(boost::json::string(value.toStringRef()));
    }
    if (value.isList() || value.isTuple()) {
        boost::json::array array;
        std::vector<IValue> items = value.isList() ? value.toList().vec() : value.toTupleRef().elements().vec();
        for (const IValue& item : items) {
            std::optional<boost::json::value> converted = lenient_json(item);
            array.push_back(converted ? std::move(*converted) : boost::json::value(nullptr));
        }
        return boost::json::value(std::move(array));
    }
    if (value.isGenericDict()) {
        boost::json::object object;
        for (const auto& entry : value.toGenericDict()) {
            std::string key;
            if (entry.key().isString()) {
                key = entry.key().toStringRef();
            } else if (entry.key().isInt()) {
                key = std::to_string(entry.key().toInt());
            } else {
                continue;
            }
            if (std::optional<boost::json::value> converted = lenient_json(entry.value())) {
                object[key] = std::move(*converted);
            }
        }
        return boost::json::value(std::move(object));
    }
    return std::nullopt;
}

}  // namespace

boost::json::object checkpoint_extras(const c10::IValue& checkpoint) {
    boost::json::object extras;
    if (!checkpoint.isGenericDict()) {
        return extras;
    }
    for (const auto& entry : checkpoint.toGenericDict()) {
        if (!entry.key().isString() || holds_tensor(entry.value())) {
            continue;
        }
        if (std::optional<boost::json::value> converted = lenient_json(entry.value())) {
            extras[entry.key().toStringRef()] = std::move(*converted);
        }
    }
    return extras;
}

bool has_fairseq2_marker(const c10::IValue& checkpoint) {
    if (!checkpoint.isGenericDict()) {
        return false;
    }
    c10::impl::GenericDict root = checkpoint.toGenericDict();
    return root.find(IValue("fs2")) != root.end();
}

std::optional<ModelMetadata> extract_model_metadata(const c10::IValue& checkpoint, const std::string& source) {
    if (!checkpoint.isGenericDict()) {
        return std::nullopt;
    }
    c10::impl::GenericDict root = checkpoint.toGenericDict();
    auto family = root.find(IValue("model_family"));
    auto config = root.find(IValue("model_config"));
    if (family == root.end() || config == root.end()) {
        return std::nullopt;
    }
    if (!family->value().isString()) {
        throw CheckpointError("The checkpoint '" + source + "' has a 'model_family' entry that is " + describe(family->value()) +
                              "; expected the family name as a string.");
    }
    if (!config->value().isGenericDict()) {
        throw CheckpointError("The checkpoint '" + source + "' has a 'model_config' entry that is " + describe(config->value()) +
                              "; expected the model config as a dict.");
    }
    return ModelMetadata{family->value().toStringRef(), ivalue_to_json(config->value(), source, "'model_config'")};
}

void save_fairseq2_checkpoint(const std::filesystem::path& path, const StateDict& state_dict,
                              const std::optional<ModelMetadata>& model_metadata) {
    c10::Dict<std::string, at::Tensor> model;
    // Tensors viewing part of a larger storage (packed weights, slices) are
    // written as their own bytes through a storage over just their memory,
    // without a copy; entries over the same memory (tied weights) share one
    // such storage, so the archive holds them once, as torch.save writes
    // them. The state dict keeps the memory alive until the file is written.
    std::map<std::tuple<const void*, std::size_t, c10::ScalarType>, at::Tensor> views;
    for (const auto& [name, tensor] : state_dict) {
        if (!tensor.defined()) {
            fail_write(path, "the state dict entry '" + name + "' is an undefined tensor.");
        }
        if (tensor.layout() != at::kStrided) {
            fail_write(path, "the state dict entry '" + name + "' is not a dense (strided) tensor.");
        }
        at::Tensor t = tensor.detach();
        if (!t.device().is_cpu()) {
            t = t.cpu();
        }
        t = t.contiguous();
        // A view of a larger storage would drag the whole storage along.
        const auto bytes = static_cast<std::size_t>(t.numel()) * t.element_size();
        if (t.numel() > 0 && (t.storage_offset() != 0 || t.storage().nbytes() != bytes)) {
            auto [it, inserted] = views.try_emplace({t.data_ptr(), bytes, t.scalar_type()});
            if (inserted)
                it->second = at::from_blob(t.data_ptr(), {t.numel()}, t.options());
            t = it->second.view(t.sizes());
        }
        model.insert(name, std::move(t));
    }

    c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
    root.insert(IValue("model"), IValue(std::move(model)));
    root.insert(IValue("model_key"), IValue("model"));
    root.insert(IValue("fs2"), IValue(true));
    if (model_metadata) {
        root.insert(IValue("model_family"), IValue(model_metadata->family));
        root.insert(IValue("model_config"), json_to_ivalue(model_metadata->config));
    }
    write_torch_archive(path, IValue(std::move(root)));
}

}  // namespace fairseq2::checkpoint

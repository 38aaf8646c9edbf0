// Parsing and validation of safetensors headers. This file must not include
// LibTorch: the fuzzer (tests/fuzz) compiles it with only Boost.JSON.

#include "fairseq2/checkpoint/safetensors_header.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"

namespace fairseq2::checkpoint {

namespace {

struct DtypeInfo {
    SafetensorsDtype dtype;
    std::string_view name;
    std::size_t size;
};

constexpr std::array<DtypeInfo, 10> dtypes{{
    {SafetensorsDtype::f64, "F64", 8},
    {SafetensorsDtype::f32, "F32", 4},
    {SafetensorsDtype::f16, "F16", 2},
    {SafetensorsDtype::bf16, "BF16", 2},
    {SafetensorsDtype::i64, "I64", 8},
    {SafetensorsDtype::i32, "I32", 4},
    {SafetensorsDtype::i16, "I16", 2},
    {SafetensorsDtype::i8, "I8", 1},
    {SafetensorsDtype::u8, "U8", 1},
    {SafetensorsDtype::boolean, "BOOL", 1},
}};

const DtypeInfo& info(SafetensorsDtype dtype)
{
    for (const auto& item : dtypes)
        if (item.dtype == dtype)
            return item;
    return dtypes[1];
}

// Built by appending: GCC 12 warns falsely (-Wstringop-overflow) on
// `"literal" + std::string` here.
std::string quoted(std::string_view text)
{
    std::string out = "'";
    out += text;
    out += '\'';
    return out;
}

// The JSON text of `value`, shortened for messages.
std::string json_text(const boost::json::value& value)
{
    std::string text = boost::json::serialize(value);
    if (text.size() > 80)
        text = text.substr(0, 77) + "...";
    return text;
}

std::string kind_of(const boost::json::value& value)
{
    switch (value.kind()) {
        case boost::json::kind::null:
            return "null";
        case boost::json::kind::bool_:
            return "a boolean";
        case boost::json::kind::int64:
        case boost::json::kind::uint64:
            return "an integer";
        case boost::json::kind::double_:
            return "a number";
        case boost::json::kind::string:
            return "a string";
        case boost::json::kind::array:
            return "a list";
        case boost::json::kind::object:
            return "an object";
    }
    return "a value";
}

std::string range_text(std::uint64_t begin, std::uint64_t end)
{
    std::string out = "[";
    out += std::to_string(begin);
    out += ", ";
    out += std::to_string(end);
    out += ']';
    return out;
}

std::string shape_text(const std::vector<std::int64_t>& shape)
{
    std::string text = "(";
    for (std::size_t i = 0; i < shape.size(); ++i)
        text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
    return text + (shape.size() == 1 ? ",)" : ")");
}

// A non-negative integer that fits in int64, or nothing.
bool as_count(const boost::json::value& value, std::uint64_t& out)
{
    if (value.is_int64()) {
        if (value.get_int64() < 0)
            return false;
        out = static_cast<std::uint64_t>(value.get_int64());
        return true;
    }
    if (value.is_uint64() && value.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        out = value.get_uint64();
        return true;
    }
    return false;
}

class HeaderParser {
public:
    HeaderParser(std::uint64_t file_size, const std::string& source) : file_size_{file_size}, source_{source} {}

    SafetensorsHeader parse(std::string_view bytes)
    {
        if (file_size_ < 8 || bytes.size() < 8)
            fail("is truncated: it has " + std::to_string(std::min<std::uint64_t>(file_size_, bytes.size())) +
                 " bytes, fewer than the 8 bytes of its header length");
        std::uint64_t length = 0;
        for (int i = 7; i >= 0; --i)
            length = (length << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
        if (length > max_safetensors_header_length)
            fail("declares a header of " + std::to_string(length) + " bytes, more than the limit of " +
                 std::to_string(max_safetensors_header_length) + " bytes; it is damaged or not a safetensors file");
        if (length > file_size_ - 8)
            fail("declares a header of " + std::to_string(length) + " bytes, but only " + std::to_string(file_size_ - 8) +
                 " bytes follow its length field; it is truncated or damaged");
        if (bytes.size() - 8 < length)
            fail("is truncated: its header needs " + std::to_string(length) + " bytes, but only " + std::to_string(bytes.size() - 8) +
                 " could be read");

        SafetensorsHeader header;
        header.data_offset = 8 + length;
        data_size_ = file_size_ - header.data_offset;

        boost::json::value root = parse_json(bytes.substr(8, static_cast<std::size_t>(length)));
        if (!root.is_object())
            fail("has a header that is " + kind_of(root) + ", not a JSON object");

        for (const auto& [key, value] : root.get_object()) {
            if (key == "__metadata__")
                header.metadata = parse_metadata(value);
            else
                header.entries.push_back(parse_entry(std::string(key), value));
        }

        std::sort(header.entries.begin(), header.entries.end(),
                  [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return std::pair(a.begin, a.end) < std::pair(b.begin, b.end); });
        check_overlaps(header.entries);
        return header;
    }

private:
    [[noreturn]] void fail(const std::string& reason) const
    {
        throw CheckpointError("The safetensors file '" + source_ + "' " + reason + ".");
    }

    [[noreturn]] void fail_tensor(const std::string& name, const std::string& reason) const
    {
        throw CheckpointError("The tensor '" + name + "' of the safetensors file '" + source_ + "' " + reason + ".");
    }

    boost::json::value parse_json(std::string_view text) const
    {
        boost::json::parser parser;
        boost::system::error_code error;
        std::size_t consumed = parser.write(text.data(), text.size(), error);
        if (error)
            fail("has a header that is not valid JSON: " + error.message() + " at byte " + std::to_string(consumed) + " of the header");
        return parser.release();
    }

    std::map<std::string, std::string> parse_metadata(const boost::json::value& value) const
    {
        if (!value.is_object())
            fail("has a __metadata__ that is " + kind_of(value) + "; expected an object mapping strings to strings");
        std::map<std::string, std::string> metadata;
        for (const auto& [key, item] : value.get_object()) {
            if (!item.is_string())
                fail("has a __metadata__ entry '" + std::string(key) + "' that is " + kind_of(item) + "; metadata values must be strings");
            metadata.emplace(std::string(key), std::string(item.get_string()));
        }
        return metadata;
    }

    SafetensorsEntry parse_entry(std::string name, const boost::json::value& value) const
    {
        if (!value.is_object())
            fail_tensor(name, "is described by " + kind_of(value) + "; expected an object with dtype, shape and data_offsets");
        const boost::json::object& object = value.get_object();
        SafetensorsEntry entry;
        entry.name = std::move(name);
        auto field = [&](const char* key) -> const boost::json::value& {
            const boost::json::value* found = object.if_contains(key);
            if (found == nullptr)
                fail_tensor(entry.name, std::string("has no '") + key + "' field");
            return *found;
        };

        const boost::json::value& dtype = field("dtype");
        if (!dtype.is_string())
            fail_tensor(entry.name, "has a dtype that is " + kind_of(dtype) + "; expected a string such as \"F32\"");
        const DtypeInfo* dtype_info = nullptr;
        for (const auto& item : dtypes)
            if (item.name == dtype.get_string())
                dtype_info = &item;
        if (dtype_info == nullptr) {
            std::string known;
            for (const auto& item : dtypes)
                known += (known.empty() ? "" : ", ") + std::string(item.name);
            fail_tensor(entry.name, "has the dtype " + quoted(dtype.get_string()) + ", which is not supported; expected one of " + known);
        }
        entry.dtype = dtype_info->dtype;

        const boost::json::value& shape = field("shape");
        if (!shape.is_array())
            fail_tensor(entry.name, "has a shape that is " + kind_of(shape) + "; expected a list of non-negative integers");
        std::uint64_t elements = 1;
        bool overflow = false;
        for (const auto& dim : shape.get_array()) {
            std::uint64_t size = 0;
            if (!as_count(dim, size))
                fail_tensor(entry.name, "has the shape " + json_text(shape) + "; expected a list of non-negative integers");
            entry.shape.push_back(static_cast<std::int64_t>(size));
            if (size != 0 && elements > std::numeric_limits<std::uint64_t>::max() / size)
                overflow = true;
            elements *= size;
        }

        const boost::json::value& offsets = field("data_offsets");
        const boost::json::array* pair = offsets.if_array();
        if (pair == nullptr || pair->size() != 2 || !as_count((*pair)[0], entry.begin) || !as_count((*pair)[1], entry.end) ||
            entry.begin > entry.end)
            fail_tensor(entry.name, "has the data_offsets " + json_text(offsets) + "; expected [begin, end] with 0 <= begin <= end");
        if (entry.end > data_size_)
            fail_tensor(entry.name, "has the data_offsets " + range_text(entry.begin, entry.end) + ", which end past its data area of " +
                                        std::to_string(data_size_) + " bytes");

        const std::uint64_t bytes = entry.end - entry.begin;
        const bool any_zero = std::find(entry.shape.begin(), entry.shape.end(), 0) != entry.shape.end();
        if (!any_zero && (overflow || elements > std::numeric_limits<std::uint64_t>::max() / dtype_info->size))
            fail_tensor(entry.name, "has the shape " + shape_text(entry.shape) + ", whose size in bytes does not fit in 64 bits");
        const std::uint64_t expected = any_zero ? 0 : elements * dtype_info->size;
        if (bytes != expected)
            fail_tensor(entry.name, "has the data_offsets " + range_text(entry.begin, entry.end) + " (" + std::to_string(bytes) +
                                        " bytes), but its shape " + shape_text(entry.shape) + " and dtype " + std::string(dtype_info->name) +
                                        " need " + std::to_string(expected) + " bytes");
        return entry;
    }

    // `entries` sorted by begin.
    void check_overlaps(const std::vector<SafetensorsEntry>& entries) const
    {
        const SafetensorsEntry* furthest = nullptr;
        for (const auto& entry : entries) {
            if (entry.begin == entry.end)
                continue;
            if (furthest != nullptr && entry.begin < furthest->end)
                throw CheckpointError("The tensors '" + furthest->name + "' and '" + entry.name + "' of the safetensors file '" + source_ +
                                      "' overlap: their data_offsets are " + range_text(furthest->begin, furthest->end) + " and " +
                                      range_text(entry.begin, entry.end) + ".");
            if (furthest == nullptr || entry.end > furthest->end)
                furthest = &entry;
        }
    }

    std::uint64_t file_size_;
    const std::string& source_;
    std::uint64_t data_size_ = 0;
};

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDtype dtype)
{
    return info(dtype).name;
}

std::size_t safetensors_dtype_size(SafetensorsDtype dtype)
{
    return info(dtype).size;
}

SafetensorsHeader parse_safetensors_header(std::string_view bytes, std::uint64_t file_size, const std::string& source)
{
    return HeaderParser(file_size, source).parse(bytes);
}

}  // namespace fairseq2::checkpoint

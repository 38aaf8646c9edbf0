#pragma once

// Conversion of configs to and from JSON by reflection (Boost.Describe).
//
// to_json(config) unstructures a described struct into a JSON object tree.
// from_json<Config>(value) structures it back strictly: unknown keys, values
// of the wrong type and missing fields throw fairseq2::ConfigError naming the
// field path ("vocab_info.size") and, for unknown keys, the valid ones. When
// the type has a `validate()` member, structure_config() runs it afterwards.
//
// Supported members: bool, integers, floating point, std::string,
// std::optional, std::vector, std::array, described enums (by member name)
// and nested described structs.

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>

#include "fairseq2/error.hpp"

namespace fairseq2::config {

namespace detail {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

template <typename T>
struct IsArray : std::false_type {};
template <typename T, std::size_t N>
struct IsArray<std::array<T, N>> : std::true_type {};

template <typename T>
constexpr bool is_described_struct = boost::describe::has_describe_members<T>::value;

template <typename T>
constexpr bool is_described_enum = boost::describe::has_describe_enumerators<T>::value;

// "model_dim", "vocab_info.size", "layers[2]"; the root is "config".
FAIRSEQ2_API std::string join_path(const std::string& parent, const std::string& name);
FAIRSEQ2_API std::string describe_path(const std::string& path);

// "an integer", "a string (\"abc\")", ... for messages.
FAIRSEQ2_API std::string describe_value(const boost::json::value& value);

[[noreturn]] FAIRSEQ2_API void throw_type_error(const std::string& path, const char* expected, const boost::json::value& found);

[[noreturn]] FAIRSEQ2_API void throw_unknown_keys(
    const std::string& path, const std::vector<std::string>& unknown, const std::vector<std::string>& valid);

[[noreturn]] FAIRSEQ2_API void throw_missing_field(const std::string& path);

template <typename T>
std::vector<std::string> member_names()
{
    std::vector<std::string> names;
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>(
        [&](auto member) { names.emplace_back(member.name); });
    return names;
}

template <typename E>
std::vector<std::string> enumerator_names()
{
    std::vector<std::string> names;
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>(
        [&](auto enumerator) { names.emplace_back(enumerator.name); });
    return names;
}

}  // namespace detail

template <typename T>
boost::json::value to_json(const T& value)
{
    if constexpr (std::is_same_v<T, bool>) {
        return boost::json::value(value);
    } else if constexpr (std::is_integral_v<T>) {
        return boost::json::value(static_cast<std::int64_t>(value));
    } else if constexpr (std::is_floating_point_v<T>) {
        return boost::json::value(static_cast<double>(value));
    } else if constexpr (std::is_same_v<T, std::string>) {
        return boost::json::value(value);
    } else if constexpr (detail::IsOptional<T>::value) {
        if (!value)
            return boost::json::value(nullptr);
        return to_json(*value);
    } else if constexpr (detail::IsVector<T>::value || detail::IsArray<T>::value) {
        boost::json::array array;
        for (const auto& item : value)
            array.push_back(to_json(item));
        return array;
    } else if constexpr (detail::is_described_enum<T>) {
        const char* name = boost::describe::enum_to_string(value, nullptr);
        if (name == nullptr)
            throw ConfigError("An enum value (" + std::to_string(static_cast<long long>(value)) + ") has no name.");
        return boost::json::value(name);
    } else if constexpr (detail::is_described_struct<T>) {
        boost::json::object object;
        boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>(
            [&](auto member) { object[member.name] = to_json(value.*member.pointer); });
        return object;
    } else {
        static_assert(sizeof(T) == 0, "fairseq2::config::to_json: unsupported member type");
    }
}

template <typename T>
T from_json(const boost::json::value& json, const std::string& path = "")
{
    if constexpr (std::is_same_v<T, bool>) {
        if (!json.is_bool())
            detail::throw_type_error(path, "a boolean", json);
        return json.get_bool();
    } else if constexpr (std::is_integral_v<T>) {
        std::int64_t v = 0;
        if (json.is_int64())
            v = json.get_int64();
        else if (json.is_uint64() && json.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            v = static_cast<std::int64_t>(json.get_uint64());
        else
            detail::throw_type_error(path, "an integer", json);
        if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
            (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
            detail::throw_type_error(path, "an integer in range", json);
        return static_cast<T>(v);
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!json.is_number())
            detail::throw_type_error(path, "a number", json);
        return static_cast<T>(json.to_number<double>());
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!json.is_string())
            detail::throw_type_error(path, "a string", json);
        return std::string(json.get_string());
    } else if constexpr (detail::IsOptional<T>::value) {
        if (json.is_null())
            return std::nullopt;
        return from_json<typename T::value_type>(json, path);
    } else if constexpr (detail::IsVector<T>::value) {
        if (!json.is_array())
            detail::throw_type_error(path, "an array", json);
        T result;
        const auto& array = json.get_array();
        for (std::size_t i = 0; i < array.size(); ++i)
            result.push_back(from_json<typename T::value_type>(array[i], path + "[" + std::to_string(i) + "]"));
        return result;
    } else if constexpr (detail::IsArray<T>::value) {
        T result{};
        if (!json.is_array() || json.get_array().size() != result.size())
            detail::throw_type_error(path, ("an array of " + std::to_string(result.size()) + " elements").c_str(), json);
        const auto& array = json.get_array();
        for (std::size_t i = 0; i < result.size(); ++i)
            result[i] = from_json<typename T::value_type>(array[i], path + "[" + std::to_string(i) + "]");
        return result;
    } else if constexpr (detail::is_described_enum<T>) {
        if (json.is_string()) {
            T result{};
            std::string name(json.get_string());
            if (boost::describe::enum_from_string(name.c_str(), result))
                return result;
        }
        std::string expected = "one of";
        for (const auto& name : detail::enumerator_names<T>())
            expected += " '" + name + "'";
        detail::throw_type_error(path, expected.c_str(), json);
    } else if constexpr (detail::is_described_struct<T>) {
        if (!json.is_object())
            detail::throw_type_error(path, "an object", json);
        const auto& object = json.get_object();
        const auto valid = detail::member_names<T>();
        std::vector<std::string> unknown;
        for (const auto& item : object) {
            std::string key(item.key());
            if (std::find(valid.begin(), valid.end(), key) == valid.end())
                unknown.push_back(key);
        }
        if (!unknown.empty()) {
            std::sort(unknown.begin(), unknown.end());
            detail::throw_unknown_keys(path, unknown, valid);
        }
        T result{};
        boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto member) {
            std::string field = detail::join_path(path, member.name);
            const auto* item = object.if_contains(member.name);
            if (item == nullptr)
                detail::throw_missing_field(field);
            using Member = std::remove_cvref_t<decltype(result.*member.pointer)>;
            result.*member.pointer = from_json<Member>(*item, field);
        });
        return result;
    } else {
        static_assert(sizeof(T) == 0, "fairseq2::config::from_json: unsupported member type");
    }
}

template <typename T>
concept Validatable = requires(const T& config) { config.validate(); };

// from_json followed by the config's own validate(), when it has one.
template <typename T>
T structure_config(const boost::json::value& json)
{
    T config = from_json<T>(json);
    if constexpr (Validatable<T>)
        config.validate();
    return config;
}

}  // namespace fairseq2::config

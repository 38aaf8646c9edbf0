#pragma once

// Typed access to the fields of a JSON object read from a file that
// describes a checkpoint (config.json, params.json); every problem is a
// ConfigError naming the file and the field.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

namespace fairseq2::models::llama {

class JsonFields {
public:
    // Throws ConfigError when `json` is not an object.
    JsonFields(const boost::json::value& json, std::filesystem::path file);

    bool has(const char* key) const;

    // A field that must be there, or nullopt when absent or null.
    std::int64_t required_int(const char* key) const;
    std::optional<std::int64_t> optional_int(const char* key) const;
    std::optional<double> optional_double(const char* key) const;
    std::optional<bool> optional_bool(const char* key) const;
    std::optional<std::string> optional_string(const char* key) const;
    // The field itself, or nullptr when absent.
    const boost::json::value* find(const char* key) const;

    // Throws ConfigError: "The field 'KEY' of 'FILE' REASON."
    [[noreturn]] void fail(const std::string& key, const std::string& reason) const;

    const std::filesystem::path& file() const noexcept { return file_; }

private:
    const boost::json::object* object_;
    std::filesystem::path file_;
};

}  // namespace fairseq2::models::llama

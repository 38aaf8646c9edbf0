#pragma once

// Overrides of unstructured configs: `--set a.b=value` on the command line
// and the `model_config` of asset cards merge into a preset's JSON tree
// before it is structured again.

#include <string>
#include <string_view>
#include <utility>

#include <boost/json/value.hpp>

#include "fairseq2/version.hpp"

namespace fairseq2::config {

// Splits "KEY=VALUE"; VALUE is parsed as JSON when it is valid JSON and is
// a string otherwise ("model_dim=64" -> 64, "name=abc" -> "abc"). Throws
// ConfigError when there is no '=' or the key is empty.
FAIRSEQ2_API std::pair<std::string, boost::json::value> parse_assignment(std::string_view text);

// Sets the leaf at dotted `path` of `tree` to `value`. Every segment must
// name an existing key, so a typo is a ConfigError that lists the valid keys
// at that level; a nested object replaced by a non-object is an error too.
FAIRSEQ2_API void set_path(boost::json::value& tree, std::string_view path, boost::json::value value);

// Merges `overrides` into `tree` recursively: objects merge key by key, any
// other value replaces the leaf. Keys must exist in `tree`. The fairseq2 v0.4
// directives are understood: {"_set_": {...}} sets keys, {"_del_": [...]}
// removes them and {"_add_": {...}} adds keys that did not exist.
FAIRSEQ2_API void merge_overrides(boost::json::value& tree, const boost::json::value& overrides, const std::string& path = "");

}  // namespace fairseq2::config

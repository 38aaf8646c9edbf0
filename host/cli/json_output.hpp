#pragma once

// JSON text for the CLI's output: keys in their stored order, doubles in
// their shortest round-trip form (0.1, not 1E-1).

#include <string>

#include <boost/json/value.hpp>

namespace fairseq2::cli {

// Indented by two spaces, for people.
std::string pretty_json(const boost::json::value& value);

// One line, for programs.
std::string compact_json(const boost::json::value& value);

}  // namespace fairseq2::cli

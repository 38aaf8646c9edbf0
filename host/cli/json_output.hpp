#pragma once

// JSON text for people: indented by two spaces, keys in their stored order.

#include <string>

#include <boost/json/value.hpp>

namespace fairseq2::cli {

std::string pretty_json(const boost::json::value& value);

}  // namespace fairseq2::cli

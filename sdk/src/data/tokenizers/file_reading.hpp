#pragma once

// Reading tokenizer files with errors that name them (internal).

#include <filesystem>
#include <string>

#include <boost/json/value.hpp>

namespace fairseq2::tokenizers::detail {

// The whole file; throws TokenizerError naming it when it cannot be read.
std::string read_file(const std::filesystem::path& file);

// The file parsed as JSON; throws TokenizerError naming it and the parser's message.
boost::json::value read_json(const std::filesystem::path& file);

}  // namespace fairseq2::tokenizers::detail

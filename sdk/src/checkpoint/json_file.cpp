#include "fairseq2/checkpoint/json_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "fairseq2/error.hpp"

namespace fairseq2::checkpoint {

boost::json::value read_json_file(const std::filesystem::path& path)
{
    std::ifstream file(path, std::ios::binary);
    if (!file)
        throw CheckpointError("The file '" + path.string() + "' cannot be opened (" + std::strerror(errno) + ").");
    std::ostringstream buffer;
    buffer << file.rdbuf();
    const std::string text = buffer.str();

    boost::json::parser parser;
    boost::system::error_code error;
    const std::size_t consumed = parser.write(text.data(), text.size(), error);
    if (error) {
        std::size_t line = 1;
        std::size_t column = 1;
        for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
            if (text[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        throw CheckpointError("The file '" + path.string() + "' is not valid JSON: " + error.message() + " at line " + std::to_string(line) +
                              ", column " + std::to_string(column) + ".");
    }
    return parser.release();
}

}  // namespace fairseq2::checkpoint

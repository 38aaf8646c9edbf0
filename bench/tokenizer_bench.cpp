// Encoding speed of the SDK's tokenizers: encodes every line of a text file
// with each tokenizer given and prints one JSON line per tokenizer with
// MB/s (the best of `rounds` passes) and the number of ids.
//
//   fairseq2_tokenizer_bench TEXT_FILE ROUNDS NAME=PATH[@FAMILY_DEFAULTS] ...
//
// Used by tokenizer_bench.sh, which runs the references on the same files.

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fairseq2/data/tokenizers/tokenizer_loaders.hpp"

using namespace fairseq2::tokenizers;

int main(int argc, char** argv)
{
    if (argc < 4) {
        std::cerr << "usage: fairseq2_tokenizer_bench TEXT_FILE ROUNDS NAME=PATH[:tiktoken-llama3] ...\n";
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::vector<std::string> lines;
    std::size_t bytes = 0;
    for (std::string line; std::getline(in, line);) {
        bytes += line.size();
        lines.push_back(std::move(line));
    }
    const int rounds = std::stoi(argv[2]);
    for (int a = 3; a < argc; ++a) {
        std::string spec = argv[a];
        auto eq = spec.find('=');
        std::string name = spec.substr(0, eq);
        std::string path = spec.substr(eq + 1);
        TokenizerDefaults d;
        if (auto colon = path.find(":tiktoken-llama3"); colon != std::string::npos) {
            path = path.substr(0, colon);
            d.split_regex =
                R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
            for (int i = 0; i < 256; ++i)
                d.special_tokens.push_back("<|special_" + std::to_string(i) + "|>");
        }
        auto tok = load_tokenizer(path, d);
        double best = 1e30;
        std::size_t ids = 0;
        for (int r = 0; r < rounds; ++r) {
            // The first pass fills the word cache; the best pass is a warm
            // one, as it is for the references, which cache words too.
            auto start = std::chrono::steady_clock::now();
            std::size_t n = 0;
            for (const auto& line : lines)
                n += tok->encode(line, EncodeMode::as_is).size();
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            best = std::min(best, s);
            ids = n;
        }
        std::cout << "{\"impl\":\"fairseq2\",\"name\":\"" << name << "\",\"mb_per_s\":" << (static_cast<double>(bytes) / 1e6 / best)
                  << ",\"ids\":" << ids << ",\"bytes\":" << bytes << "}\n";
    }
    return 0;
}

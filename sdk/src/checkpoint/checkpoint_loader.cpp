#include "fairseq2/checkpoint/checkpoint_loader.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <boost/json.hpp>

#include "fairseq2/checkpoint/json_file.hpp"
#include "fairseq2/checkpoint/load_progress.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "../runtime/weight_allocations.hpp"

namespace fairseq2::checkpoint {

namespace {

namespace fs = std::filesystem;

enum class FileFormat { safetensors, torch_archive };

// The files of one checkpoint (each read by the format its content shows).
struct Plan {
    std::vector<fs::path> files;
    // For a sharded checkpoint: its index, and the shard it gives each key.
    std::optional<fs::path> index;
    std::map<std::string, std::string> weight_map;
};

std::string lowercase_extension(const fs::path& path)
{
    std::string extension = path.extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return extension;
}

bool is_torch_extension(const std::string& extension)
{
    return extension == ".pt" || extension == ".pth" || extension == ".bin";
}

std::string hex_bytes(const std::string& bytes)
{
    static const char* digits = "0123456789abcdef";
    std::string text;
    for (unsigned char byte : bytes) {
        if (!text.empty())
            text += ' ';
        text += digits[byte >> 4];
        text += digits[byte & 0xF];
    }
    return text;
}

FileFormat detect_format(const fs::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw CheckpointError("The checkpoint '" + file.string() + "' cannot be opened.");
    std::string head(16, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    std::error_code error;
    const std::uint64_t size = fs::file_size(file, error);

    // Safetensors first: its length field may start with any byte, 0x80
    // included, but it must be plausible and followed by '{'.
    if (looks_like_safetensors(head, size))
        return FileFormat::safetensors;
    if (head.starts_with("PK\x03\x04") || (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80))
        return FileFormat::torch_archive;  // the reader tells zip from legacy pickle
    // Damaged files: the name says which reader explains the damage best.
    const std::string extension = lowercase_extension(file);
    if (extension == ".safetensors")
        return FileFormat::safetensors;
    if (is_torch_extension(extension))
        return FileFormat::torch_archive;
    throw CheckpointError("The checkpoint '" + file.string() +
                          "' is neither a safetensors file nor a PyTorch zip archive: it starts with the bytes " +
                          (head.empty() ? std::string("(none, it is empty)") : hex_bytes(head.substr(0, 8))) +
                          ", but a safetensors file starts with an 8-byte header length and '{', and a torch.save archive with "
                          "50 4b 03 04 (\"PK\\x03\\x04\").");
}

Plan plan_from_index(const fs::path& index)
{
    Plan plan;
    plan.index = index;

    boost::json::value json = read_json_file(index);
    const boost::json::object* root = json.if_object();
    const boost::json::value* weight_map = root != nullptr ? root->if_contains("weight_map") : nullptr;
    if (weight_map == nullptr || !weight_map->is_object())
        throw CheckpointError("The shard index '" + index.string() +
                              "' has no \"weight_map\" object; expected {\"weight_map\": {\"KEY\": \"SHARD FILE\", ...}}.");

    const fs::path dir = index.parent_path();
    std::set<std::string> shards;
    for (const auto& [key, value] : weight_map->get_object()) {
        if (!value.is_string())
            throw CheckpointError("The shard index '" + index.string() + "' maps the key '" + std::string(key) + "' to " +
                                  boost::json::serialize(value) + "; expected the file name of a shard.");
        std::string shard(value.get_string());
        if (shard.empty() || shard == "." || shard == ".." || fs::path(shard).filename().string() != shard)
            throw CheckpointError("The shard index '" + index.string() + "' names the shard '" + shard +
                                  "', which is not a file name in the index's folder.");
        shards.insert(shard);
        plan.weight_map.emplace(std::string(key), std::move(shard));
    }
    if (shards.empty())
        throw CheckpointError("The shard index '" + index.string() + "' names no shard: its \"weight_map\" is empty.");
    for (const auto& shard : shards) {
        fs::path file = dir / shard;
        std::error_code error;
        if (!fs::is_regular_file(file, error))
            throw CheckpointError("The shard index '" + index.string() + "' names the shard '" + shard + "', which does not exist in '" +
                                  dir.string() + "'.");
        plan.files.push_back(std::move(file));
    }
    return plan;
}

Plan plan_from_directory(const fs::path& dir)
{
    for (const char* name : {"model.safetensors.index.json", "pytorch_model.bin.index.json"})
        if (fs::is_regular_file(dir / name))
            return plan_from_index(dir / name);

    std::vector<fs::path> safetensors;
    std::vector<fs::path> consolidated;
    std::vector<fs::path> archives;
    static const std::regex consolidated_name(R"(consolidated\.[0-9]+\.pth)");
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file())
            continue;
        const fs::path& file = entry.path();
        const std::string name = file.filename().string();
        const std::string extension = lowercase_extension(file);
        if (extension == ".safetensors")
            safetensors.push_back(file);
        else if (std::regex_match(name, consolidated_name))
            consolidated.push_back(file);
        else if (is_torch_extension(extension))
            archives.push_back(file);
    }
    std::sort(safetensors.begin(), safetensors.end());
    std::sort(consolidated.begin(), consolidated.end());
    std::sort(archives.begin(), archives.end());

    auto names = [](const std::vector<fs::path>& files) {
        std::string text;
        for (const auto& file : files)
            text += (text.empty() ? "'" : ", '") + file.filename().string() + "'";
        return text;
    };

    Plan plan;
    if (fs::is_regular_file(dir / "model.safetensors") || safetensors.size() == 1) {
        plan.files.push_back(fs::is_regular_file(dir / "model.safetensors") ? dir / "model.safetensors" : safetensors.front());
        return plan;
    }
    if (safetensors.size() > 1)
        throw CheckpointError("The checkpoint directory '" + dir.string() + "' holds several safetensors files (" + names(safetensors) +
                              ") but no model.safetensors.index.json saying how they form one checkpoint.");
    if (consolidated.size() == 1) {
        plan.files = consolidated;
        return plan;
    }
    if (consolidated.size() > 1)
        throw CheckpointError("The checkpoint directory '" + dir.string() + "' holds " + std::to_string(consolidated.size()) +
                              " model-parallel shards (" + names(consolidated) +
                              "); sharded reference checkpoints need tensor parallelism, which is not supported yet, so merge them into "
                              "one consolidated.00.pth or use a Hugging Face checkpoint.");
    if (fs::is_regular_file(dir / "pytorch_model.bin")) {
        plan.files.push_back(dir / "pytorch_model.bin");
        return plan;
    }
    if (archives.size() == 1) {
        plan.files = archives;
        return plan;
    }
    if (archives.size() > 1)
        throw CheckpointError("The checkpoint directory '" + dir.string() + "' holds several checkpoint files (" + names(archives) +
                              ") but no pytorch_model.bin.index.json saying how they form one checkpoint; pass one file instead.");
    throw CheckpointError("The checkpoint directory '" + dir.string() +
                          "' holds no checkpoint: expected model.safetensors (or a sharded set with model.safetensors.index.json), "
                          "pytorch_model.bin (or pytorch_model.bin.index.json), consolidated.00.pth, or a single .safetensors, .pt, "
                          ".pth or .bin file.");
}

Plan plan_from_file(const fs::path& file)
{
    if (file.filename().string().ends_with(".index.json"))
        return plan_from_index(file);
    Plan plan;
    plan.files.push_back(file);
    return plan;
}

// Adds `tensors` read from `file` to `loaded`, refusing keys another shard
// already gave.
void merge(LoadedCheckpoint& loaded, StateDict tensors, const fs::path& file, std::map<std::string, fs::path>& origin)
{
    for (auto& [key, tensor] : tensors) {
        auto [it, inserted] = origin.emplace(key, file);
        if (!inserted)
            throw CheckpointError("The checkpoint '" + loaded.path.string() + "' has the key '" + key + "' in two shards, '" +
                                  it->second.filename().string() + "' and '" + file.filename().string() +
                                  "'; each key must be in exactly one shard.");
        loaded.state_dict.emplace(key, std::move(tensor));
    }
}

std::optional<ModelMetadata> metadata_of(const std::map<std::string, std::string>& metadata, const fs::path& file)
{
    auto family = metadata.find("model_family");
    auto config = metadata.find("model_config");
    if (family == metadata.end() || config == metadata.end())
        return std::nullopt;
    boost::system::error_code error;
    boost::json::value json = boost::json::parse(config->second, error);
    if (error || !json.is_object())
        throw CheckpointError("The safetensors file '" + file.string() +
                              "' has a \"model_config\" metadata entry that is not a JSON object (" +
                              (error ? error.message() : std::string("another JSON value")) + ").");
    return ModelMetadata{family->second, std::move(json)};
}

}  // namespace

fs::path checkpoint_directory(const fs::path& path)
{
    std::error_code error;
    if (fs::is_directory(path, error))
        return path;
    fs::path parent = path.parent_path();
    return parent.empty() ? fs::path(".") : parent;
}

LoadedCheckpoint load_checkpoint(const fs::path& path, const LoadOptions& options)
{
    std::error_code error;
    if (!fs::exists(path, error))
        throw CheckpointError("The checkpoint '" + path.string() + "' does not exist.");
    Plan plan = fs::is_directory(path, error) ? plan_from_directory(path) : plan_from_file(path);

    // The tensors read are copied into the model's packed block and freed.
    detail::MappedWeightAllocations mapped;
    LoadedCheckpoint loaded;
    loaded.path = path;
    loaded.files = plan.files;

    std::uint64_t total = 0;
    for (const auto& file : plan.files)
        total += fs::file_size(file, error);
    LoadProgress progress(path.string(), total);

    std::map<std::string, fs::path> origin;
    for (const auto& file : plan.files) {
        if (detect_format(file) == FileFormat::safetensors) {
            SafetensorsFile read = read_safetensors(file, options.mmap, &progress);
            if (plan.files.size() == 1) {
                auto marker = read.metadata.find("fs2");
                loaded.fairseq2_layout = marker != read.metadata.end() && marker->second == "true";
                if (loaded.fairseq2_layout)
                    loaded.model = metadata_of(read.metadata, file);
            }
            merge(loaded, std::move(read.tensors), file, origin);
        } else {
            c10::IValue archive = read_torch_checkpoint(file, [&progress](std::uint64_t bytes) { progress.advance(bytes); });
            if (plan.files.size() == 1) {
                loaded.fairseq2_layout = has_fairseq2_marker(archive);
                if (loaded.fairseq2_layout)
                    loaded.model = extract_model_metadata(archive, file.string());
                loaded.extras = checkpoint_extras(archive);
            }
            merge(loaded, extract_state_dict(archive, file.string()), file, origin);
        }
    }

    if (plan.index) {
        for (const auto& [key, shard] : plan.weight_map) {
            auto it = origin.find(key);
            if (it == origin.end() || it->second.filename().string() != shard)
                throw CheckpointError("The shard index '" + plan.index->string() + "' puts the key '" + key + "' in '" + shard +
                                      "', but " +
                                      (it == origin.end() ? std::string("no shard holds it")
                                                          : "it is in '" + it->second.filename().string() + "'") +
                                      ".");
        }
    }

    progress.finish(loaded.state_dict.size());
    return loaded;
}

}  // namespace fairseq2::checkpoint

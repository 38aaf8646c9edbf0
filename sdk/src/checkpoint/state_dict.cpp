#include "fairseq2/checkpoint/state_dict.hpp"

#include <regex>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "fairseq2/error.hpp"

namespace fairseq2::checkpoint {

namespace {

std::string shape_of(at::IntArrayRef sizes)
{
    std::ostringstream text;
    text << "(";
    for (std::size_t i = 0; i < sizes.size(); ++i)
        text << (i == 0 ? "" : ", ") << sizes[i];
    text << (sizes.size() == 1 ? ",)" : ")");
    return text.str();
}

void add_list(std::string& message, const char* title, const std::vector<std::string>& items)
{
    if (items.empty())
        return;
    message += "\n  " + std::string(title) + " (" + std::to_string(items.size()) + "):";
    for (const auto& item : items)
        message += "\n    " + item;
}

}  // namespace

StateDict convert_state_dict(StateDict state_dict, const KeyMap& key_map)
{
    std::vector<std::pair<std::regex, std::string>> patterns;
    patterns.reserve(key_map.size());
    for (const auto& [pattern, replacement] : key_map) {
        // Python's \1 becomes ECMAScript's $1.
        std::string format = std::regex_replace(replacement, std::regex(R"(\\([0-9]))"), "$$$1");
        patterns.emplace_back(std::regex(pattern), std::move(format));
    }
    StateDict converted;
    for (auto& [key, tensor] : state_dict) {
        std::string new_key = key;
        for (const auto& [pattern, format] : patterns) {
            std::string candidate = std::regex_replace(key, pattern, format, std::regex_constants::format_first_only);
            if (candidate != key) {
                new_key = std::move(candidate);
                break;
            }
        }
        if (converted.contains(new_key))
            throw CheckpointError("Two checkpoint keys are converted to the same name '" + new_key + "' (one of them is '" + key + "').");
        converted.emplace(std::move(new_key), std::move(tensor));
    }
    return converted;
}

StateDict strip_module_prefix(StateDict state_dict)
{
    StateDict stripped;
    for (auto& [key, tensor] : state_dict) {
        std::string name = key.starts_with("module.") ? key.substr(7) : key;
        stripped.insert_or_assign(std::move(name), std::move(tensor));
    }
    return stripped;
}

c10::ScalarType checkpoint_dtype(const StateDict& state_dict)
{
    std::map<c10::ScalarType, std::int64_t> elements;
    for (const auto& [key, tensor] : state_dict)
        if (at::isFloatingType(tensor.scalar_type()))
            elements[tensor.scalar_type()] += tensor.numel();
    c10::ScalarType dtype = at::kFloat;
    std::int64_t most = -1;
    for (const auto& [type, count] : elements)
        if (count > most) {
            dtype = type;
            most = count;
        }
    return dtype;
}

StateDict module_state_dict(const torch::nn::Module& module)
{
    StateDict state_dict;
    for (const auto& item : module.named_parameters(/*recurse=*/true))
        state_dict.emplace(item.key(), item.value().detach());
    for (const auto& item : module.named_buffers(/*recurse=*/true))
        state_dict.emplace(item.key(), item.value().detach());
    return state_dict;
}

void load_state_dict(torch::nn::Module& module, const StateDict& state_dict, const std::string& source)
{
    StateDict targets;
    for (const auto& item : module.named_parameters(/*recurse=*/true))
        targets.emplace(item.key(), item.value());
    for (const auto& item : module.named_buffers(/*recurse=*/true))
        targets.emplace(item.key(), item.value());

    // A tensor registered under several names (tied weights) needs only one
    // of them in the checkpoint.
    std::map<const void*, std::vector<std::string>> aliases;
    for (const auto& [key, target] : targets)
        aliases[target.unsafeGetTensorImpl()].push_back(key);
    auto provided = [&](const at::Tensor& target) {
        for (const auto& name : aliases.at(target.unsafeGetTensorImpl()))
            if (state_dict.contains(name))
                return true;
        return false;
    };

    std::vector<std::string> missing;
    std::vector<std::string> unexpected;
    std::vector<std::string> mismatched;
    for (const auto& [key, target] : targets) {
        auto it = state_dict.find(key);
        if (it == state_dict.end()) {
            if (!provided(target))
                missing.push_back(key);
        }
        else if (it->second.sizes() != target.sizes())
            mismatched.push_back("`" + key + "` has a shape of " + shape_of(it->second.sizes()) + " in the checkpoint, but " +
                                 shape_of(target.sizes()) + " in the model.");
    }
    for (const auto& [key, tensor] : state_dict)
        if (!targets.contains(key))
            unexpected.push_back(key);

    if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
        std::string message = "The checkpoint at '" + source + "' does not match the model:";
        add_list(message, "missing keys", missing);
        add_list(message, "unexpected keys", unexpected);
        add_list(message, "shape mismatches", mismatched);
        throw CheckpointError(message);
    }

    at::NoGradGuard no_grad;
    for (auto& [key, target] : targets) {
        auto it = state_dict.find(key);
        if (it == state_dict.end())
            continue;  // an alias of a tensor loaded under another name
        const at::Tensor& source_tensor = it->second;
        if (source_tensor.scalar_type() == target.scalar_type() && source_tensor.device() == target.device() &&
            source_tensor.is_contiguous())
            target.set_data(source_tensor);
        else
            target.copy_(source_tensor);
    }
}

}  // namespace fairseq2::checkpoint

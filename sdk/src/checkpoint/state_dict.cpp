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

namespace {

// A pattern or replacement as literal text and group references.
struct KeyPart {
    std::string literal;  // when group is 0
    int group = 0;        // 1-based
};

bool is_regex_special(char c)
{
    return std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos;
}

[[noreturn]] void irreversible(const std::string& pattern, const std::string& why)
{
    throw InvalidArgumentError("The key map pattern '" + pattern + "' cannot be reversed: " + why + ".");
}

// "^lit\.(group)lit" -> parts; the groups' own regex text in `groups`.
std::vector<KeyPart> parse_pattern(const std::string& pattern, std::vector<std::string>& groups)
{
    if (pattern.empty() || pattern[0] != '^')
        irreversible(pattern, "it is not anchored with ^");
    std::vector<KeyPart> parts;
    for (std::size_t i = 1; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            if (i + 1 == pattern.size() || !is_regex_special(pattern[i + 1]))
                irreversible(pattern, "it escapes a character class");
            parts.push_back({std::string(1, pattern[++i])});
        } else if (c == '(') {
            const std::size_t close = pattern.find(')', i);
            if (close == std::string::npos || pattern.find('(', i + 1) < close)
                irreversible(pattern, "it nests or leaves open a group");
            groups.push_back(pattern.substr(i, close - i + 1));
            parts.push_back({"", static_cast<int>(groups.size())});
            i = close;
        } else if (is_regex_special(c)) {
            irreversible(pattern, std::string("it uses '") + c + "' outside a group");
        } else {
            parts.push_back({std::string(1, c)});
        }
    }
    return parts;
}

std::vector<KeyPart> parse_replacement(const std::string& pattern, const std::string& replacement, std::size_t num_groups)
{
    std::vector<KeyPart> parts;
    for (std::size_t i = 0; i < replacement.size(); ++i) {
        if (replacement[i] == '\\' && i + 1 < replacement.size() && replacement[i + 1] >= '1' && replacement[i + 1] <= '9') {
            const int group = replacement[++i] - '0';
            if (static_cast<std::size_t>(group) > num_groups)
                irreversible(pattern, "its replacement refers to a group it does not have");
            parts.push_back({"", group});
        } else if (replacement[i] == '$') {
            irreversible(pattern, "its replacement uses $");
        } else {
            parts.push_back({std::string(1, replacement[i])});
        }
    }
    return parts;
}

}  // namespace

KeyMap reverse_key_map(const KeyMap& key_map)
{
    KeyMap reversed;
    reversed.reserve(key_map.size());
    for (const auto& [pattern, replacement] : key_map) {
        std::vector<std::string> groups;
        const std::vector<KeyPart> from = parse_pattern(pattern, groups);
        const std::vector<KeyPart> to = parse_replacement(pattern, replacement, groups.size());
        // The new pattern captures the old groups in the order the
        // replacement used them.
        std::vector<int> new_index(groups.size() + 1, 0);
        std::string new_pattern = "^";
        int captured = 0;
        for (const KeyPart& part : to) {
            if (part.group == 0) {
                for (char c : part.literal) {
                    if (is_regex_special(c))
                        new_pattern += '\\';
                    new_pattern += c;
                }
            } else {
                if (new_index[static_cast<std::size_t>(part.group)] != 0)
                    irreversible(pattern, "its replacement uses a group twice");
                new_index[static_cast<std::size_t>(part.group)] = ++captured;
                new_pattern += groups[static_cast<std::size_t>(part.group - 1)];
            }
        }
        std::string new_replacement;
        for (const KeyPart& part : from) {
            if (part.group == 0) {
                new_replacement += part.literal;
            } else {
                if (new_index[static_cast<std::size_t>(part.group)] == 0)
                    irreversible(pattern, "its replacement drops a group");
                new_replacement += '\\';
                new_replacement += std::to_string(new_index[static_cast<std::size_t>(part.group)]);
            }
        }
        reversed.emplace_back(std::move(new_pattern), std::move(new_replacement));
    }
    return reversed;
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

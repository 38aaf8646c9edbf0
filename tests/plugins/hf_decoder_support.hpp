#pragma once

// What the suites of the decoder families read from Hugging Face
// directories share: a host with every bundled plugin, the `fairseq2`
// program over them, the reference files of tests/reference/
// make_hf_decoders.py (float64 logits and greedy continuations of random
// Qwen2, Qwen3 and Mistral models written as Hugging Face directories), and
// loading, running and greedily decoding a checkpoint as an application
// does: ModelHub detects the family and the config from the files.

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>

#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/generation/generator.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/hub.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "test_support.hpp"

namespace fairseq2::test::hf_decoders {

// A host over the build's plugin folder: every bundled family, as the
// `fairseq2` program sees them. Shared by the tests of one process.
inline std::shared_ptr<host::Host> plugin_host()
{
    static std::shared_ptr<host::Host> host = [] {
        auto h = std::make_shared<host::Host>(
            host::HostOptions{.plugin_dirs = {FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR}, .use_plugin_path_env = false, .use_default_plugin_dir = false});
        h->load_plugins();
        return h;
    }();
    return host;
}

inline std::shared_ptr<models::ModelHandler> handler(const std::string& family)
{
    return plugin_host()->context().get_registry<models::ModelHandler>().get(family);
}

// `fairseq2 --log-level warn ARGS` with the build's plugins only.
inline CommandResult fs2(const std::string& args)
{
    return run_command("FAIRSEQ2_PLUGIN_PATH= FAIRSEQ2_LOG_LEVEL= " + cli() + " --plugin-dir " + shell_quote(FAIRSEQ2_TEST_BUNDLED_PLUGIN_DIR) +
                       " --log-level warn " + args);
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// The reference files of make_hf_decoders.py, shared by the test processes
// of this build until the script changes.
inline std::filesystem::path reference_files()
{
    return shared_reference_dir("make_hf_decoders.py", "--out");
}

// What the script computed for one model.
struct Expected {
    at::Tensor tokens;  // (2, 20) int64
    at::Tensor logits;  // (2, 20, 160) float64
    at::Tensor greedy;  // (2, 32) int64
};

inline Expected read_expected(const std::filesystem::path& dir, const std::string& name)
{
    checkpoint::StateDict tensors = checkpoint::read_safetensors(dir / "expected" / (name + ".safetensors"), /*mmap=*/false).tensors;
    return {tensors.at("tokens"), tensors.at("logits"), tensors.at("greedy")};
}

struct Loaded {
    std::string family;
    boost::json::value config;
    std::shared_ptr<models::TransformerDecoderModel> model;
};

// The family and config the SDK's ModelHub finds for `path` (what the CLI
// and embedders use: detect_family() asks every handler, then the family's
// config comes from the files beside the checkpoint), and the model of the
// checkpoint in float32.
inline Loaded load(const std::filesystem::path& checkpoint)
{
    models::ModelHub hub(plugin_host()->context());
    models::OpenedCheckpoint opened = hub.open_checkpoint(checkpoint);
    Loaded loaded{opened.handler->family(), opened.config, nullptr};
    loaded.model = std::dynamic_pointer_cast<models::TransformerDecoderModel>(
        opened.handler->load_from_checkpoint(std::move(opened.checkpoint), opened.config, at::kCPU, at::kFloat));
    if (!loaded.model)
        throw std::runtime_error("The " + loaded.family + " handler did not return a TransformerDecoderModel.");
    return loaded;
}

// Logits of every position, in float32.
inline at::Tensor forward(models::TransformerDecoderModel& model, const at::Tensor& tokens)
{
    c10::InferenceMode guard;
    return model.forward(tokens).to(at::kFloat);
}

struct GreedyRun {
    at::Tensor ids;  // (N, steps)
    models::DecodeStepCounts counts;
};

// `steps` greedy ids after each prompt: one prefill, then decode_step()
// per token, as the generator takes them.
inline GreedyRun greedy(models::TransformerDecoderModel& model, const at::Tensor& prompts, std::int64_t steps)
{
    c10::InferenceMode guard;
    nn::IncrementalStateBag bag(prompts.size(1) + steps);
    at::Tensor next = generation::prefill(model, prompts, bag, 0).argmax(-1);
    std::vector<at::Tensor> ids{next};
    for (std::int64_t i = 1; i < steps; ++i) {
        at::Tensor logits = model.decode_step(next.view({-1, 1}), bag);
        bag.increment_step_nr();
        next = logits.argmax(-1);
        ids.push_back(next);
    }
    return {at::stack(ids, 1), model.decode_step_counts(bag)};
}

// "5 17 3": the ids of a 1-D tensor as `generate --prompt-ids` takes them.
inline std::string ids_text(const at::Tensor& ids)
{
    std::string text;
    for (std::int64_t i = 0; i < ids.size(0); ++i) {
        if (i > 0)
            text += ' ';
        text += std::to_string(ids[i].item<std::int64_t>());
    }
    return text;
}

}  // namespace fairseq2::test::hf_decoders

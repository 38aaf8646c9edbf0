// Checkpoint load benchmark: how long a synthetic llama of about 1 GB takes
// from the start of loading to a model ready to run, compared with
// `cat FILE > /dev/null` on the same warm file in the same run, and the
// process's peak RSS compared with the file size.
//
//   checkpoint_load_bench write FILE   writes the model as safetensors (with
//                                      its recorded config), random weights
//   checkpoint_load_bench load FILE [--no-mmap] [--cat-runs N]
//                                      prints one JSON object of figures
//
// bench/checkpoint_load_bench.sh runs both.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>

#include "fairseq2/checkpoint/checkpoint_loader.hpp"
#include "fairseq2/checkpoint/safetensors.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::shared_ptr<fairseq2::models::ModelHandler> llama_handler(fairseq2::host::Host& host)
{
    host.load_plugins();
    return host.context().get_registry<fairseq2::models::ModelHandler>().get("llama");
}

// llama2_7b shrunk to about 1.03 GB of float32: dim 1024, 15 layers, 16
// heads, GLU width 2816, vocabulary 32000 (embedding and projection 131 MB
// each).
boost::json::value synthetic_config(const fairseq2::models::ModelHandler& handler)
{
    boost::json::value config = handler.get_config("llama2_7b");
    using fairseq2::config::set_path;
    set_path(config, "model_dim", 1024);
    set_path(config, "num_layers", 15);
    set_path(config, "num_attn_heads", 16);
    set_path(config, "num_key_value_heads", 16);
    set_path(config, "ffn_inner_dim", 4096);
    return handler.check_config(config);
}

int write(const fs::path& file)
{
    fairseq2::host::Host host(fairseq2::host::HostOptions{
        .plugin_dirs = {FAIRSEQ2_BENCH_PLUGIN_DIR}, .use_plugin_path_env = false, .use_default_plugin_dir = false});
    auto handler = llama_handler(host);
    boost::json::value config = synthetic_config(*handler);
    at::manual_seed(0);
    auto model = handler->create(config, at::kCPU, at::kFloat);
    fairseq2::checkpoint::write_safetensors(file, fairseq2::checkpoint::module_state_dict(*model),
                                            {{"format", "pt"},
                                             {"fs2", "true"},
                                             {"model_family", "llama"},
                                             {"model_config", boost::json::serialize(config)}});
    std::cerr << "wrote " << file << " (" << fs::file_size(file) << " bytes)\n";
    return 0;
}

std::int64_t status_kb(const char* field)
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.starts_with(field))
            return std::stoll(line.substr(std::string(field).size()));
    return -1;
}

double time_cat(const fs::path& file)
{
    const std::string command = "cat '" + file.string() + "' > /dev/null";
    auto start = Clock::now();
    if (std::system(command.c_str()) != 0)
        throw std::runtime_error("`" + command + "` failed.");
    return seconds_since(start);
}

int load(const fs::path& file, bool mmap, int cat_runs)
{
    fairseq2::host::Host host(fairseq2::host::HostOptions{
        .plugin_dirs = {FAIRSEQ2_BENCH_PLUGIN_DIR}, .use_plugin_path_env = false, .use_default_plugin_dir = false});
    auto handler = llama_handler(host);

    // Warm the page cache, then time cat on the warm file.
    time_cat(file);
    std::vector<double> cat_s;
    for (int i = 0; i < cat_runs; ++i)
        cat_s.push_back(time_cat(file));
    std::sort(cat_s.begin(), cat_s.end());
    const double cat_median = cat_s[cat_s.size() / 2];

    const std::int64_t rss_before_kb = status_kb("VmRSS:");
    auto start = Clock::now();
    fairseq2::checkpoint::LoadedCheckpoint checkpoint = fairseq2::checkpoint::load_checkpoint(file, {.mmap = mmap});
    const double read_s = seconds_since(start);
    boost::json::value config = checkpoint.model.value().config;
    auto module = handler->load_from_checkpoint(std::move(checkpoint), config, at::kCPU);
    const double load_s = seconds_since(start);

    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double peak_rss = static_cast<double>(usage.ru_maxrss) * 1024.0;
    const double file_bytes = static_cast<double>(fs::file_size(file));

    // The model runs: one forward pass over 8 tokens.
    auto model = std::dynamic_pointer_cast<fairseq2::models::DecoderModel>(module);
    auto forward_start = Clock::now();
    {
        c10::InferenceMode guard;
        at::Tensor logits = model->forward(at::arange(1, 9, at::kLong).view({1, 8}));
        if (!logits.isfinite().all().item<bool>())
            throw std::runtime_error("The loaded model gives non-finite logits.");
    }
    const double forward_s = seconds_since(forward_start);

    boost::json::object figures{
        {"file", file.string()},
        {"mmap", mmap},
        {"file_bytes", file_bytes},
        {"cat_s", cat_median},
        {"cat_runs_s", boost::json::value_from(cat_s)},
        {"read_s", read_s},
        {"load_s", load_s},
        {"load_over_cat", load_s / cat_median},
        {"rss_before_load_bytes", static_cast<double>(rss_before_kb) * 1024.0},
        {"peak_rss_bytes", peak_rss},
        {"peak_rss_over_file", peak_rss / file_bytes},
        {"first_forward_s", forward_s},
        {"threads", at::get_num_threads()},
    };
    std::cout << boost::json::serialize(figures) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    try {
        std::vector<std::string> args(argv + 1, argv + argc);
        if (args.size() == 2 && args[0] == "write")
            return write(args[1]);
        if (args.size() >= 2 && args[0] == "load") {
            bool mmap = true;
            int cat_runs = 3;
            for (std::size_t i = 2; i < args.size(); ++i) {
                if (args[i] == "--no-mmap")
                    mmap = false;
                else if (args[i] == "--cat-runs" && i + 1 < args.size())
                    cat_runs = std::max(1, std::stoi(args[++i]));
                else
                    throw std::invalid_argument("unknown option '" + args[i] + "'");
            }
            return load(args[1], mmap, cat_runs);
        }
        std::cerr << "usage: checkpoint_load_bench write FILE | load FILE [--no-mmap] [--cat-runs N]\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
}

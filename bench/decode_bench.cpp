// fairseq2_decode_bench: decode, prefill, time-to-first-token, load time and
// peak RSS of llama models, beside an eager PyTorch baseline on the same
// weights and thread count and the memory-bandwidth roofline, in one run.
//
//   fairseq2_decode_bench [--threads N] [--configs tiny,small,qwen3_small,mistral_small,llama3_2_1b]
//                         [--dtypes float32,bfloat16] [--out bench.json]
//                         [--decode-steps N] [--keep DIR]
//
// --keep DIR writes the weights and configs to DIR and leaves them there (to
// profile a worker: `fairseq2_decode_bench worker --checkpoint DIR/small.float32.pt
// --config DIR/small.json --dtype float32 --threads 2 [--decode-b1-only]
// [--trace trace.json]`; --trace records LibTorch's operators over one
// 512-token prefill and 8 decode steps as a Chrome trace).
//
// Each measurement runs in a fresh process (this binary in `worker` mode,
// or bench/eager_llama.py) so peak RSS and load time are its own; the read
// bandwidth is sampled in `bandwidth` mode before and after every worker.

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <boost/json.hpp>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/config/overrides.hpp"
#include "fairseq2/generation/generator.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "fairseq2/nn/incremental_state.hpp"
#include "fairseq2/runtime/cpu.hpp"
#include "fairseq2/runtime/memory.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::int64_t peak_rss_bytes()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

// Resident memory now: the runtime (libraries, allocator pools) before any
// weights are loaded, the baseline the model's memory is measured above.
std::int64_t current_rss_bytes()
{
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0;
    std::int64_t resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

std::string shell_quote(const std::string& text)
{
    std::string quoted = "'";
    for (char c : text)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string run_capture(const std::string& command)
{
    std::string output;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr)
        throw std::runtime_error("cannot run: " + command);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr)
        output += buffer.data();
    int status = pclose(pipe);
    if (status != 0)
        throw std::runtime_error("command failed (" + std::to_string(status) + "): " + command);
    return output;
}


struct BenchConfig {
    std::string name;
    std::string family;
    std::string arch;
    std::vector<std::string> sets;
    // The llama config of the same shape whose fraction of the roofline
    // this one's is set against ("" for the llama configs themselves).
    std::string llama_peer;
};

// The qwen3 and mistral configs have the body of `small` (768 wide, 12
// layers, 12 query and 4 key/value heads, GLU inner dim 2048, 32000 ids)
// with their families' particulars: qwen3's head dim of 128 (not 768 / 12)
// with q/k norms and tied embeddings, mistral's sliding window (64, shorter
// than the decoded sequence, so the window's ring buffer serves it).
const std::vector<BenchConfig> all_configs{
    {"tiny", "llama", "llama2_7b",
     {"model_dim=64", "num_layers=5", "num_attn_heads=8", "num_key_value_heads=4", "vocab_info.size=512", "ffn_inner_dim=256"}, ""},
    {"small", "llama", "llama2_7b",
     {"model_dim=768", "num_layers=12", "num_attn_heads=12", "num_key_value_heads=4", "ffn_inner_dim=2048",
      "ffn_inner_dim_scale=1.0", "ffn_inner_dim_to_multiple=1", "vocab_info.size=32000"}, ""},
    {"llama3_2_1b", "llama", "llama3_2_1b", {}, ""},
    {"qwen3_small", "qwen", "qwen3_0.6b",
     {"model_dim=768", "num_layers=12", "num_attn_heads=12", "num_key_value_heads=4", "ffn_inner_dim=2048", "vocab_size=32000"}, "small"},
    {"mistral_small", "mistral", "7b",
     {"model_dim=768", "num_layers=12", "num_attn_heads=12", "num_key_value_heads=4", "ffn_inner_dim=2048", "vocab_size=32000",
      "attn_window_len=64"}, "small"},
};

const BenchConfig& bench_config(const std::string& name)
{
    auto it = std::find_if(all_configs.begin(), all_configs.end(), [&](const auto& c) { return c.name == name; });
    if (it == all_configs.end()) {
        std::string known;
        for (const auto& c : all_configs)
            known += (known.empty() ? "" : ", ") + c.name;
        throw std::runtime_error("unknown bench config '" + name + "'; known configs: " + known);
    }
    return *it;
}

std::shared_ptr<fairseq2::models::ModelHandler> family_handler(fairseq2::host::Host& host, const std::string& family)
{
    if (host.plugins().empty())
        host.load_plugins();
    return host.context().get_registry<fairseq2::models::ModelHandler>().get(family);
}

boost::json::value make_config(const fairseq2::models::ModelHandler& handler, const BenchConfig& bench)
{
    boost::json::value config = handler.get_config(bench.arch);
    for (const auto& text : bench.sets) {
        auto [key, value] = fairseq2::config::parse_assignment(text);
        fairseq2::config::set_path(config, key, std::move(value));
    }
    config.as_object()["max_seq_len"] = 1024;
    return handler.check_config(config);
}

// Runs the prompt through the decoder into `bag` as the generator does
// (chunks of GenerationOptions' default size) and returns the logits of its
// last position, (N, vocab).
at::Tensor prefill(fairseq2::models::DecoderModel& model, const at::Tensor& tokens, fairseq2::nn::IncrementalStateBag& bag)
{
    return fairseq2::generation::prefill(model, tokens, bag, fairseq2::generation::GenerationOptions{}.prefill_chunk_size);
}

// Tokens/s of greedy decoding after a 16-token prompt, batch `batch`, one
// decode_step() per token as the generator takes them.
double decode_rate(fairseq2::models::DecoderModel& model, std::int64_t batch, std::int64_t steps)
{
    const std::int64_t prompt_len = 16;
    at::Tensor tokens = at::randint(3, model.vocab_info().size, {batch, prompt_len}, at::kLong);
    fairseq2::nn::IncrementalStateBag bag(prompt_len + steps + 1);
    at::Tensor next = prefill(model, tokens, bag).argmax(-1, true);
    auto start = Clock::now();
    for (std::int64_t i = 0; i < steps; ++i) {
        at::Tensor logits = model.decode_step(next, bag);
        bag.increment_step_nr(1);
        next = logits.argmax(-1, true);
    }
    return static_cast<double>(batch * steps) / since(start);
}

// The weights a decoding step reads, as float32 views of their memory:
// every parameter but the embedding table (of which a step reads one row;
// tied, the table is also the projection and counts once).
std::vector<at::Tensor> weights_read_per_token(fairseq2::models::DecoderModel& model)
{
    std::vector<at::Tensor> views;
    std::set<const void*> seen;
    for (const auto& item : model.named_parameters()) {
        const at::Tensor& p = item.value();
        if (item.key() == "decoder_frontend.embed.weight" || !seen.insert(p.data_ptr()).second)
            continue;
        views.push_back(at::from_blob(p.data_ptr(), {static_cast<std::int64_t>(p.nbytes() / 4)}, at::kFloat));
    }
    return views;
}

std::int64_t total_bytes(const std::vector<at::Tensor>& tensors)
{
    std::int64_t bytes = 0;
    for (const auto& t : tensors)
        bytes += static_cast<std::int64_t>(t.nbytes());
    return bytes;
}

// How fast the threads read those weights now: the better of two passes of
// parallel sums over them.
double weight_read_rate(const std::vector<at::Tensor>& weights)
{
    const std::int64_t bytes = total_bytes(weights);
    double best = 0.0;
    for (int pass = 0; pass < 2; ++pass) {
        auto start = Clock::now();
        float total = 0.0f;
        for (const auto& w : weights)
            total += w.sum().item<float>();
        volatile float sink = total;
        (void)sink;
        best = std::max(best, static_cast<double>(bytes) / since(start));
    }
    return best;
}

// Batch-1 decoding against the roofline taken in turns with it: rounds of
// a read of the step's own weights, then `tokens` decode steps, then the
// next read. This VM's read bandwidth jumps between bands (about 34 and 60
// GB/s) within seconds, so samples a worker apart can miss the band the
// decoding ran in; here each round's rate is held against the faster of
// the reads just before and after it.
boost::json::object interleaved_decode(fairseq2::models::DecoderModel& model, const std::vector<at::Tensor>& weights, std::int64_t tokens,
                                       int rounds, std::int64_t element)
{
    const std::int64_t read_bytes = total_bytes(weights) + model.model_dim() * element;  // and the embedding row
    boost::json::array list;
    std::vector<std::pair<double, std::size_t>> ratios;  // (of roofline, round)
    double before = weight_read_rate(weights);
    for (int round = 0; round < rounds; ++round) {
        const double rate = decode_rate(model, 1, tokens);
        const double after = weight_read_rate(weights);
        const double roofline = std::max(before, after) / static_cast<double>(read_bytes);
        ratios.emplace_back(rate / roofline, list.size());
        list.push_back(boost::json::object{
            {"tokens_per_s", rate}, {"read_bytes_per_s_before", before}, {"read_bytes_per_s_after", after}, {"of_roofline", rate / roofline}});
        before = after;
    }
    std::sort(ratios.begin(), ratios.end());
    // The median round (of an even count, the upper of the middle two):
    // the table gives its rate and its roofline together.
    const boost::json::value median = list[ratios[ratios.size() / 2].second];
    return boost::json::object{{"weight_bytes_read_per_token", read_bytes},
                               {"tokens_per_round", tokens},
                               {"rounds", std::move(list)},
                               {"median_round", median},
                               {"of_roofline_min", ratios.front().first},
                               {"of_roofline_max", ratios.back().first}};
}

// Worker: load the checkpoint, measure, print JSON.
int run_worker(const std::string& family, const std::string& checkpoint, const std::string& config_path, const std::string& dtype_name,
               int threads, int decode_steps, bool decode_b1_only, const std::string& trace_path)
{
    // As the `fairseq2` program does.
    fairseq2::retain_freed_memory();
    at::set_num_threads(threads);
    std::ifstream file(config_path);
    std::stringstream text;
    text << file.rdbuf();
    boost::json::value config = boost::json::parse(text.str());
    const auto dtype = dtype_name == "bfloat16" ? at::kBFloat16 : at::kFloat;

    auto start = Clock::now();
    fairseq2::host::Host host;
    auto handler = family_handler(host, family);
    const std::int64_t runtime_rss = current_rss_bytes();
    auto model = std::dynamic_pointer_cast<fairseq2::models::DecoderModel>(handler->load_from_path(checkpoint, config, at::kCPU, dtype));
    double load_s = since(start);

    c10::InferenceMode guard;
    at::manual_seed(0);
    boost::json::object result;
    result["load_s"] = load_s;
    decode_rate(*model, 1, 2);  // warm-up
    if (!trace_path.empty()) {
        // LibTorch's operator profiler over one 512-token prefill and 8
        // decode steps, written as a Chrome trace (chrome://tracing).
        at::Tensor tokens = at::randint(3, model->vocab_info().size, {1, 512}, at::kLong);
        {
            fairseq2::nn::IncrementalStateBag bag(512);
            prefill(*model, tokens, bag);
        }
        torch::autograd::profiler::RecordProfile profile{trace_path};
        fairseq2::nn::IncrementalStateBag bag(512);
        prefill(*model, tokens, bag);
        decode_rate(*model, 1, 8);
    }
    // Which path decoding took: the fused step, or the modules.
    if (auto* transformer = dynamic_cast<fairseq2::models::TransformerDecoderModel*>(model.get())) {
        fairseq2::nn::IncrementalStateBag bag(32);
        at::Tensor next = prefill(*model, at::randint(3, model->vocab_info().size, {1, 8}, at::kLong), bag).argmax(-1, true);
        for (int i = 0; i < 8; ++i) {
            next = model->decode_step(next, bag).argmax(-1, true);
            bag.increment_step_nr(1);
        }
        const fairseq2::models::DecodeStepCounts counts = transformer->decode_step_counts(bag);
        result["decode_steps_fused"] = counts.fused;
        result["decode_steps_modules"] = counts.modules;
    }
    // Where the peak is reached: after loading, after each measurement.
    result["peak_rss_after_load_bytes"] = peak_rss_bytes();
    result["decode_b1_tokens_per_s"] = decode_rate(*model, 1, decode_steps);
    result["peak_rss_after_decode_b1_bytes"] = peak_rss_bytes();
    if (decode_b1_only) {
        // Only weights far larger than the caches measure the memory: a
        // tiny llama's read is the cost of a hundred calls to sum().
        if (const std::vector<at::Tensor> weights = weights_read_per_token(*model); total_bytes(weights) >= (std::int64_t{64} << 20))
            result["decode_b1_interleaved"] =
                interleaved_decode(*model, weights, std::max(4, decode_steps / 4), 9, dtype == at::kBFloat16 ? 2 : 4);
        std::cout << boost::json::serialize(result) << std::endl;
        return 0;
    }
    result["decode_b8_tokens_per_s"] = decode_rate(*model, 8, std::max(4, decode_steps / 4));
    result["peak_rss_after_decode_b8_bytes"] = peak_rss_bytes();

    // Prefill and time to first token: the best of three runs, as in
    // eager_llama.py (one run is at the mercy of a scheduler hiccup).
    const std::int64_t prefill_len = 512;
    at::Tensor tokens = at::randint(3, model->vocab_info().size, {1, prefill_len}, at::kLong);
    double prefill_s = 1e30;
    double ttft_s = 1e30;
    for (int run = 0; run < 3; ++run) {
        {
            fairseq2::nn::IncrementalStateBag bag(prefill_len);
            start = Clock::now();
            prefill(*model, tokens, bag);
            prefill_s = std::min(prefill_s, since(start));
        }
        {
            const std::int64_t ttft_len = 128;
            fairseq2::nn::IncrementalStateBag bag(ttft_len + 1);
            start = Clock::now();
            prefill(*model, tokens.narrow(1, 0, ttft_len), bag).argmax(-1);
            ttft_s = std::min(ttft_s, since(start));
        }
    }
    result["prefill_tokens_per_s"] = static_cast<double>(prefill_len) / prefill_s;
    result["ttft_s"] = ttft_s;
    result["peak_rss_bytes"] = peak_rss_bytes();
    result["runtime_rss_bytes"] = runtime_rss;
    std::cout << boost::json::serialize(result) << std::endl;
    return 0;
}

// Read bandwidth: the best of five parallel sums over 1 GiB, far larger
// than the caches, on 4 KiB pages (as at::empty gives) and on transparent
// huge pages (as the weights are packed, see nn::pack_parameters). Huge
// pages read about a third faster on this VM, so the roofline takes them.
struct Bandwidth {
    double small_pages = 0;
    double huge_pages = 0;
    double best() const { return std::max(small_pages, huge_pages); }
};

double best_sum_rate(const at::Tensor& buffer)
{
    double best = 0.0;
    for (int i = 0; i < 5; ++i) {
        auto start = Clock::now();
        volatile float sink = buffer.sum().item<float>();
        (void)sink;
        best = std::max(best, static_cast<double>(buffer.nbytes()) / since(start));
    }
    return best;
}

Bandwidth measure_read_bandwidth(int threads)
{
    at::set_num_threads(threads);
    const std::int64_t bytes = std::int64_t{1} << 30;
    Bandwidth bandwidth;
    bandwidth.small_pages = best_sum_rate(at::ones({bytes / 4}, at::kFloat));
    const auto huge = std::size_t{2} << 20;
    void* raw = mmap(nullptr, bytes + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw != MAP_FAILED) {
        void* aligned = reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(raw) + huge - 1) / huge * huge);
        madvise(aligned, bytes, MADV_HUGEPAGE);
        at::Tensor buffer = at::from_blob(aligned, {bytes / 4}, at::kFloat);
        buffer.fill_(1.0f);
        bandwidth.huge_pages = best_sum_rate(buffer);
        munmap(raw, bytes + huge);
    }
    return bandwidth;
}

// `bandwidth` mode: one measurement, as JSON, in a process of its own (so
// the driver's memory stays small).
int run_bandwidth(int threads)
{
    const Bandwidth bandwidth = measure_read_bandwidth(threads);
    std::cout << boost::json::serialize(boost::json::object{{"small_pages", bandwidth.small_pages}, {"huge_pages", bandwidth.huge_pages}})
              << std::endl;
    return 0;
}

struct Row {
    std::string config;
    std::string llama_peer;
    std::string dtype;
    boost::json::object ours;
    boost::json::object eager;
    std::int64_t read_bytes = 0;  // weight bytes read per decoded token
    double bandwidth_b1 = 0;      // the better sample around the batch-1 decode worker
    double bandwidth_b8 = 0;      // the better sample around the full worker
    std::int64_t weight_bytes = 0;
    std::int64_t cache_bytes = 0;
};

int run_driver(int threads, const std::vector<std::string>& configs, const std::vector<std::string>& dtypes, const std::string& out_path,
               const std::string& self, int decode_steps, const std::string& keep_dir)
{
    const fs::path work = keep_dir.empty() ? fs::temp_directory_path() / ("fairseq2-bench-" + std::to_string(getpid())) : fs::path(keep_dir);
    fs::create_directories(work);
    // The bandwidth of this VM changes from one minute to the next (between
    // about 33 and 67 GB/s here: other tenants), so every decode rate is set
    // against bandwidth sampled right before and after the worker that
    // measured it: batch-1 decoding runs in a worker of its own for that.
    // The header also gives the best sample of the run.
    Bandwidth best;
    boost::json::array samples;
    auto sample_bandwidth = [&] {
        const auto sample = boost::json::parse(run_capture(shell_quote(self) + " bandwidth --threads " + std::to_string(threads))).as_object();
        const double small_pages = sample.at("small_pages").to_number<double>();
        const double huge_pages = sample.at("huge_pages").to_number<double>();
        std::cerr << "  read bandwidth " << small_pages / 1e9 << " GB/s on 4 KiB pages, " << huge_pages / 1e9 << " GB/s on huge pages\n";
        best.small_pages = std::max(best.small_pages, small_pages);
        best.huge_pages = std::max(best.huge_pages, huge_pages);
        samples.push_back(sample);
        return std::max(small_pages, huge_pages);
    };

    fairseq2::host::Host host;
    std::vector<Row> rows;
    for (const auto& name : configs) {
        const BenchConfig& bench = bench_config(name);
        auto handler = family_handler(host, bench.family);
        boost::json::value config = make_config(*handler, bench);
        fs::path config_path = work / (name + ".json");
        std::ofstream(config_path) << boost::json::serialize(config);

        // One checkpoint per config and dtype, written in that dtype, so that
        // neither side converts weights while loading.
        auto write_checkpoint = [&](const std::string& dtype, std::int64_t& weight_elements, std::int64_t& embedding_elements) {
            fs::path checkpoint = work / (name + "." + dtype + ".pt");
            at::manual_seed(1);
            auto model = handler->create(config, at::kCPU, dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
            fairseq2::checkpoint::StateDict state_dict = fairseq2::checkpoint::module_state_dict(*model);
            std::set<const void*> seen;
            weight_elements = 0;
            for (const auto& [key, tensor] : state_dict) {
                if (!seen.insert(tensor.data_ptr()).second)
                    continue;
                weight_elements += tensor.numel();
                if (key == "decoder_frontend.embed.weight")
                    embedding_elements = tensor.numel();
            }
            std::cerr << "writing " << name << " " << dtype << " weights (" << weight_elements / 1e6 << " M parameters)...\n";
            fairseq2::checkpoint::save_fairseq2_checkpoint(checkpoint, state_dict);
            return checkpoint;
        };
        const auto& c = config.as_object();
        const std::int64_t model_dim = c.at("model_dim").as_int64();
        const auto* head_dim = c.if_contains("head_dim");
        const std::int64_t kv_dim = (head_dim != nullptr && head_dim->is_int64() ? head_dim->as_int64() : model_dim / c.at("num_attn_heads").as_int64()) *
                                    c.at("num_key_value_heads").as_int64();
        const auto* tied_field = c.if_contains("tied_embeddings");
        const bool tied = tied_field != nullptr && tied_field->as_bool();

        for (const auto& dtype : dtypes) {
            std::int64_t weight_elements = 0;
            std::int64_t embedding_elements = 0;
            const fs::path checkpoint = write_checkpoint(dtype, weight_elements, embedding_elements);
            Row row;
            row.config = name;
            row.llama_peer = bench.llama_peer;
            row.dtype = dtype;
            const std::int64_t element = dtype == "bfloat16" ? 2 : 4;
            row.weight_bytes = weight_elements * element;
            // Bytes read per decoded token: every weight but the embedding
            // table, of which one row is read (tied: the table is the projection).
            row.read_bytes = (weight_elements - (tied ? 0 : embedding_elements) + model_dim) * element;
            row.cache_bytes = 2 * c.at("num_layers").as_int64() * 8 * (16 + decode_steps) * kv_dim * element;

            const std::string worker = shell_quote(self) + " worker --family " + bench.family + " --checkpoint " + shell_quote(checkpoint.string()) + " --config " +
                                       shell_quote(config_path.string()) + " --dtype " + dtype + " --threads " + std::to_string(threads) +
                                       " --decode-steps " + std::to_string(decode_steps);
            const double before = sample_bandwidth();
            std::cerr << "running " << name << " " << dtype << " (fairseq2, batch-1 decoding)...\n";
            const auto b1 = boost::json::parse(run_capture(worker + " --decode-b1-only")).as_object();
            const double between = sample_bandwidth();
            std::cerr << "running " << name << " " << dtype << " (fairseq2)...\n";
            row.ours = boost::json::parse(run_capture(worker)).as_object();
            const double after = sample_bandwidth();
            row.bandwidth_b1 = std::max(before, between);
            row.bandwidth_b8 = std::max(between, after);
            // The table's batch-1 figure is the bracketed worker's; the full
            // worker's own stays in the JSON.
            row.ours["decode_b1_in_full_worker_tokens_per_s"] = row.ours.at("decode_b1_tokens_per_s");
            row.ours["decode_b1_tokens_per_s"] = b1.at("decode_b1_tokens_per_s");
            if (const auto* turns = b1.if_contains("decode_b1_interleaved"))
                row.ours["decode_b1_interleaved"] = *turns;
            // eager_llama.py is a llama: the other families have no eager
            // baseline here, only the roofline and their llama peer.
            if (bench.family != "llama") {
                rows.push_back(std::move(row));
                if (keep_dir.empty())
                    fs::remove(checkpoint);
                continue;
            }
            std::cerr << "running " << name << " " << dtype << " (eager PyTorch)...\n";
            std::string eager = run_capture("/usr/bin/python3 " + shell_quote(FAIRSEQ2_BENCH_DIR "/eager_llama.py") + " --checkpoint " +
                                            shell_quote(checkpoint.string()) + " --config " + shell_quote(config_path.string()) +
                                            " --dtype " + dtype + " --threads " + std::to_string(threads) + " --decode-steps " +
                                            std::to_string(decode_steps));
            row.eager = boost::json::parse(eager).as_object();
            rows.push_back(std::move(row));
            if (keep_dir.empty())
                fs::remove(checkpoint);
        }
    }
    if (keep_dir.empty())
        fs::remove_all(work);

    const double bandwidth = best.best();
    auto num = [](const boost::json::object& o, const char* key) { return o.at(key).to_number<double>(); };
    std::ostringstream table;
    table << std::fixed;
    table << "threads " << threads << ", read bandwidth: best sample " << std::setprecision(1) << bandwidth / 1e9 << " GB/s of "
          << samples.size() << " (4 KiB pages " << best.small_pages / 1e9 << ", huge pages " << best.huge_pages / 1e9
          << "); each roofline uses the samples around its worker\n\n";
    table << "| config | dtype | metric | fairseq2 | eager PyTorch | ratio | roofline | of roofline |\n";
    table << "|---|---|---|---:|---:|---:|---:|---:|\n";
    boost::json::array json_rows;
    for (const auto& row : rows) {
        const bool has_eager = !row.eager.empty();
        auto line = [&](const char* metric, const char* key, double roofline, bool higher_is_better, int precision) {
            double ours = num(row.ours, key);
            table << "| " << row.config << " | " << row.dtype << " | " << metric << " | " << std::setprecision(precision) << ours << " | ";
            if (has_eager) {
                double eager = num(row.eager, key);
                double ratio = higher_is_better ? ours / eager : eager / ours;
                table << eager << " | " << std::setprecision(2) << ratio << "x | ";
            } else {
                table << "- | - | ";
            }
            if (roofline > 0)
                table << std::setprecision(1) << roofline << " | " << std::setprecision(2) << ours / roofline << " |\n";
            else
                table << "- | - |\n";
        };
        const double roofline_b1 = row.bandwidth_b1 / static_cast<double>(row.read_bytes);
        const double roofline_b8 = 8.0 * row.bandwidth_b8 / static_cast<double>(row.read_bytes);
        line("decode b1 tok/s", "decode_b1_tokens_per_s", roofline_b1, true, 1);
        if (const auto* found = row.ours.if_contains("decode_b1_interleaved")) {
            // Rounds of decoding between reads of the step's own weights
            // (interleaved_decode): the median round, its rate and roofline.
            const auto& turns = found->as_object();
            const auto& median = turns.at("median_round").as_object();
            const double median_ratio = num(median, "of_roofline");
            const double median_rate = num(median, "tokens_per_s");
            table << "| " << row.config << " | " << row.dtype << " | decode b1 tok/s, median of " << turns.at("rounds").as_array().size()
                  << " rounds between weight reads | " << std::setprecision(1) << median_rate << " | ";
            if (has_eager) {
                const double eager = num(row.eager, "decode_b1_tokens_per_s");
                table << eager << " | " << std::setprecision(2) << median_rate / eager << "x | ";
            } else {
                table << "- | - | ";
            }
            table << std::setprecision(1) << median_rate / median_ratio << " | " << std::setprecision(2) << median_ratio << " |\n";
        }
        line("decode b8 tok/s", "decode_b8_tokens_per_s", roofline_b8, true, 1);
        line("prefill 512 tok/s", "prefill_tokens_per_s", 0, true, 1);
        line("TTFT 128 (s)", "ttft_s", 0, false, 4);
        line("load (s)", "load_s", 0, false, 3);
        const double model_bytes = static_cast<double>(row.weight_bytes + row.cache_bytes);
        auto rss_line = [&](const char* metric, double ours, double eager) {
            table << "| " << row.config << " | " << row.dtype << " | " << metric << " | " << std::setprecision(0) << ours / 1e6 << " | ";
            if (has_eager)
                table << eager / 1e6 << " | " << std::setprecision(2) << eager / ours << "x | ";
            else
                table << "- | - | ";
            table << "weights+cache " << std::setprecision(0) << model_bytes / 1e6 << " | " << std::setprecision(2) << ours / model_bytes
                  << " |\n";
        };
        auto eager_num = [&](const char* key) { return has_eager ? num(row.eager, key) : 0.0; };
        rss_line("peak RSS (MB)", num(row.ours, "peak_rss_bytes"), eager_num("peak_rss_bytes"));
        // The same above the process's resident memory before loading (the
        // libraries of LibTorch or Python alone take about 200 MB).
        rss_line("peak RSS above runtime (MB)", num(row.ours, "peak_rss_bytes") - num(row.ours, "runtime_rss_bytes"),
                 eager_num("peak_rss_bytes") - eager_num("runtime_rss_bytes"));
        json_rows.push_back(boost::json::object{{"config", row.config},
                                                {"dtype", row.dtype},
                                                {"fairseq2", row.ours},
                                                {"eager", row.eager},
                                                {"weight_bytes_read_per_token", row.read_bytes},
                                                {"read_bandwidth_decode_b1_bytes_per_s", row.bandwidth_b1},
                                                {"read_bandwidth_decode_b8_bytes_per_s", row.bandwidth_b8},
                                                {"roofline_decode_b1_tokens_per_s", roofline_b1},
                                                {"roofline_decode_b8_tokens_per_s", roofline_b8},
                                                {"roofline_decode_b1_best_sample_tokens_per_s",
                                                 bandwidth / static_cast<double>(row.read_bytes)},
                                                {"weight_bytes", row.weight_bytes},
                                                {"cache_bytes", row.cache_bytes}});
    }
    // Each family's batch-1 decoding as a fraction of the roofline, set
    // against its llama peer's in this run (the median round between weight
    // reads where there is one), and the path its decoding steps took.
    auto b1_fraction = [&](const Row& row) {
        if (const auto* turns = row.ours.if_contains("decode_b1_interleaved"))
            return num(turns->at("median_round").as_object(), "of_roofline");
        return num(row.ours, "decode_b1_tokens_per_s") / (row.bandwidth_b1 / static_cast<double>(row.read_bytes));
    };
    table << "\n| config | dtype | decode steps fused / by modules | decode b1 of roofline | llama peer | peer's of roofline | relative |\n";
    table << "|---|---|---:|---:|---|---:|---:|\n";
    for (const auto& row : rows) {
        table << "| " << row.config << " | " << row.dtype << " | ";
        if (row.ours.contains("decode_steps_fused"))
            table << row.ours.at("decode_steps_fused").as_int64() << " / " << row.ours.at("decode_steps_modules").as_int64();
        else
            table << "-";
        table << " | " << std::setprecision(2) << b1_fraction(row) << " | ";
        auto peer = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.config == row.llama_peer && r.dtype == row.dtype; });
        if (row.llama_peer.empty() || peer == rows.end())
            table << (row.llama_peer.empty() ? "-" : row.llama_peer + " (not run)") << " | - | - |\n";
        else
            table << row.llama_peer << " | " << b1_fraction(*peer) << " | " << b1_fraction(row) / b1_fraction(*peer) << " |\n";
    }
    std::cout << table.str();
    if (!out_path.empty()) {
        boost::json::object out{{"threads", threads},
                                {"read_bandwidth_bytes_per_s", bandwidth},
                                {"read_bandwidth_4k_pages_bytes_per_s", best.small_pages},
                                {"read_bandwidth_huge_pages_bytes_per_s", best.huge_pages},
                                {"read_bandwidth_samples", std::move(samples)},
                                {"rows", std::move(json_rows)}};
        std::ofstream(out_path) << boost::json::serialize(out) << "\n";
    }
    return 0;
}

std::vector<std::string> split(const std::string& text)
{
    std::vector<std::string> items;
    std::stringstream stream(text);
    std::string item;
    while (std::getline(stream, item, ','))
        if (!item.empty())
            items.push_back(item);
    return items;
}

}  // namespace

constexpr const char* usage =
    "usage: fairseq2_decode_bench [--configs tiny,small,qwen3_small,mistral_small,llama3_2_1b] [--dtypes float32,bfloat16]\n"
    "                             [--threads N] [--decode-steps N] [--out bench.json] [--keep DIR]\n"
    "       fairseq2_decode_bench worker [--family llama|qwen|mistral] --checkpoint FILE --config FILE [--dtype float32|bfloat16]\n"
    "                             [--threads N] [--decode-steps N] [--decode-b1-only] [--trace FILE]\n"
    "       fairseq2_decode_bench bandwidth [--threads N]\n";

// Every argument is a known option (with its value) or `worker` first.
bool arguments_known(const std::vector<std::string>& args)
{
    static const std::set<std::string> with_value{"--threads",    "--configs",    "--dtypes", "--out",  "--decode-steps",
                                                  "--keep",       "--checkpoint", "--config", "--dtype", "--trace", "--family"};
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i == 0 && (args[i] == "worker" || args[i] == "bandwidth"))
            continue;
        if (args[i] == "--decode-b1-only")
            continue;
        if (!with_value.contains(args[i]) || i + 1 == args.size())
            return false;
        ++i;
    }
    return true;
}

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!arguments_known(args)) {
        const bool help = std::find(args.begin(), args.end(), "--help") != args.end() || std::find(args.begin(), args.end(), "-h") != args.end();
        (help ? std::cout : std::cerr) << usage;
        return help ? 0 : 2;
    }
    auto option = [&](const std::string& name, const std::string& fallback) {
        for (std::size_t i = 0; i + 1 < args.size(); ++i)
            if (args[i] == name)
                return args[i + 1];
        return fallback;
    };
    const int physical_cores = fairseq2::physical_core_count();
    const int threads = std::stoi(option("--threads", std::to_string(physical_cores)));
    const int decode_steps = std::stoi(option("--decode-steps", "128"));
    try {
        if (!args.empty() && args[0] == "bandwidth")
            return run_bandwidth(threads);
        if (!args.empty() && args[0] == "worker")
            return run_worker(option("--family", "llama"), option("--checkpoint", ""), option("--config", ""), option("--dtype", "float32"), threads, decode_steps,
                              std::find(args.begin(), args.end(), "--decode-b1-only") != args.end(), option("--trace", ""));
        return run_driver(threads, split(option("--configs", "tiny,small,qwen3_small,mistral_small,llama3_2_1b")), split(option("--dtypes", "float32,bfloat16")),
                          option("--out", "bench.json"), fs::read_symlink("/proc/self/exe").string(), decode_steps,
                          option("--keep", ""));
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
}

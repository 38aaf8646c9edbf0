// The registries under threads: four threads share one host's context while
// it is read, models are created and loaded from a checkpoint, and new
// registrations are merged in. Run by the tsan preset, which fails on any
// data race in fairseq2's code.

#include <atomic>
#include <filesystem>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include "fairseq2/assets/asset_card_source.hpp"
#include "fairseq2/checkpoint/state_dict.hpp"
#include "fairseq2/checkpoint/torch_archive.hpp"
#include "fairseq2/error.hpp"
#include "fairseq2/host/host.hpp"
#include "fairseq2/models/decoder_model.hpp"
#include "fairseq2/models/model_handler.hpp"
#include "host/plugin_test_support.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;

using fairseq2::host::Host;
using fairseq2::models::DecoderModel;
using fairseq2::models::ModelHandler;
using fairseq2::test::only;
using fairseq2::test::plugin_dir;
using fairseq2::test::TempDir;
using fairseq2::test::tiny_llama_config;

struct Gadget {
    static constexpr const char* registry_kind = "gadget";
    int id = 0;
};

struct GadgetConfig {
    int size = 0;
};

// At least this many merges, and more until the model threads are done.
constexpr int min_registrations = 16;
constexpr int models_per_thread = 4;

std::shared_ptr<DecoderModel> as_decoder(std::shared_ptr<torch::nn::Module> module)
{
    return std::dynamic_pointer_cast<DecoderModel>(std::move(module));
}

TEST(RegistryThreadsTest, ReadsWhileModelsAreCreatedAndLoadedAndEntriesAreMerged)
{
    // libtorch's own worker threads are not what is tested here (and are
    // invisible to the thread sanitizer); the four threads below are.
    at::set_num_threads(1);

    Host host(only({plugin_dir}));
    host.load_plugins();
    auto& context = host.context();
    const auto handlers = context.get_registry<ModelHandler>();
    ASSERT_EQ(handlers.keys(), std::vector<std::string>{"llama"});
    const std::shared_ptr<ModelHandler> handler = handlers.get("llama");
    const boost::json::value config = tiny_llama_config(*handler);

    // A checkpoint of a tiny llama, and the logits it gives.
    TempDir dir;
    const fs::path checkpoint = dir / "tiny_llama.pt";
    const at::Tensor seqs = at::tensor(std::vector<std::int64_t>{1, 17, 42, 255}, at::kLong).unsqueeze(0);
    at::Tensor expected;
    {
        at::manual_seed(11);
        auto model = as_decoder(handler->create(config, at::kCPU, at::kFloat));
        ASSERT_NE(model, nullptr);
        c10::Dict<std::string, at::Tensor> state;
        for (const auto& item : model->named_parameters())
            state.insert(item.key(), item.value().detach());
        fairseq2::checkpoint::write_torch_archive(checkpoint, state);
        expected = model->forward(seqs).detach().clone();
    }

    std::atomic<bool> stop{false};
    std::atomic<int> models_done{0};
    std::atomic<long> reads{0};
    std::atomic<int> created{0};
    std::atomic<int> loaded{0};
    std::atomic<int> registrations{0};
    // All four start together, so their registry accesses interleave.
    std::latch start(4);

    // 1: reads every registry it can see, until the others are done.
    std::thread reader([&] {
        start.arrive_and_wait();
        while (!stop.load()) {
            auto registry = context.get_registry<ModelHandler>();
            EXPECT_TRUE(registry.contains("llama"));
            EXPECT_EQ(registry.origin_of("llama"), (plugin_dir / "libfairseq2_llama.so").string());
            auto found = registry.get("llama");
            EXPECT_EQ(found->archs().size(), 13u);
            EXPECT_EQ(found->get_config("llama3_8b").at("model_dim").as_int64(), 4096);
            EXPECT_EQ(context.get_registry<fairseq2::assets::AssetCardSource>().keys(), std::vector<std::string>{"llama"});
            const auto gadgets = context.get_registry<Gadget>();
            for (const auto& key : gadgets.keys())
                EXPECT_EQ("gadget" + std::to_string(gadgets.get(key)->id), key);
            for (const auto& arch : context.get_config_registry<GadgetConfig>().names())
                EXPECT_EQ(context.get_config_registry<GadgetConfig>().get(arch).size, std::stoi(arch.substr(4)));
            reads.fetch_add(1);
        }
    });

    // 2: creates models with random weights and runs them.
    std::thread creator([&] {
        start.arrive_and_wait();
        for (int i = 0; i < models_per_thread; ++i) {
            auto model = as_decoder(handler->create(config, at::kCPU, at::kFloat));
            ASSERT_NE(model, nullptr);
            const at::Tensor logits = model->forward(seqs);
            EXPECT_EQ(logits.sizes(), (at::IntArrayRef{1, 4, 256}));
            EXPECT_TRUE(logits.isfinite().all().item<bool>());
            created.fetch_add(1);
        }
        models_done.fetch_add(1);
    });

    // 3: loads the checkpoint (through a handler looked up each time) and
    // checks it gives the same logits.
    std::thread loader([&] {
        start.arrive_and_wait();
        for (int i = 0; i < models_per_thread; ++i) {
            auto model = as_decoder(context.get_registry<ModelHandler>().get("llama")->load_from_path(checkpoint, config, at::kCPU, at::kFloat));
            ASSERT_NE(model, nullptr);
            EXPECT_TRUE(at::allclose(model->forward(seqs), expected, 1e-5, 1e-6));
            loaded.fetch_add(1);
        }
        models_done.fetch_add(1);
    });

    // 4: merges new registrations, as loading a plugin does, and has a
    // conflicting one refused without a trace.
    std::thread registrar([&] {
        start.arrive_and_wait();
        for (int i = 0; i < min_registrations || models_done.load() < 2; ++i) {
            fairseq2::RuntimeContext staged("registrar " + std::to_string(i));
            staged.get_registry<Gadget>().register_("gadget" + std::to_string(i), std::make_shared<Gadget>(Gadget{i}));
            staged.get_config_registry<GadgetConfig>().register_("size" + std::to_string(i), GadgetConfig{i});
            context.merge(staged, nullptr);

            fairseq2::RuntimeContext conflicting("conflicting " + std::to_string(i));
            conflicting.get_registry<Gadget>().register_("extra" + std::to_string(i), std::make_shared<Gadget>());
            conflicting.get_registry<Gadget>().register_("gadget" + std::to_string(i), std::make_shared<Gadget>());
            EXPECT_THROW(context.merge(conflicting, nullptr), fairseq2::AlreadyExistsError);
            registrations.fetch_add(1);
        }
    });

    creator.join();
    loader.join();
    registrar.join();
    stop.store(true);
    reader.join();

    EXPECT_EQ(created.load(), models_per_thread);
    EXPECT_EQ(loaded.load(), models_per_thread);
    EXPECT_GT(reads.load(), 0);
    EXPECT_GE(registrations.load(), min_registrations);
    const auto gadgets = context.get_registry<Gadget>();
    EXPECT_EQ(gadgets.keys().size(), static_cast<std::size_t>(registrations.load()));
    for (int i = 0; i < registrations.load(); ++i) {
        EXPECT_EQ(gadgets.get("gadget" + std::to_string(i))->id, i);
        EXPECT_EQ(gadgets.origin_of("gadget" + std::to_string(i)), "registrar " + std::to_string(i));
        EXPECT_FALSE(gadgets.contains("extra" + std::to_string(i)));
    }
    EXPECT_EQ(context.get_config_registry<GadgetConfig>().names().size(), static_cast<std::size_t>(registrations.load()));
    EXPECT_EQ(context.get_registry<ModelHandler>().keys(), std::vector<std::string>{"llama"});
}

}  // namespace

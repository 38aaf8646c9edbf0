// Registries and the runtime context: lookups, duplicates, fresh preset
// copies, all-or-nothing merges and lifetime tokens.

#include <gtest/gtest.h>

#include "fairseq2/error.hpp"
#include "fairseq2/runtime/runtime_context.hpp"

namespace fairseq2 {
namespace {

struct Widget {
    static constexpr const char* registry_kind = "widget";
    int value = 0;
};

struct Preset {
    int size = 1;
};

class Factory : public LifetimeBound {
public:
    static constexpr const char* registry_kind = "factory";
};

TEST(RegistryTest, ReturnsRegisteredValuesAndSortedKeys)
{
    RuntimeContext context;
    auto registry = context.get_registry<Widget>();
    registry.register_("b", std::make_shared<Widget>(Widget{2}));
    registry.register_("a", std::make_shared<Widget>(Widget{1}));

    EXPECT_EQ(registry.get("a")->value, 1);
    EXPECT_EQ(registry.get("b")->value, 2);
    EXPECT_TRUE(registry.contains("a"));
    EXPECT_FALSE(registry.contains("c"));
    EXPECT_EQ(registry.keys(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(registry.origin_of("a"), "host");
    // Another view of the same registry sees the same entries.
    EXPECT_EQ(context.get_registry<Widget>().get("b")->value, 2);
}

TEST(RegistryTest, MissingKeyIsAnErrorNamingTheKeyAndTheKnownOnes)
{
    RuntimeContext context;
    auto registry = context.get_registry<Widget>();
    registry.register_("known", std::make_shared<Widget>());
    try {
        registry.get("absent");
        FAIL() << "expected LookupError";
    } catch (const LookupError& error) {
        EXPECT_STREQ(error.what(), "The widget registry does not contain a 'absent' key. Registered keys: 'known'.");
    }
}

TEST(RegistryTest, SecondRegistrationOfAKeyIsAnError)
{
    RuntimeContext context;
    auto registry = context.get_registry<Widget>();
    registry.register_("x", std::make_shared<Widget>(Widget{1}));
    try {
        registry.register_("x", std::make_shared<Widget>(Widget{2}));
        FAIL() << "expected AlreadyExistsError";
    } catch (const AlreadyExistsError& error) {
        EXPECT_STREQ(error.what(), "The widget registry already contains a 'x' key (registered by host).");
    }
    EXPECT_EQ(registry.get("x")->value, 1);
}

TEST(RegistryTest, NullValueIsRejected)
{
    RuntimeContext context;
    EXPECT_THROW(context.get_registry<Widget>().register_("x", nullptr), InvalidArgumentError);
}

TEST(ConfigRegistryTest, EveryLookupIsAFreshCopy)
{
    RuntimeContext context;
    auto presets = context.get_config_registry<Preset>();
    presets.register_("small", Preset{4});

    Preset first = presets.get("small");
    first.size = 99;
    EXPECT_EQ(presets.get("small").size, 4);
    EXPECT_EQ(first.size, 99);
    EXPECT_EQ(presets.names(), std::vector<std::string>{"small"});
    EXPECT_THROW(presets.get("large"), LookupError);
    EXPECT_THROW(presets.register_("small", Preset{5}), AlreadyExistsError);
}

TEST(RuntimeContextTest, MergeCommitsEverythingOrNothing)
{
    RuntimeContext host;
    host.get_registry<Widget>().register_("taken", std::make_shared<Widget>(Widget{1}));

    RuntimeContext staged("libplugin.so");
    staged.get_registry<Widget>().register_("fresh", std::make_shared<Widget>(Widget{2}));
    staged.get_config_registry<Preset>().register_("p", Preset{3});
    staged.get_registry<Widget>().register_("taken", std::make_shared<Widget>(Widget{4}));

    try {
        host.merge(staged, nullptr);
        FAIL() << "expected AlreadyExistsError";
    } catch (const AlreadyExistsError& error) {
        EXPECT_STREQ(error.what(),
                     "The widget registry already contains a 'taken' key (registered by host); libplugin.so registers it again.");
    }
    // Nothing of the failed merge is visible.
    EXPECT_FALSE(host.get_registry<Widget>().contains("fresh"));
    EXPECT_FALSE(host.get_config_registry<Preset>().contains("p"));
    EXPECT_EQ(host.get_registry<Widget>().get("taken")->value, 1);
}

TEST(RuntimeContextTest, MergedEntriesKeepTheirOriginAndTheToken)
{
    RuntimeContext host;
    auto token = std::make_shared<int>(7);
    std::weak_ptr<int> watch = token;
    {
        RuntimeContext staged("libplugin.so");
        staged.get_registry<Widget>().register_("w", std::make_shared<Widget>(Widget{5}));
        staged.get_registry<Factory>().register_("f", std::make_shared<Factory>());
        host.merge(staged, token);
    }
    token.reset();
    EXPECT_FALSE(watch.expired()) << "registered values must hold the token";

    EXPECT_EQ(host.get_registry<Widget>().get("w")->value, 5);
    EXPECT_EQ(host.get_registry<Widget>().origin_of("w"), "libplugin.so");
    auto factory = host.get_registry<Factory>().get("f");
    EXPECT_EQ(factory->lifetime_token().get(), watch.lock().get()) << "a LifetimeBound value receives the token";
}

TEST(LifetimeTest, BoundPointerReleasesObjectBeforeToken)
{
    std::vector<std::string> order;
    struct Tracked {
        std::vector<std::string>* order;
        std::string name;
        ~Tracked() { order->push_back(name); }
    };
    auto token = std::make_shared<Tracked>(Tracked{&order, "token"});
    auto object = std::make_shared<Tracked>(Tracked{&order, "object"});
    order.clear();  // the temporaries above logged their destruction
    auto bound = bind_lifetime(std::move(object), std::move(token));
    ASSERT_EQ(bound->name, "object");
    bound.reset();
    EXPECT_EQ(order, (std::vector<std::string>{"object", "token"}));
}

}  // namespace
}  // namespace fairseq2

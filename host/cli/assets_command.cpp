// `fairseq2 assets list|show`: the asset cards the store finds (user cards,
// then system cards, then the cards plugins ship) and any card with its
// overlay and base chain, field by field.

#include <algorithm>
#include <iostream>
#include <optional>

#include <boost/json.hpp>

#include "cli_context.hpp"
#include "fairseq2/assets/asset_error.hpp"
#include "fairseq2/assets/asset_store.hpp"
#include "json_output.hpp"

namespace fairseq2::cli {

namespace {

using assets::AssetCard;
using assets::AssetCardData;
using assets::AssetStore;

// What `assets list` says about one card of one source.
struct CardRow {
    std::string name;
    std::string kind;  // "model" or "other"
    std::string details;
    boost::json::object json;
};

// The card `data` of `source` as the store sees it: the winning card with its
// overlay, or, for a card a higher source overrides, this data alone on the
// same base. For an overlay, the card it changes.
std::shared_ptr<const AssetCard> card_of(const AssetStore& store, const AssetStore::Source& source,
                                         const std::shared_ptr<const AssetCardData>& data)
{
    const std::string name = data->name.substr(0, data->name.find('@'));
    if (store.find(data->name).data == data)
        return store.retrieve_card(name);
    std::shared_ptr<const AssetCard> base;
    if (const auto* base_name = data->fields.if_contains("base"))
        base = store.retrieve_card(std::string(base_name->get_string()));
    return std::make_shared<const AssetCard>(name, std::vector<AssetCard::Layer>{{data, source.name}}, std::move(base));
}

CardRow describe_row(const AssetStore& store, const AssetStore::Source& source, const std::shared_ptr<const AssetCardData>& data)
{
    CardRow row;
    row.name = data->name;
    row.json = {{"name", data->name}, {"file", data->file.string()}};
    if (data->line != 0)
        row.json["line"] = data->line;
    const bool overlay = data->name.find('@') != std::string::npos;
    if (overlay)
        row.json["overlays"] = data->name.substr(0, data->name.find('@'));

    std::vector<std::string> notes;
    const AssetStore::Found winner = store.find(data->name);
    if (winner.data != data) {
        notes.push_back("overridden by the " + winner.source->name + " card");
        row.json["overridden_by"] = winner.source->name;
    }
    try {
        auto card = card_of(store, source, data);
        auto family = card->optional_string_field("model_family");
        row.kind = family ? "model" : "other";
        if (family) {
            auto arch = card->optional_string_field("model_arch");
            row.json["family"] = *family;
            row.json["arch"] = arch ? boost::json::value(*arch) : boost::json::value(nullptr);
            notes.insert(notes.begin(), *family + (arch ? "/" + *arch : std::string{}));
        }
        if (overlay)
            notes.insert(notes.begin(), "overlays '" + card->name() + "'");
    } catch (const Error& error) {
        row.kind = data->fields.contains("model_family") ? "model" : "other";
        notes.push_back(std::string("error: ") + error.what());
        row.json["error"] = error.what();
    }
    row.json["kind"] = row.kind;
    for (const auto& note : notes)
        row.details += (row.details.empty() ? "" : ", ") + note;
    return row;
}

int list_assets(CliContext& context, const std::string& kind, bool json, bool strict)
{
    // --strict: a card file that cannot be read fails the command instead of
    // being a warning.
    std::shared_ptr<AssetStore> strict_store = strict ? AssetStore::load_default(context.host().context(), true) : nullptr;
    const AssetStore& store = strict ? *strict_store : context.hub().asset_store();
    boost::json::array groups;
    for (const auto& source : store.sources()) {
        std::vector<CardRow> rows;
        for (const auto& data : source.cards->cards()) {
            CardRow row = describe_row(store, source, data);
            if (kind == "all" || row.kind == kind)
                rows.push_back(std::move(row));
        }
        if (json) {
            boost::json::array cards;
            for (auto& row : rows)
                cards.push_back(std::move(row.json));
            groups.push_back(boost::json::object{{"source", source.name}, {"location", source.location}, {"cards", std::move(cards)}});
            continue;
        }
        std::cout << source.name << " cards (" << source.location << "):\n";
        if (rows.empty())
            std::cout << "  none\n";
        std::size_t width = 0;
        for (const auto& row : rows)
            width = std::max(width, row.name.size());
        for (const auto& row : rows) {
            std::cout << "  " << row.name << std::string(width - row.name.size() + 2, ' ') << row.kind;
            if (!row.details.empty())
                std::cout << std::string(7 - row.kind.size(), ' ') << row.details;
            std::cout << "\n";
        }
    }
    if (json)
        std::cout << pretty_json(groups) << "\n";
    return 0;
}

// "model_config.vocab_info.eos_idx: 128009" lines of a field's leaves.
void print_fields(const boost::json::object& fields, const std::string& prefix)
{
    for (const auto& item : fields) {
        const std::string key = prefix + std::string(item.key());
        const auto& value = item.value();
        if (value.is_object() && !value.get_object().empty())
            print_fields(value.get_object(), key + ".");
        else if (value.is_string())
            std::cout << "  " << key << ": " << std::string_view(value.get_string()) << "\n";
        else
            std::cout << "  " << key << ": " << compact_json(value) << "\n";
    }
}

int show_asset(CliContext& context, const std::string& name, bool json)
{
    auto card = context.hub().asset_store().retrieve_card(name);
    boost::json::array cards;
    bool first = true;
    for (const AssetCard* link : card->chain()) {
        for (const auto& layer : link->layers()) {
            const AssetCardData& data = *layer.data;
            if (json) {
                boost::json::object object{{"name", data.name}, {"source", layer.source}, {"file", data.file.string()}};
                if (data.line != 0)
                    object["line"] = data.line;
                object["fields"] = data.fields;
                cards.push_back(std::move(object));
                continue;
            }
            std::cout << (first ? "" : "\n") << data.name << " (" << layer.source << " card, " << data.location() << ")\n";
            print_fields(data.fields, "");
            first = false;
        }
    }
    if (json)
        std::cout << pretty_json(boost::json::object{{"name", card->name()}, {"cards", std::move(cards)}}) << "\n";
    return 0;
}

}  // namespace

void add_assets_commands(CLI::App& app, CliContext& context, int& exit_code)
{
    auto* assets = app.add_subcommand("assets", "Inspect asset cards (user, system and plugin cards)");
    assets->require_subcommand(1);

    struct ListArgs {
        std::string kind = "all";
        bool json = false;
        bool strict = false;
    };
    auto list_args = std::make_shared<ListArgs>();
    auto* list = assets->add_subcommand("list", "List asset cards, user cards first, grouped by source");
    list->add_option("--kind", list_args->kind, "model or all (default all)")->check(CLI::IsMember({"model", "all"}));
    list->add_flag("--json", list_args->json, "Print JSON");
    list->add_flag("--strict", list_args->strict, "Fail (exit 1) when a card file cannot be read, instead of warning and leaving its cards out");
    list->callback([&context, &exit_code, list_args] {
        context.apply_globals();
        exit_code = list_assets(context, list_args->kind, list_args->json, list_args->strict);
    });

    struct ShowArgs {
        std::string name;
        bool json = false;
    };
    auto show_args = std::make_shared<ShowArgs>();
    auto* show = assets->add_subcommand("show", "Show a card, its user overlay and its base cards, field by field, with their files");
    show->add_option("NAME", show_args->name, "Card name")->required();
    show->add_flag("--json", show_args->json, "Print JSON");
    show->callback([&context, &exit_code, show_args] {
        context.apply_globals();
        exit_code = show_asset(context, show_args->name, show_args->json);
    });
}

}  // namespace fairseq2::cli

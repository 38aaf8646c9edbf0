#pragma once

// Asset cards: named mappings of fields that tell fairseq2 what a model is
// (`model_family`, `model_arch`, `model_config` overrides, `checkpoint`,
// `num_shards`) and any further fields a family reads. AssetCardData is one
// card as a file wrote it; AssetCard is a card the store resolved, with its
// `NAME@user` overlay and the base card whose fields it falls back to.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "fairseq2/version.hpp"

namespace fairseq2::assets {

// The suffix of overlay cards: `NAME@user` changes fields of `NAME`.
inline constexpr std::string_view user_overlay_suffix = "@user";

// One card as written in a card file (or in card text a plugin embeds).
struct FAIRSEQ2_API AssetCardData {
    // "llama3_2_1b", or "llama3_2_1b@user" for an overlay.
    std::string name;
    // Every field of the card, `name` and `base` included.
    boost::json::object fields;
    // The file the card was read from, or the label of embedded text.
    std::filesystem::path file;
    // The 1-based line where the card starts (0 when unknown).
    std::size_t line = 0;
    // Whether `file` is a file on disk, whose folder relative paths resolve against.
    bool on_disk = true;

    // "FILE, line N" for messages.
    std::string location() const;
};

class FAIRSEQ2_API AssetCard {
public:
    // What one file wrote for the card, and the store source it came from
    // ("user", "system", "plugin", ...).
    struct Layer {
        std::shared_ptr<const AssetCardData> data;
        std::string source;
    };

    // A field found by dotted path, and where it was written.
    struct Field {
        const boost::json::value* value = nullptr;  // null when absent
        const AssetCard* card = nullptr;            // the card of the chain that has it
        const Layer* layer = nullptr;               // the layer of that card that wrote it

        explicit operator bool() const noexcept { return value != nullptr; }
    };

    // `layers`: highest precedence first (the overlay, then the card itself);
    // never empty. `base` is the card named by the `base` field, or null.
    AssetCard(std::string name, std::vector<Layer> layers, std::shared_ptr<const AssetCard> base);

    const std::string& name() const noexcept { return name_; }
    const std::vector<Layer>& layers() const noexcept { return layers_; }
    const std::shared_ptr<const AssetCard>& base() const noexcept { return base_; }

    // This card, its base, the base of its base, ... (root last).
    std::vector<const AssetCard*> chain() const;

    // Looks the first segment of `path` ("model_config.model_dim") up in the
    // layers, then along the base chain, and descends into the value found
    // with the other segments. Absent fields give an empty Field.
    Field find_field(std::string_view path) const;

    // Throws AssetError: "The 'NAME' asset card does not have a field named 'a.b'."
    Field field(std::string_view path) const;

    // The field as a string; throws AssetError naming the card, its file and
    // the field when it is absent or not a string.
    std::string string_field(std::string_view path) const;
    std::optional<std::string> optional_string_field(std::string_view path) const;

    // A path field: a relative path resolves against the folder of the card
    // file that wrote it, `~/` against the home folder, and `file://` URIs
    // give their path. Other URIs (https://, hg://, ...) throw AssetError
    // saying where to put the file and how to point a user card at it.
    std::filesystem::path path_field(std::string_view path) const;

    // "'NAME' asset card (FILE, line N)" of the layer that wrote `field`.
    static std::string describe(const Field& field);

private:
    std::string name_;
    std::vector<Layer> layers_;
    std::shared_ptr<const AssetCard> base_;
};

}  // namespace fairseq2::assets

#pragma once

// The folders fairseq2 reads asset cards from, and where it would keep
// downloaded files. An environment variable set to "" counts as unset.

#include <filesystem>

#include "fairseq2/version.hpp"

namespace fairseq2::assets {

// <prefix>/share/fairseq2/assets, next to the lib folder of the installed
// (or built) libfairseq2_sdk.
FAIRSEQ2_API std::filesystem::path installed_asset_dir();

// $FAIRSEQ2_ASSET_DIR, else installed_asset_dir().
FAIRSEQ2_API std::filesystem::path system_asset_dir();

// $FAIRSEQ2_USER_ASSET_DIR, else $XDG_CONFIG_HOME/fairseq2/assets, else
// ~/.config/fairseq2/assets.
FAIRSEQ2_API std::filesystem::path user_asset_dir();

// $FAIRSEQ2_CACHE_DIR, else $XDG_CACHE_HOME/fairseq2/assets, else
// ~/.cache/fairseq2/assets.
FAIRSEQ2_API std::filesystem::path asset_cache_dir();

}  // namespace fairseq2::assets

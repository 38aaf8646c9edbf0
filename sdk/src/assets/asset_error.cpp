#include "fairseq2/assets/asset_error.hpp"

namespace fairseq2::assets {

AssetError::~AssetError() = default;

AssetCardNotFoundError::AssetCardNotFoundError(std::string name, const std::string& message)
    : LookupError(message), name_{std::move(name)}
{
}

AssetCardNotFoundError::~AssetCardNotFoundError() = default;

}  // namespace fairseq2::assets

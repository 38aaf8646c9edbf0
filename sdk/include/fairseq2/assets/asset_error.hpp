#pragma once

// Errors of asset cards: a card file that cannot be read, a card field of
// the wrong kind, a broken base chain, a name no card has.

#include <string>

#include "fairseq2/error.hpp"

namespace fairseq2::assets {

// A card file or card that is malformed, or a field that cannot be used as
// asked; the message names the card, the file and the field.
class FAIRSEQ2_API AssetError : public Error {
public:
    using Error::Error;
    ~AssetError() override;
};

// No card has the name asked for. The model hub turns it into
// "'NAME' is not a known model."
class FAIRSEQ2_API AssetCardNotFoundError : public LookupError {
public:
    AssetCardNotFoundError(std::string name, const std::string& message);
    ~AssetCardNotFoundError() override;

    const std::string& name() const noexcept { return name_; }

private:
    std::string name_;
};

}  // namespace fairseq2::assets

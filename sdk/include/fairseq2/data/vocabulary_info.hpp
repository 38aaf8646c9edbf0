#pragma once

// Size and special token indices of a model's vocabulary.

#include <cstdint>
#include <optional>

#include <boost/describe/class.hpp>

namespace fairseq2 {

struct VocabularyInfo {
    std::int64_t size = 0;
    std::optional<std::int64_t> unk_idx;
    std::optional<std::int64_t> bos_idx;
    std::optional<std::int64_t> eos_idx;
    std::optional<std::int64_t> pad_idx;
};

BOOST_DESCRIBE_STRUCT(VocabularyInfo, (), (size, unk_idx, bos_idx, eos_idx, pad_idx))

}  // namespace fairseq2

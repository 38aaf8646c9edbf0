#pragma once

// The two orders of the first four rows of an embedding table: fairseq's
// dictionary (and transformers' NLLB) put <s> <pad> </s> <unk> first,
// fairseq2's NLLB tokenizer <pad> <unk> <s> </s>.

#include <ATen/core/Tensor.h>

#include "fairseq2/data/vocabulary_info.hpp"

namespace fairseq2::models::transformer {

// Whether `vocab` is NLLB's layout: pad 0, unk 1, bos 2, eos 3.
bool is_nllb_layout(const VocabularyInfo& vocab);

// A copy of `table` (rows, dim; at least 4 rows) with its first four rows
// from fairseq's order to NLLB's, or back.
at::Tensor fairseq_rows_to_nllb(const at::Tensor& table);
at::Tensor nllb_rows_to_fairseq(const at::Tensor& table);

}  // namespace fairseq2::models::transformer

#include "vocabulary_rows.hpp"

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "fairseq2/error.hpp"

namespace fairseq2::models::transformer {

namespace {

at::Tensor reorder(const at::Tensor& table, std::vector<std::int64_t> order)
{
    if (table.dim() != 2 || table.size(0) < 4)
        throw CheckpointError("An embedding table has shape " + c10::str(table.sizes()) +
                              "; expected (a vocabulary of at least the 4 special tokens, model_dim).");
    at::Tensor out = table.clone();
    out.narrow(0, 0, 4).copy_(table.index_select(0, at::tensor(order, at::kLong)));
    return out;
}

}  // namespace

bool is_nllb_layout(const VocabularyInfo& vocab)
{
    return vocab.pad_idx == 0 && vocab.unk_idx == 1 && vocab.bos_idx == 2 && vocab.eos_idx == 3;
}

at::Tensor fairseq_rows_to_nllb(const at::Tensor& table)
{
    // NLLB row i holds fairseq row {1, 3, 0, 2}[i]: <pad> <unk> <s> </s>.
    return reorder(table, {1, 3, 0, 2});
}

at::Tensor nllb_rows_to_fairseq(const at::Tensor& table)
{
    // fairseq row i holds NLLB row {2, 0, 3, 1}[i]: <s> <pad> </s> <unk>.
    return reorder(table, {2, 0, 3, 1});
}

}  // namespace fairseq2::models::transformer

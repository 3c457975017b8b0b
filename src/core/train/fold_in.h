// fold_in.h: embeddings for users who were not in training (or whose
// interactions changed), solved against a model's fixed item embeddings.
//
// Each user is solved alone, with the training's loss and optimiser applied
// to its row only: binary cross-entropy over its items (label 1) and, per
// item, `negatives` items it does not have drawn uniformly (label 0), L2
// `l2` on the row, row-wise Adagrad with rate `lr`, for `epochs` passes over
// its items in a seeded order, from N(0, init_std^2).  The items do not move,
// so users are independent: they are spread over threads, and a user's
// embedding depends only on (seed, its key, its items), never on the other
// users or the thread count.
//
// Cost: epochs * items * (1 + negatives) * 2 dim multiply-adds per user.
// Memory: nothing beyond the output (a few dim-sized buffers per thread).
// Cancellation: polls the interrupt check before each user and each of its
// passes; throws Interrupted("fold-in cancelled").
#ifndef RAID_CORE_TRAIN_FOLD_IN_H
#define RAID_CORE_TRAIN_FOLD_IN_H

#include <cstdint>

#include "mf.h"

namespace raid {

// Fills out (n_users x dim, row-major) with the embeddings of users whose
// item rows are rows[offsets[u] .. offsets[u + 1]) (each user's rows
// ascending and distinct, at least one), against items (n_items x dim).
// keys[u] seeds user u (its id).  Uses o.dim, epochs, lr, l2, negatives,
// init_std, seed and threads.  Throws InvalidArgument for bad sizes, rows or
// options, DataError if an item embedding or a result is not finite.
void FoldIn(const float* items, int64_t n_items, const int64_t* offsets, const int32_t* rows,
            const uint64_t* keys, int64_t n_users, const MfOptions& o, float* out);

}  // namespace raid

#endif  // RAID_CORE_TRAIN_FOLD_IN_H

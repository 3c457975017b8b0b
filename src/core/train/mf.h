// mf.h: matrix factorisation trained with sampled binary cross-entropy.
//
// Vocabulary:
//   U, V        user and item embeddings, row-major n x dim float tables
//   score       s_ij = <u_i, v_j>
//   positive    one training pair (i, j) with label 1
//   negative    an item sampled uniformly among those user i has not trained
//               on (rejection sampling against the sorted training row, at
//               most kNegativeRetries tries each), label 0; a user who trained
//               on every item gets none
//   sample      a positive or a negative; the loss of an epoch is the mean
//               binary cross-entropy per sample (the L2 term is not included)
//   group       one positive with its negatives: the unit of an SGD update
//   epoch       one pass over all positives in a seeded random order
//   chunk       up to `chunk` consecutive positives of the epoch order; Step()
//               runs one chunk so that the caller can check for cancellation
//
// Objective of a group (user i, positive j, negatives n_1..n_k):
//   sum_samples BCE(sigmoid(s), y) + l2/2 * (|u_i|^2 + sum over items |v|^2)
// i.e. L2 on the touched rows only (the usual sparse-SGD form).
//
// Optimiser: Hogwild SGD (Niu, Recht, Re & Wright, NIPS 2011) with row-wise
// Adagrad (one accumulator per embedding row: G_r += mean_k g_rk^2, then
// r -= lr * g_r / sqrt(G_r + eps)), the sparse-embedding optimiser of DLRM
// and FBGEMM (Naumov et al., arXiv 1906.00091).  One accumulator per row
// needs one sqrt per update instead of dim, and the state is dim times
// smaller than per-coordinate Adagrad or Adam.  Within a group the items are
// updated one by one with the user's current vector and the user's gradient
// is accumulated and applied once at the end (as in word2vec).  Threads run
// an OpenMP parallel for over the positives of a chunk and update the shared
// tables without locks.
//
// Defaults: tuned on MovieLens 100K (all 100,000 ratings as interactions,
// leave-one-out with seed 42, dim 64, 4 negatives) over lr {0.02 .. 0.2} x
// l2 {0 .. 0.1} x init_std {0.01, 0.1, 0.3} x epochs {10 .. 40}: lr 0.1,
// l2 0.03, init_std 0.1, 30 epochs give NDCG@10 0.18-0.19 and HR@10 about
// 0.31 against the popularity baseline's 0.065 and 0.122 (seeds 1, 2, 3 give
// 0.18-0.20).  More than 0.05 of L2 underfits, less overfits after ~20 epochs.
//
// Determinism: every random choice is a counter-based hash of (seed, epoch,
// position in the epoch order); with one thread the same seed gives
// bit-identical embeddings.  With more threads the Hogwild interleaving
// makes results vary slightly from run to run.
#ifndef RAID_CORE_TRAIN_MF_H
#define RAID_CORE_TRAIN_MF_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../common.h"
#include "../data/dataset.h"

namespace raid {

// Options of the MF trainer (defaults tuned on MovieLens 100K, see above).
struct MfOptions {
    int32_t dim = 64;       // embedding dimension, 1 .. 1024
    int32_t epochs = 30;    // passes over the positives, 1 .. 10000
    double lr = 0.1;        // row-wise Adagrad step, (0, 10]
    int32_t negatives = 4;  // negatives per positive, 0 .. 1000
    double l2 = 0.03;       // L2 penalty on touched rows, [0, 10]
    double init_std = 0.1;  // std. deviation of the initial weights, (0, 10]
    uint64_t seed = 42;     // every random choice derives from it
    int32_t threads = 0;    // OpenMP threads, 0 = default, 0 .. 1024
    int64_t chunk = 65536;  // positives per Step(), >= 1

    // Throws InvalidArgument naming the first bad field, e.g.
    // option "dim" must be between 1 and 1024, got 0
    void Validate() const;
};

// Progress after a Step().
struct MfProgress {
    int32_t epoch = 0;            // epochs completed so far
    int32_t epochs = 0;           // total epochs
    double fraction = 0.0;        // work done, 0..1
    bool epoch_finished = false;  // this step completed an epoch
    double loss = 0.0;            // mean loss of the last completed epoch
    double epoch_seconds = 0.0;   // wall time of the last completed epoch (its Step() calls)
};

// What training did: per-epoch losses and times.
struct MfSummary {
    int32_t epochs_completed = 0;
    std::vector<double> epoch_loss;
    std::vector<int64_t> epoch_samples;  // positives + negatives drawn per epoch
    std::vector<double> epoch_seconds;
    double total_seconds = 0.0;
};

// Called after each completed epoch with (epoch, loss, seconds); epoch is 1-based.
using MfProgressCallback = std::function<void(int32_t epoch, double loss, double seconds)>;
// Called between chunks; returning true stops training with Interrupted.
using MfCancelCallback = std::function<bool()>;

// Trains user and item embeddings on a finalized dataset (which must outlive it).
class MfTrainer {
  public:
    // Validates the options and initialises U and V ~ N(0, init_std^2) from the seed.
    MfTrainer(const Dataset& data, const MfOptions& options);

    // Runs one chunk; returns true once every epoch has run.  Throws DataError
    // if an epoch ends with a non-finite loss or embedding.
    bool Step(MfProgress* progress = nullptr);

    // Runs Step() to the end, reporting each epoch and checking cancel between chunks.
    void Run(const MfProgressCallback& on_epoch = nullptr,
             const MfCancelCallback& cancel = nullptr);

    bool done() const { return done_; }
    int32_t dim() const { return options_.dim; }
    const MfOptions& options() const { return options_; }
    const MfSummary& summary() const { return summary_; }

    // Row-major n_users x dim and n_items x dim embeddings as of the last
    // completed epoch (the initial weights before the first).
    const AlignedFloats& user_embeddings() const { return U_; }
    const AlignedFloats& item_embeddings() const { return V_; }

  private:
    void BeginEpoch();
    void EndEpoch();
    void Export();
    void TrainRange(int64_t begin, int64_t end);
    void FillProgress(MfProgress* progress, bool epoch_finished) const;

    const Dataset& data_;
    MfOptions options_;
    int threads_;
    // Training tables: row r is [dim weights, Adagrad accumulator, padding],
    // row_stride_ floats, a whole number of 64-byte cache lines, so that a
    // row and its accumulator share lines with no other row (Hogwild threads
    // then contend only when they really touch the same row).
    int64_t row_stride_ = 0;
    AlignedFloats user_rows_, item_rows_;
    AlignedFloats U_, V_;  // compact n x dim copies, refreshed after every epoch
    AlignedFloats grad_;   // per-thread user-gradient buffers
    struct Pair {
        int32_t user;
        int32_t item;
    };
    std::vector<Pair> order_;  // training pairs in this epoch's order
    int32_t epoch_ = 0;        // epochs completed
    int64_t cursor_ = 0;       // next position in order_
    double epoch_loss_sum_ = 0.0;
    int64_t epoch_samples_ = 0;
    double epoch_time_ = 0.0;
    bool done_ = false;
    std::string failure_;  // set once training diverged
    MfSummary summary_;
};

}  // namespace raid

#endif  // RAID_CORE_TRAIN_MF_H

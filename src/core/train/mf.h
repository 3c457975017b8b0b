// mf.h: matrix factorisation trained with sampled binary cross-entropy.
//
// Vocabulary:
//   U, V        user and item embeddings, row-major n x dim float tables
//   score       s_ij = <u_i, v_j>
//   positive    one training pair (i, j) with label 1
//   negative    an item sampled uniformly among the items of the positive's
//               item group (see Parallelism) that user i has not trained on
//               (rejection sampling against the sorted training row, at most
//               kNegativeRetries tries each), label 0; a user who trained on
//               every item gets none
//   sample      a positive or a negative; the loss of an epoch is the mean
//               binary cross-entropy per sample (the L2 term is not included)
//   group       one positive with its negatives: the unit of an SGD update
//   user group, item group
//               one of the P parts the users (items) are dealt into every
//               epoch; a block is the positives of one user group and one
//               item group (see Parallelism)
//   epoch       one pass over all positives: P sub-steps of P blocks each
//               (see Parallelism), every block in a seeded order
//   position    the positives of an epoch are numbered sub-step by sub-step;
//               positions [lo, hi) of a sub-step of n positives stand for the
//               same fraction [lo/n, hi/n) of each of its blocks
//   chunk       `chunk` consecutive positions (about as many positives);
//               Step() runs one chunk so that the caller can check for
//               cancellation
//
// Objective of a group (user i, positive j, negatives n_1..n_k):
//   sum_samples BCE(sigmoid(s), y) + l2/2 * (|u_i|^2 + sum over items |v|^2)
// i.e. L2 on the touched rows only (the usual sparse-SGD form).
//
// Optimiser: SGD with row-wise Adagrad (one accumulator per embedding row:
// G_r += mean_k g_rk^2, then r -= lr * g_r / sqrt(G_r + eps)), the
// sparse-embedding optimiser of DLRM and FBGEMM (Naumov et al., arXiv
// 1906.00091).  One accumulator per row needs one sqrt per update instead of
// dim, and the state is dim times smaller than per-coordinate Adagrad or
// Adam.  Within a group the items are updated one by one with the user's
// current vector and the user's gradient is accumulated and applied once at
// the end (as in word2vec).
//
// Parallelism: conflict-free block scheduling, as in DSGD (Gemulla, Nijkamp,
// Haas & Sismanis, KDD 2011) and FPSGD/LIBMF (Chin, Zhuang, Juan & Lin, ACM
// TIST 2015).  Every epoch deals the users into P groups and the items into
// P groups, which cuts the positives into P x P blocks (user group b, item
// group g), and runs as P sub-steps (strata): sub-step k trains the blocks
// (b, pi((b + sigma(k)) mod P)) for b = 0 .. P-1, each on one thread from
// start to end in a shuffled order, the blocks of a sub-step in parallel.
// sigma and pi are permutations seeded per epoch; every block is trained once
// per epoch, and no two blocks of a sub-step share a user or an item, so
// threads never write the same row (no locks, and no cache-line ping-pong on
// popular items as with Hogwild, Niu et al. NIPS 2011) and the updates of
// each row happen in an order fixed by the seed.
//   P = min(kMaxStrata, n_items / kMinGroupItems), at least 1: a function of
//   the data, never of the thread count (LIBMF likewise uses more blocks
//   than threads).  Threads take the blocks of a sub-step dynamically, so a
//   thread slowed down by another process simply takes fewer blocks; at most
//   P threads do useful work.  Item groups of at least kMinGroupItems items
//   keep the negatives (below) diverse; a tiny catalogue gets P = 1, i.e.
//   plain sequential SGD with uniform negatives.
//   Dealing: the users (items) are ranked by training count once, and every
//   epoch each run of P consecutive ranks is spread over the groups by
//   a seeded permutation, so each group gets the same number of rows (+-1)
//   and about the same number of positives (the blocks of a sub-step are then
//   balanced), and the groups change from epoch to epoch.
//   Deviation from uniform negatives: a block may only touch the items of its
//   item group, so the negatives of a positive in block (b, g) are drawn
//   uniformly from item group g (still excluding the user's training items).
//   The item groups are equally large and hold about equal shares of the
//   positives, so over an epoch every item is about equally likely to be a
//   negative; since the groups are re-dealt every epoch, every item is a
//   candidate negative of every user across epochs.
//
// Defaults: tuned on MovieLens 100K (BENCHMARKS.md, "Quality on MovieLens
// 100K", with the grid they were chosen from).
//
// Defense: SetDefense() before the first Step() turns on the RAID defense
// (mf_defense.h) for one protected attribute; each further call adds one
// more attribute (at most kMaxAttributes), with its own classes and its own
// pull strength.  From epoch phase1_epochs on (taken from the first
// attribute's options, as are xi and the recomputation schedule), the
// targets of every attribute whose pull runs are recomputed at sub-step
// boundaries every xi sub-steps and the kernel adds the pull
// sum_a eta_a * D_a,i to the gradient of each group of user i (attribute a
// contributing only if the user has a class of a).  Pulls toward separate
// barycenters, one per attribute, rather than one pull toward the joint
// classes: the joint classes of two attributes are many and small, and
// their barycenter estimates mostly noise (BENCHMARKS.md, "Several
// attributes").  Step() never runs a chunk across a recomputation point.
// With phase1_epochs >= epochs there is no Phase II: the model is the
// undefended one (the summary says so: zero recomputations, no Phase II
// time).
//
// Cancellation: the kernel polls the interrupt check (common.h) every
// kPollWork multiply-adds of SGD work (a few dozen microseconds), the
// initialisation, the epoch schedule and the export every few thousand rows;
// an interrupted Step() throws Interrupted("training cancelled") and the
// trainer refuses every later Step() (it may only be freed).
//
// Memory (EstimateBytes, checked against the budget before allocating), for
// nu users, ni items, T training pairs, S = row stride (dim + 1 rounded up
// to 16 floats) and t threads:
//   4 (nu + ni) S        training tables (weights + Adagrad accumulator)
//   4 (nu + ni) dim      the exported U and V
//   8 T                  this epoch's shuffled pairs
//   24 (nu + ni)         groups, ranks, item counts
//   4 t (dim + 32)       per-thread user gradients
//
// Determinism: every random choice is a counter-based hash of (seed, epoch,
// and a block or a position), each block runs on one thread, and the loss is
// summed per block and then over blocks in a fixed order, so the same seed
// gives bit-identical embeddings and losses for any thread count and any
// chunk size.
#ifndef RAID_CORE_TRAIN_MF_H
#define RAID_CORE_TRAIN_MF_H

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../common.h"
#include "../data/dataset.h"
#include "../options.h"
#include "../raid_results.h"
#include "adversary.h"
#include "mf_defense.h"

namespace raid {

// Options of the MF trainer: the fields, defaults and ranges of
// RAID_MF_OPTIONS (raid_options.h).
struct MfOptions : raid_mf_options {
    MfOptions() : raid_mf_options() { SetOptionDefaults(RAID_OPTION_GROUP_MF, this); }
    MfOptions(const raid_mf_options& o) : raid_mf_options(o) {}  // NOLINT: implicit by design

    // Throws InvalidArgument naming the first bad field, e.g.
    // option "dim" must be between 1 and 1024, got 0
    void Validate() const { ValidateOptions(RAID_OPTION_GROUP_MF, this); }
};

// Progress after a Step().
// (raid_results.h; epoch_seconds is the wall time of the epoch's Step() calls).
struct MfProgress : raid_progress {
    MfProgress() : raid_progress() {}
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

    // Turns the RAID defense on for one more protected attribute (see
    // Defense above): user_class has one entry per user (-1 = no class).
    // Throws InvalidArgument after the first Step(), for a size mismatch,
    // fewer than 2 classes or a class with fewer than 2 users (naming the
    // class), a bad option (naming it), more than kMaxAttributes attributes,
    // or options whose schedule (phase1_epochs, xi) differs from the first
    // attribute's.
    void SetDefense(const std::vector<int32_t>& user_class, int32_t classes,
                    const DefenseOptions& options);

    // Turns on the adversarial baseline (adversary.h) instead of the RAID
    // defense: from epoch `start` on, at the beginning of every epoch the
    // adversary trains `epochs` epochs on the current user rows, and each
    // training group of a user with a class then adds -weight * dCE/du (its
    // gradient, reversed) to the user's gradient for the whole epoch.
    // Throws InvalidArgument after the first Step(), with a RAID defense, for
    // a size mismatch or bad options.
    void SetAdversary(const std::vector<int32_t>& user_class, int32_t classes,
                      const AdversaryOptions& options, double weight, int32_t epochs, int32_t start);
    // The adversary (null when off), and its accuracy on the trained users
    // at the start of each epoch it ran (before its own training that epoch).
    const Adversary* adversary() const { return adversary_.get(); }
    const std::vector<double>& adversary_accuracy() const { return adversary_accuracy_; }

    // Attribute a's defense summary (all zeros without a defense); the
    // Phase I and II times are the trainer's, the same for every attribute.
    DefenseSummary defense_summary(int32_t attribute = 0) const;

    // Changes attribute a's pull strength from the next Step() on (0 pauses
    // that pull and its recomputations); throws InvalidArgument without that
    // attribute or for eta outside [0, 1e6].
    void SetDefenseEta(double eta, int32_t attribute = 0);

    // Attribute a's defense (null when off); the number of attributes.
    const MfDefense* defense(int32_t attribute = 0) const {
        return attribute >= 0 && attribute < defense_count() ? defenses_[attribute].get() : nullptr;
    }
    int32_t defense_count() const { return static_cast<int32_t>(defenses_.size()); }

    static constexpr int32_t kMaxAttributes = 8;

    // Runs Step() to the end, reporting each epoch and checking cancel between chunks.
    void Run(const MfProgressCallback& on_epoch = nullptr,
             const MfCancelCallback& cancel = nullptr);

    bool done() const { return done_; }
    int32_t dim() const { return options_.dim; }
    int32_t n_users() const { return data_.n_users(); }
    const MfOptions& options() const { return options_; }
    const MfSummary& summary() const { return summary_; }

    // Estimated bytes of a trainer's working set (see Memory above).
    static double EstimateBytes(int64_t n_users, int64_t n_items, int64_t n_train, int32_t dim,
                                int threads);

    // Row-major n_users x dim and n_items x dim embeddings as of the last
    // completed epoch (the initial weights before the first).
    const AlignedFloats& user_embeddings() const { return U_; }
    const AlignedFloats& item_embeddings() const { return V_; }

    // Warm start: replaces the initial weights of the user rows with
    // user_given[i] != 0 by users[i] (n_users x dim, row-major) and of the
    // item rows with item_given[j] != 0 by items[j]; the other rows keep
    // their seeded N(0, init_std^2) start and every Adagrad accumulator
    // starts at zero.  Either table may be null (none given).  Throws
    // InvalidArgument after the first Step() or for a non-finite given row.
    void SetInitialEmbeddings(const float* users, const uint8_t* user_given, const float* items,
                              const uint8_t* item_given);

    // Replaces the user embeddings (n_users x dim, row-major) once training
    // is done, for a post-training step such as the defense's final
    // alignment; the defense's class distance after training is measured
    // again.  Throws InvalidArgument before training is done or for a null
    // or non-finite table.
    void SetUserEmbeddings(const float* rows);

    // Bounds on P, the number of user groups and of item groups (see
    // Parallelism above).
    static constexpr int32_t kMaxStrata = 16;
    static constexpr int32_t kMinGroupItems = 64;
    // Multiply-adds of SGD work between two polls of the interrupt check.
    static constexpr int64_t kPollWork = int64_t{1} << 17;

  private:
    struct Pair {
        int32_t user;
        int32_t item;
    };

    bool StepUnguarded(MfProgress* progress);
    void BeginEpoch();
    void DealGroups(const std::vector<int32_t>& ranked, uint64_t tag,
                    std::vector<int32_t>* group) const;
    void EndEpoch();
    void Export();
    void TrainRange(int64_t begin, int64_t end);
    void TrainBlock(int32_t block, int64_t begin, int64_t end, float* gu, StopFlag* stop);
    void FillProgress(MfProgress* progress, bool epoch_finished) const;
    void PlanRecomputations();
    bool InPhase2() const;
    void RebuildPull();

    const Dataset& data_;
    MfOptions options_;
    int threads_;
    // Training tables: row r is [dim weights, Adagrad accumulator, padding],
    // row_stride_ floats, a whole number of 64-byte cache lines, so that a
    // row and its accumulator share lines with no other row (threads training
    // different blocks then never write to the same line).
    int64_t row_stride_ = 0;
    AlignedFloats user_rows_, item_rows_;
    AlignedFloats U_, V_;  // compact n x dim copies, refreshed after every epoch
    AlignedFloats grad_;   // per-thread user-gradient buffers, grad_stride_ floats apart
    int64_t grad_stride_ = 0;
    // Fixed at construction: users and items by decreasing training count.
    std::vector<int32_t> ranked_users_, ranked_items_;
    int32_t strata_ = 1;  // P
    // This epoch's schedule, rebuilt by BeginEpoch():
    //   user_group_[i], item_group_[j]   the group of user i, of item j
    //   group_users_, group_items_       the users (items) of group g, ascending,
    //                                    at [start[g], start[g + 1]) of the *_start_
    //   order_                           the training pairs block by block, block
    //                                    c = b * P + g at [block_start_[c], [c + 1]),
    //                                    each block shuffled
    //   schedule_[k * P + b]             block of user group b in sub-step k
    //   substep_start_[k]                first epoch position of sub-step k
    //   block_loss_, block_samples_      loss sum and sample count per block,
    //                                    summed over the blocks by EndEpoch()
    std::vector<int32_t> user_group_, item_group_;
    std::vector<int32_t> group_users_, group_items_;
    std::vector<int64_t> group_user_start_, group_item_start_;
    std::vector<Pair> order_;
    std::vector<int64_t> block_start_;
    std::vector<int32_t> schedule_;
    std::vector<int64_t> substep_start_;
    std::vector<double> block_loss_;
    std::vector<int64_t> block_samples_;
    int32_t epoch_ = 0;   // epochs completed
    int64_t cursor_ = 0;  // next epoch position (see "position" above)
    double epoch_time_ = 0.0;
    bool done_ = false;
    bool cancelled_ = false;  // a Step() was interrupted: the state is unusable
    std::string failure_;     // set once training diverged
    // The defenses, one per attribute (empty when off): recomputation
    // positions of this epoch (ascending, distinct), the next one to run;
    // per attribute, whether its targets exist yet and whether it resumes
    // from a pause (recompute first).  With several attributes, pull_ holds
    // sum_a eta_a D_a (zero rows for users without any class) and has_class_
    // whether a user has a class of any attribute, rebuilt after every
    // recomputation or change of strength; with one, the kernel reads the
    // defense's own displacements.
    std::vector<std::unique_ptr<MfDefense>> defenses_;
    // The adversarial baseline (SetAdversary): the adversary, its users'
    // classes, the reversed force of the current epoch (n_users x dim) and
    // whether it is on this epoch.
    std::unique_ptr<Adversary> adversary_;
    std::vector<int32_t> adversary_class_;
    AlignedFloats adversary_force_;
    std::vector<double> adversary_accuracy_;
    double adversary_weight_ = 0.0;
    int32_t adversary_epochs_ = 0;
    int32_t adversary_start_ = 0;
    bool adversary_on_ = false;
    std::vector<int64_t> recompute_pos_;
    size_t next_recompute_ = 0;
    std::vector<char> pull_active_;
    std::vector<char> resume_;
    AlignedFloats pull_;
    std::vector<int32_t> has_class_;
    double measure_seconds_ = 0.0;  // class-distance time, kept out of the epoch times
    MfSummary summary_;
};

}  // namespace raid

#endif  // RAID_CORE_TRAIN_MF_H

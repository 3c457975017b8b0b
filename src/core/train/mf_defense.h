// mf_defense.h: the RAID defense (arXiv 2504.11510) as the MF trainer runs it.
//
// Vocabulary:
//   class         user_class[u] in 0 .. classes-1, or -1 for a user without
//                 one (trained as usual, never pulled, not in the barycenter)
//   Phase I       the first phase1_epochs epochs: recommendation loss only
//   Phase II      the remaining epochs: L_rec + eta * L_def
//   step          one sub-step of the block schedule (mf.h: an epoch has P);
//                 the barycenter and the targets are recomputed at the start
//                 of Phase II and then every xi steps, always at a sub-step
//                 boundary, so chunking never moves a recomputation
//   sample        per class, up to `sample` users (all if 0 or the class is
//                 smaller) drawn once, seeded, without replacement: the
//                 clouds of the barycenter (a fixed sample keeps warm starts
//                 meaningful)
//   target        t_i, the entropic-map image of user i on the barycenter
//                 support (ot/defense.h), for every user with a class
//   displacement  D_i = t_i - (debiasing term), see Debiasing
//   pull          in the SGD kernel, each training group (one positive and
//                 its negatives, mf.h) of a user with a class adds
//                 -eta * D_i to the user's gradient
//
// Scaling of eta: with the couplings fixed, sum_j T_c[i,j] |u_i - z_j|^2 =
// a_i |u_i - t_i|^2 + (terms without u_i), so the pull direction is exact; the
// weight a_i = 1/n_c of the paper's L_def depends on the class sizes, so raid
// weighs user i's term by its number of training groups instead: the trained
// objective is
//   sum over groups (BCE + L2) + eta * sum_i (n_i / 2) |u_i - t_i|^2,
// i.e. eta is the strength of the pull relative to one group's BCE gradient,
// whatever the number of users, classes or interactions.  Row-wise Adagrad
// sees the pull like any other gradient.
//
// Debiasing: the displacement of user i of class c is
//   D_i = T_{c->nu}(u_i) - T_{c->c}(u_i),
// the entropic map to the barycenter minus the entropic self-map of the class
// sample (the gradient of the Sinkhorn divergence S(mu_c, nu), Feydy et al.
// 2019).  The blur's shrinkage toward local means appears in both terms and
// cancels, so users are not dragged to the global mean (spread survives) and
// only the class difference is removed.  The kernel adds the constant force
// -eta * D_i (the gradient at the last recomputation) to each group's user
// gradient; recomputing every xi steps keeps it current.
//
// Recomputation: Barycenter() (ot/barycenter.h) continues from the previous
// support and potentials (warm start): barycenter_iters updates per
// recomputation (the first one runs up to kColdBarycenterIters), each one
// Sinkhorn solve per class (epsilon = tau * median cost between the samples
// and the support, log domain, capped at sinkhorn_iters, stopping at
// sinkhorn_tol); then the self-transport of each class sample
// (SinkhornSymmetric, warm-started, one pass over the cost per iteration);
// the displacements come from the last couplings' potentials g_c, the
// support they were computed against and the self potentials, through
// DebiasedDisplacements() (ot/defense.h): float GEMMs and exps, blocks of
// users of all classes in one parallel region.  The per-class solves are
// small independent problems and run one class per thread.
//
// Cost: a recomputation is a fixed cost (cost matrices, self-transports, the
// maps of every user); xi = 16 = kMaxStrata recomputes once per epoch on
// catalogues of 1,024 items or more, and spans more than one epoch on smaller
// ones (the measurements behind the choice: BENCHMARKS.md, "Quality on
// MovieLens 100K").
//
// Cancellation: the barycenter updates, the Sinkhorn iterations (and their
// row loops on large problems), the large distance products and the map
// blocks poll the interrupt check (common.h); Recompute() then throws
// Interrupted and the trainer's Step() reports "training cancelled".
//
// Memory (EstimateBytes, checked against the budget by the constructor),
// for nu users, K classes, s_c users in the sample of class c (n_c if
// sample = 0), support size m, dim d and t threads:
//   4 nu d + 12 nu                   displacements, classes, members
//   sum_c 8 s_c d                    the gathered samples (double)
//   sum_c (24 s_c m + 16 m d)        cost matrix kept per class, its transpose
//                                    and the plan in a solve, T^T X and Z
//   sum_c (12 s_c^2 + 4 s_c d)       self-transport cost (double) and float Gram
//   sum_c 8 (m + s_c) d              the prepared maps (float)
//   t 4 * 64 (m + max s_c + 2 d)     per-thread logits and blocks of the maps
//   8 K 256 d + 48 * 256^2           the class-distance measurement
// i.e. with sample = 0 it grows with the square of the class sizes.
//
// Determinism: sampling is seeded; every OT reduction runs sequentially
// inside one row or column (or in a fixed order), and the recomputations
// happen at fixed epoch positions, so results stay bit-identical for any
// thread count and chunk size.
#ifndef RAID_CORE_TRAIN_MF_DEFENSE_H
#define RAID_CORE_TRAIN_MF_DEFENSE_H

#include <cstdint>
#include <vector>

#include "../common.h"
#include "../options.h"
#include "../raid_results.h"
#include "../ot/barycenter.h"

namespace raid {

// Smallest tau the defense accepts.  The entropic maps run in single
// precision with logits of order 1 / tau, so float's relative error of 6e-8
// becomes an absolute logit error of ~6e-8 / tau: 0.06 at 1e-6, garbage
// (and, near 1e-20, non-finite costs) far below; the log-domain Sinkhorn also
// stops reaching any useful tolerance below ~1e-4 (its marginal error stays
// near 1 at 1e-6 on MovieLens-sized data).
constexpr double kMinTau = 1e-6;

// Options of the RAID defense.  Defaults tuned on MovieLens 100K (BENCHMARKS.md,
// "The RAID defense (0.1.0)").  tau = 1 is a wide blur, which the debiased map
// (see Debiasing) makes harmless: it estimates the class shift from the stable
// low-frequency part of the distributions instead of sampling noise in 64
// dimensions.
// The fields, defaults and ranges are those of RAID_DEFENSE_OPTIONS
// (raid_options.h).
struct DefenseOptions : raid_defense_options {
    DefenseOptions() : raid_defense_options() { SetOptionDefaults(RAID_OPTION_GROUP_DEFENSE, this); }
    DefenseOptions(const raid_defense_options& o) : raid_defense_options(o) {}  // NOLINT

    // Throws InvalidArgument naming the first bad field.
    void Validate() const { ValidateOptions(RAID_OPTION_GROUP_DEFENSE, this); }
};

// What the defense did (mirrors raid_defense_summary).
struct DefenseSummary : raid_defense_summary {
    DefenseSummary() : raid_defense_summary() {}
};

// The OT side of the defense: samples, barycenter state, targets.
class MfDefense {
  public:
    // Validates classes (>= 2, each with >= 2 users) and options; copies user_class.
    MfDefense(const std::vector<int32_t>& user_class, int32_t classes,
              const DefenseOptions& options, int32_t dim, uint64_t seed, int threads);

    // Estimated bytes of a defense with these class sizes (see Memory above).
    static double EstimateBytes(const std::vector<int64_t>& class_sizes, int64_t n_users,
                                const DefenseOptions& options, int32_t dim, int threads);

    // Recomputes the barycenter and every target from the user rows (row
    // stride `stride` floats).
    void Recompute(const float* user_rows, int64_t stride);

    // Class distance and spread of the current rows into the *_before (before
    // = true) or *_after fields.  Returns the seconds spent.
    double Measure(const float* user_rows, int64_t stride, bool before);

    const DefenseOptions& options() const { return options_; }
    const std::vector<int32_t>& user_class() const { return user_class_; }

    // Changes the pull strength for the steps that follow (a leakage target
    // adapts it between epochs; 0 pauses the pull); throws InvalidArgument
    // outside [0, 1e6].
    void SetEta(double eta);
    const float* displacements() const { return targets_.data(); }
    DefenseSummary& summary() { return summary_; }
    const DefenseSummary& summary() const { return summary_; }

    static constexpr int32_t kColdBarycenterIters = 10;
    static constexpr int32_t kDistanceSample = 256;  // users per class for W2

  private:
    std::vector<RowMatrixD> Gather(const float* user_rows, int64_t stride,
                                   const std::vector<std::vector<int32_t>>& rows) const;

    DefenseOptions options_;
    std::vector<int32_t> user_class_;
    int32_t classes_;
    int32_t dim_;
    uint64_t seed_;
    int threads_;
    std::vector<std::vector<int32_t>> members_;  // users of each class, ascending
    std::vector<std::vector<int32_t>> sample_;   // the barycenter sample of each class
    std::vector<std::vector<int32_t>> probe_;    // the W2 sample of each class
    BarycenterState state_;
    std::vector<SinkhornPotentials> self_pots_;  // per class: sample to itself
    AlignedFloats targets_;                      // n_users x dim displacements D_i
    DefenseSummary summary_;
};

}  // namespace raid

#endif  // RAID_CORE_TRAIN_MF_DEFENSE_H

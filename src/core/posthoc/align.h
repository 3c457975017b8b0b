// align.h: two post-hoc alignments of trained user embeddings that a
// sceptical user tries before a full defense, offered as baselines
// (defense => 'center' and 'gaussian').  Both move each attribute class onto
// common statistics computed from the users themselves:
//
//   kCenter     x' = m + (x - m_c): every class's mean becomes the pooled
//               mean m; nothing else changes.
//   kGaussian   x' = b + M_c (x - m_c), the W2-optimal (Monge) map from
//               N(m_c, A_c) to the classes' Gaussian Wasserstein barycenter
//               N(b, S): b = sum_c w_c m_c = m, and S the fixed point of
//               S = S^-1/2 (sum_c w_c (S^1/2 A_c S^1/2)^1/2)^2 S^-1/2
//               (Alvarez-Esteban, del Barrio, Cuesta-Albertos & Matran,
//               J. Math. Anal. Appl. 2016), weights w_c = n_c / n.  After the
//               map every class has sample mean b and covariance S.
//
// Classes with no more users than dimensions have a singular covariance;
// they keep their residuals (only their mean moves, M_c = I) and take no
// part in S, as in the defense's own last step (null_align.h).
//
// Exactly equal sample statistics are what these baselines are for: they
// show what alignment to the sample does to cross-validated attackers
// (below-chance accuracy, the artifact null_align.h avoids), next to RAID.
//
// Cost: O(n d^2 + K d^3 per fixed-point iteration); one thread, fixed
// summation order.  Memory: see PosthocAlignMemory.
#ifndef RAID_CORE_POSTHOC_ALIGN_H
#define RAID_CORE_POSTHOC_ALIGN_H

#include <cstdint>
#include <vector>

#include "../linalg.h"
#include "../raid_results.h"

namespace raid {

enum class PosthocAlignMode { kCenter, kGaussian };

// (raid_results.h: classes, moved users, root-mean-square move, the
// fixed point's iterations and last relative change, seconds)
struct PosthocAlignSummary : raid_posthoc_summary {
    PosthocAlignSummary() : raid_posthoc_summary() {}
};

// Estimated bytes PosthocAlign allocates.
double PosthocAlignMemory(int64_t n, int32_t dim, int32_t classes, PosthocAlignMode mode);

// The covariance S of the Wasserstein barycenter of the centred Gaussians
// N(0, covs[c]) with weights w (summing to 1), by the fixed point above from
// the weighted mean of the covs, until the relative change (Frobenius) is at
// most tol or after max_iterations; *iterations and *change report them.
Eigen::MatrixXd GaussianBarycenterCovariance(const std::vector<Eigen::MatrixXd>& covs,
                                             const std::vector<double>& w, int max_iterations,
                                             double tol, int32_t* iterations, double* change);

// Moves the rows of every class (user_class[r] in 0 .. classes-1, -1 = none)
// of the n x dim table `rows` (row stride `stride`).  Throws InvalidArgument
// for bad sizes or classes, fewer than 2 classes or an empty class;
// Interrupted if asked to stop (some rows may have moved: align a copy).
PosthocAlignSummary PosthocAlign(float* rows, int64_t stride, int64_t n, int32_t dim,
                                 const std::vector<int32_t>& user_class, int32_t classes,
                                 PosthocAlignMode mode);

}  // namespace raid

#endif  // RAID_CORE_POSTHOC_ALIGN_H

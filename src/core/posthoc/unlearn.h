// unlearn.h: post-training attribute unlearning (AU-PoT, after Li et al.,
// "Making Users Indistinguishable: Attribute-wise Unlearning in Recommender
// Systems", ACM MM 2023, arXiv 2310.05847), a baseline users compare RAID
// against (defense => 'unlearn').
//
// After normal training the user embeddings U are optimised, with the item
// embeddings V fixed, to minimise
//   L(U) = mean over class pairs (c, c') of MMD^2(U_c, U_c')
//          + weight * mean_u (u - u0)^T G (u - u0) / s^2,   G = V^T V / (tr(V^T V) / d)
// MMD^2 is the biased (V-statistic) squared maximum mean discrepancy with the
// Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 s^2)), s the median distance
// between users of a seeded sample of the trained embeddings (fixed for the
// run).  The second term is the mean squared change of a user's scores over
// every item (relative to the items' mean spread and to s^2, so that `weight`
// and `lr` mean the same on any data): it keeps each user's recommendations
// where the first allows.  The steps run in units of s.
// Each step draws `batch` users per class (seeded), and moves each drawn user
// by gradient descent on L restricted to the draw: lr * (batch * dMMD^2/du +
// 2 weight G (u - u0)), so a user's step does not shrink with the batch; lr
// is capped at 0.5 / (weight lambda_max(G)), where the second term alone
// would start to oscillate.
//
// Cost per step: O(K^2 batch^2 d / 2 + K batch d^2) (every pair of classes);
// one thread, deterministic; the interrupt check is polled per pair.
#ifndef RAID_CORE_POSTHOC_UNLEARN_H
#define RAID_CORE_POSTHOC_UNLEARN_H

#include <cstdint>
#include <vector>

#include "../linalg.h"
#include "../raid_results.h"

namespace raid {

struct UnlearnOptions {
    int32_t steps = 200;
    double lr = 0.05;
    double weight = 1.0;
    int32_t batch = 256;
    uint64_t seed = 42;
};

// Biased MMD^2 between the rows of x and of y (Gaussian kernel of bandwidth
// s), and, if not null, its gradient with respect to every row of x and y.
double Mmd2(const RowMatrixD& x, const RowMatrixD& y, double s, RowMatrixD* grad_x, RowMatrixD* grad_y);

// The mean over class pairs of MMD^2 between the classes' rows (all users
// with a class; the caller keeps the classes small enough: O(n^2 d)).
double ClassMmd2(const float* rows, int64_t n, int32_t dim, const std::vector<int32_t>& user_class,
                 int32_t classes, double s);

// The median distance between rows of a seeded sample of at most 1,000 users.
double MedianDistance(const float* rows, int64_t n, int32_t dim, uint64_t seed);

// Optimises the n x dim user rows in place against the n_items x dim items
// (see above); users without a class (-1) stay.  The summary's mean_shift is
// the root-mean-square move, iterations the steps, change the last step's
// estimate of L.  Throws InvalidArgument for bad sizes or classes;
// Interrupted if asked to stop (some rows may have moved: work on a copy).
raid_posthoc_summary Unlearn(float* rows, int64_t n, int32_t dim, const float* items, int64_t n_items,
                             const std::vector<int32_t>& user_class, int32_t classes,
                             const UnlearnOptions& options);

}  // namespace raid

#endif  // RAID_CORE_POSTHOC_UNLEARN_H

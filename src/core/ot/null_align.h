// null_align.h: a calibrated last step of the defense, which moves each
// class's users so that the class looks like a random group of users of the
// same size: no more alike than random groups are, and no less.
//
// Why a random group and not the common statistics: an attacker is judged by
// cross-validation on the same users, and class statistics made exactly
// equal leak too.  If the classes' sample means are equal over all users, a
// training fold's class difference is the negative of the test fold's, and
// the attacker learns the opposite of the truth: balanced accuracy below
// chance, which an attacker reads as signal by flipping its predictions (the
// 0.1.0 pull ended 0.066 below chance on MovieLens age groups this way, and
// 0.16 below on random labels).  Under random labels the folds' differences
// are independent; the step restores exactly that (the noise floor).
//
// Why fresh draws and not the data's own users: the step first mapped each
// class onto a random partition of the users themselves (their residuals'
// mean and covariance).  Those targets share users with the classes, and
// the shared part is again fold-correlated: on Gaussian users whose labels
// carry nothing (d 64, 900 users) kNN read 0.078 below chance, QDA 0.031
// below (BENCHMARKS.md, "Fresh targets").  The targets are now drawn from
// the seed, independent of every user, from the pooled Gaussian model
// N(m, W).  For Gaussian embeddings the moved classes are then distributed
// as random groups are: each class's sample mean and covariance are those
// of n_c independent draws, whatever they were.
//
// Vocabulary (n_c users in class c, only users with a class take part):
//   m_c, m      the mean of class c, of all users with a class
//   r           a user's residual x - m_c (its class's signal removed)
//   W           the pooled within-class covariance, mean of r r^T
//   t_c         the class's target mean: m + g_c - sum_c' n_c' g_c' / n,
//               g_c ~ N(0, W / n_c) drawn from the seed (the pooled mean stays)
//   A_c         the covariance of the residuals of class c
//   B_c         the covariance (about their mean) of n_c fresh draws from
//               N(0, W): a Wishart(n_c - 1, W) / n_c draw
//
// Modes (x of class c becomes x'):
//   kMean       x' = t_c + r
//   kGaussian   x' = t_c + M_c r, with M_c the W2-optimal (Monge) map from
//               N(0, A_c) to N(0, B_c):
//               M_c = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2
//               (so M_c A_c M_c = B_c), for classes with n_c > dim.  A class
//               with n_c <= dim has a singular A_c: its residuals span a
//               subspace, and a map estimated from them moves that subspace
//               by noise, not signal.  Such a class keeps its residuals
//               (M_c = I, only its mean moves): on MovieLens 100K age groups
//               (d 64, groups of 36-310 users, two of them under 64)
//               mapping those two as well cost 6% more of NDCG@10 for
//               0.007 less leakage (BENCHMARKS.md, "Fresh targets").
// Neither removes leakage by itself in all cases: kMean leaves differences
// in spread, and neither touches what is not Gaussian (shape beyond the
// covariance).  The trainer (src/pg/train.c) therefore audits the embeddings
// as they are and after each mode, and keeps the least leaky (BENCHMARKS.md,
// "Calibrated alignment").
//
// Cost: O(n d^2 + K d^3) and n d normal draws for kGaussian, O(n d^2 + d^3)
// for kMean; one thread, fixed summation order (deterministic).  Memory:
// 8 (2 K d + n + 4 d^2 + 1024 d) bytes for kMean, plus 8 (2 K d^2 + 6 d^2)
// for kGaussian.
#ifndef RAID_CORE_OT_NULL_ALIGN_H
#define RAID_CORE_OT_NULL_ALIGN_H

#include <cstdint>
#include <vector>

#include "../raid_results.h"

namespace raid {

enum class NullAlignMode { kMean, kGaussian };

// What the alignment did.
// (raid_results.h; mean_shift: root mean square of |x' - x| over the moved users)
struct NullAlignSummary : raid_null_align_summary {
    NullAlignSummary() : raid_null_align_summary() {}
};

// Estimated bytes NullAlign allocates.
double NullAlignMemory(int64_t n, int32_t dim, int32_t classes, NullAlignMode mode);

// Moves the rows of every class (user_class[r] in 0 .. classes-1, -1 = none)
// of the n x dim table `rows` (row stride `stride` floats) as described
// above, with the targets drawn from seed.  Throws InvalidArgument for bad
// sizes or classes, fewer than 2 classes or an empty class; Interrupted if
// the interrupt check asks to stop (then some rows may have moved: callers
// that must keep the rows align a copy).
NullAlignSummary NullAlign(float* rows, int64_t stride, int64_t n, int32_t dim,
                           const std::vector<int32_t>& user_class, int32_t classes, uint64_t seed,
                           NullAlignMode mode);

}  // namespace raid

#endif  // RAID_CORE_OT_NULL_ALIGN_H

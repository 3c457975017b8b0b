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
// are independent; mapping each class onto a random group of its size
// restores exactly that (the noise floor).
//
// Vocabulary (n_c users in class c, only users with a class take part):
//   m_c, m      the mean of class c, of all users with a class
//   r           a user's residual x - m_c (its class's signal removed)
//   group R_c   a random partition of the users into groups of the classes'
//               sizes, drawn from the seed; R_c holds n_c users of any class
//   W           the pooled within-class covariance, mean of r r^T
//   shrink(S)   (n_c S + k W) / (n_c + k) with k = 0.3 dim: small classes
//               borrow the pooled shape instead of fitting their own noise
//   A_c, B_c    shrink(covariance of the residuals of class c), of group R_c
//
// Modes (x of class c becomes x'):
//   kMean       x' = m + mean(r over R_c) + r
//   kGaussian   x' = m + mean(r over R_c) + M_c r, with M_c the W2-optimal
//               (Monge) map from N(0, A_c) to N(0, B_c):
//               M_c = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2
// Both use residuals, not the raw rows of R_c, so that the targets carry no
// class signal.  Neither removes leakage by itself in all cases: kMean
// leaves differences in spread, kGaussian fits K covariances and on many
// small classes can add more than it removes.  The trainer (src/pg/train.c)
// therefore audits the embeddings as they are and after each mode, and keeps
// the least leaky (BENCHMARKS.md, "Calibrated alignment").
//
// Cost: O(n d) for kMean; O(n d^2 + K d^3) for kGaussian; one thread, fixed
// summation order (deterministic).  Memory: 8 (2 K d^2 + 2 K d + 1024 d) +
// 8 n bytes for kGaussian, 8 (2 K d + n) for kMean.
#ifndef RAID_CORE_OT_NULL_ALIGN_H
#define RAID_CORE_OT_NULL_ALIGN_H

#include <cstdint>
#include <vector>

namespace raid {

enum class NullAlignMode { kMean, kGaussian };

// What the alignment did.
struct NullAlignSummary {
    int32_t classes = 0;
    int64_t moved_users = 0;
    double mean_shift = 0.0;  // root mean square of |x' - x| over the moved users
    double seconds = 0.0;
};

// Estimated bytes NullAlign allocates.
double NullAlignMemory(int64_t n, int32_t dim, int32_t classes, NullAlignMode mode);

// Moves the rows of every class (user_class[r] in 0 .. classes-1, -1 = none)
// of the n x dim table `rows` (row stride `stride` floats) as described
// above, with the partition drawn from seed.  Throws InvalidArgument for bad
// sizes or classes, fewer than 2 classes or an empty class; Interrupted if
// the interrupt check asks to stop (then some rows may have moved: callers
// that must keep the rows align a copy).
NullAlignSummary NullAlign(float* rows, int64_t stride, int64_t n, int32_t dim,
                           const std::vector<int32_t>& user_class, int32_t classes, uint64_t seed,
                           NullAlignMode mode);

}  // namespace raid

#endif  // RAID_CORE_OT_NULL_ALIGN_H

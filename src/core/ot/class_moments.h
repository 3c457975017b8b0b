// class_moments.h: the per-class first and second moments of embedding rows,
// and the affine moves built from them, shared by the defense's calibrated
// last step (null_align.h) and the post-hoc baselines (posthoc.h).
//
// Vocabulary (n_c users in class c; only users with a class take part):
//   m_c, m   the mean of class c, of all users with a class (pooled)
//   r        a user's residual x - m_c
//   A_c      the class's residual covariance (scatter / n_c)
//   W        the pooled within-class covariance, sum_c scatter_c / n
// Sums run in blocks of kMomentBlock rows through Eigen's GEMM in a fixed
// order, so the figures do not depend on the thread count; every block polls
// the interrupt check.
#ifndef RAID_CORE_OT_CLASS_MOMENTS_H
#define RAID_CORE_OT_CLASS_MOMENTS_H

#include <cstdint>
#include <vector>

#include "../linalg.h"

namespace raid {

constexpr int64_t kMomentBlock = 1024;

struct ClassMoments {
    int32_t dim = 0;
    std::vector<std::vector<int32_t>> members;  // users of each class
    std::vector<int32_t> labelled;              // every user with a class, in order
    Eigen::MatrixXd mean;                       // dim x K, column c = m_c
    Eigen::VectorXd pooled;                     // m
    std::vector<Eigen::MatrixXd> scatter;       // per class (with scatters only)
    Eigen::MatrixXd within;                     // W
};

// Bytes ClassMoments allocates besides `members` (n ints): 8 (K d + d^2 + block d), plus
// 8 K d^2 with scatters.
double ClassMomentsMemory(int64_t n, int32_t dim, int32_t classes, bool scatters);

// The moments of the n x dim table `rows` (row stride `stride` floats).
// `what` names the operation in errors.  Throws InvalidArgument for bad sizes,
// a class outside -1 .. classes-1, fewer than 2 classes or an empty class;
// Interrupted if asked to stop.
ClassMoments ComputeClassMoments(const float* rows, int64_t stride, int64_t n, int32_t dim,
                                 const std::vector<int32_t>& user_class, int32_t classes,
                                 bool keep_scatters, const char* what);

// S^(1/2) and, if inverse_root is not null, S^(-1/2) of a symmetric positive
// semi-definite matrix, with the eigenvalues floored at 1e-12 of the largest
// (a singular covariance then maps its null directions to nothing instead of
// to infinity).
void SqrtAndInverse(const Eigen::MatrixXd& s, Eigen::MatrixXd* root, Eigen::MatrixXd* inverse_root);

// The W2-optimal (Monge) map between centred Gaussians N(0, A) -> N(0, B):
// M = A^-1/2 (A^1/2 B A^1/2)^1/2 A^-1/2, symmetric, with M A M = B.
Eigen::MatrixXd GaussianMongeMap(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

// Moves every user with a class to target_c + map_c r (map empty: the
// identity), computed from the rows as they were; returns the root mean
// square of |x' - x| over the moved users.
double MoveClasses(float* rows, int64_t stride, const ClassMoments& moments,
                   const std::vector<int32_t>& user_class, const Eigen::MatrixXd& target,
                   const std::vector<Eigen::MatrixXd>& map, const char* what);

}  // namespace raid

#endif  // RAID_CORE_OT_CLASS_MOMENTS_H

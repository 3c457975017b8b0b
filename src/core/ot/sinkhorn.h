// sinkhorn.h: entropic optimal transport between two discrete measures, solved
// in the log domain.
//
// Vocabulary:
//   a, b        weights of the source points (n) and target points (m), each
//               summing to 1; an empty vector means uniform
//   C           n x m cost matrix (squared Euclidean distances for point sets)
//   epsilon     entropic regularisation, in the units of C (absolute)
//   f, g        dual potentials; the plan is
//                 T_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon)
//   marginal error
//               L1 violation of the row marginal, sum_i |sum_j T_ij - a_i|,
//               of the last (f, g) pair, measured for free from the next
//               f-update: sum_j T_ij = a_i exp((f_i - f_i') / epsilon)
//   warm start  potentials passed in with matching sizes start the iteration
//               (only g matters: every iteration begins with an f-update)
//
// Algorithm: Sinkhorn-Knopp (Cuturi, NIPS 2013) with log-sum-exp updates of the
// potentials (Schmitzer, SIAM J. Sci. Comput. 2019; Peyre & Cuturi,
// "Computational Optimal Transport", 2019, remark 4.23):
//   f_i = -epsilon LSE_j(log b_j + (g_j - C_ij) / epsilon)
//   g_j = -epsilon LSE_i(log a_i + (f_i - C_ij) / epsilon)
// Stable for any epsilon > 0 relative to C (no kernel exp(-C/epsilon) is
// formed).  After the last f-update the row marginal is exact.
//
// Cancellation: every iteration polls the interrupt check (common.h), and
// problems of more than 2^16 cells poll inside the row loops too; the solvers
// and the distance products (in row blocks when large) throw
// Interrupted("optimal transport cancelled").  They may run inside a
// ParallelErrors::Run of the caller, which carries the exception out.
//
// Determinism: each row (column) log-sum-exp is a sequential loop owned by one
// thread, so results do not depend on the thread count.
#ifndef RAID_CORE_OT_SINKHORN_H
#define RAID_CORE_OT_SINKHORN_H

#include <cstdint>

#include "../common.h"
#include "../linalg.h"

namespace raid {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorD = Eigen::VectorXd;

// Problems with fewer cells (n * m) than this run on one thread: below it a
// team's barriers cost more than the rows save.  Callers with several small
// independent problems run those in parallel instead.
constexpr int64_t kSinkhornParallelCells = int64_t{1} << 20;

// Options of a Sinkhorn solve.
struct SinkhornOptions {
    double epsilon = 0.01;     // absolute regularisation, > 0
    int32_t max_iters = 1000;  // iteration cap, 1 .. 1,000,000
    double tol = 1e-4;         // stop once the marginal error is below, (0, 1]
    int32_t threads = 1;       // OpenMP threads, 0 = default, 0 .. 1024

    // Throws InvalidArgument naming the first bad field.
    void Validate() const;
};

// What a solve did; non-convergence is reported here, never thrown.
struct SinkhornSummary {
    int32_t iterations = 0;       // f-updates run
    double marginal_error = 0.0;  // of the last measured (f, g) pair
    bool converged = false;       // marginal_error <= tol
    double seconds = 0.0;
    double cost = 0.0;  // <T, C>
};

// Dual potentials, in and out (warm start when the sizes match).
struct SinkhornPotentials {
    VectorD f, g;
};

// Squared Euclidean distances ||x_i - z_j||^2 (n x m), clamped at 0.
RowMatrixD SquaredDistances(const RowMatrixD& X, const RowMatrixD& Z);

// Solves entropic OT with cost C and weights a, b (empty = uniform); pot holds
// the warm start (if sizes match) and receives the final potentials.
SinkhornSummary Sinkhorn(const RowMatrixD& C, const VectorD& a, const VectorD& b,
                         const SinkhornOptions& options, SinkhornPotentials* pot);

// The same between point sets X (n x d) and Z (m x d) with squared Euclidean costs.
SinkhornSummary SinkhornPoints(const RowMatrixD& X, const RowMatrixD& Z, const VectorD& a,
                               const VectorD& b, const SinkhornOptions& options,
                               SinkhornPotentials* pot);

// Entropic self-transport of one uniform cloud, OT_eps(mu, mu), with a
// symmetric cost C (n x n, e.g. SquaredDistances(X, X)): by symmetry f = g is
// the fixed point of SoftMin(f)_i = -eps LSE_j(log a_j + (f_j - C_ij) / eps),
// one pass over C per iteration where the general solver needs two and a
// transpose.  Update: f <- SoftMin(f) with the constant mode averaged (fast
// with a wide blur, as the defense's warm-started tau = 1), switching for
// good to the averaged update f <- (f + SoftMin(f)) / 2 of Feydy, Sejourne,
// Vialard, Amari, Trouve & Peyre (AISTATS 2019, section 3.1; Knight, SIAM J.
// Matrix Anal. Appl. 2008), which converges for any blur, the first time the
// marginal error grows.  The marginal error is
// that of the (f, f) pair before the update.  pot->f is the warm start (if its
// size matches) and receives the potential; pot->g is set equal to it.  The
// summary's cost is not computed (0).
SinkhornSummary SinkhornSymmetric(const RowMatrixD& C, const SinkhornOptions& options,
                                  SinkhornPotentials* pot);

// The plan T_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon).
RowMatrixD TransportPlan(const RowMatrixD& C, const VectorD& a, const VectorD& b,
                         const SinkhornPotentials& pot, double epsilon);

// Squared distances within one cloud, ||x_i - x_j||^2 (n x n): symmetric by
// construction with a zero diagonal (as SinkhornSymmetric assumes), from a
// single-precision Gram matrix (twice the SIMD lanes of double).  The
// absolute error, ~1e-7 |x|^2, is far below any useful epsilon; the
// defense's clouds are float embeddings to begin with.
RowMatrixD SelfSquaredDistances(const RowMatrixD& X);

// Median of the entries of C (of at most ~65,536 evenly spaced entries).
double MedianCost(const RowMatrixD& C);

}  // namespace raid

#endif  // RAID_CORE_OT_SINKHORN_H

// barycenter.h: free-support entropic Wasserstein-2 barycenter of K >= 2
// weighted point clouds.
//
// Vocabulary:
//   cloud c     X_c (n_c x d) with weights mu_c (uniform) and barycentric
//               weight w_c (sum 1; empty = uniform 1/K)
//   support     Z (m x d) with uniform weights b = 1/m: the barycenter nu
//   epsilon     the Sinkhorn regularisation of every coupling of a call:
//               tau * median squared distance between the clouds and Z at the
//               start of the call (or options.epsilon if positive)
//   state       Z and the potentials g_c of each cloud's coupling, kept across
//               calls so that a call continues where the previous one stopped
//               (warm start); the first call initialises Z with m points drawn
//               (seeded, without replacement) from the pooled clouds
//
// Algorithm (Cuturi & Doucet, "Fast computation of Wasserstein barycenters",
// ICML 2014, algorithm 2 with the entropic couplings of Benamou, Carlier,
// Cuturi, Nenna & Peyre, SIAM J. Sci. Comput. 2015): alternate
//   T_c = Sinkhorn(mu_c, nu; ||x - z||^2)               for every cloud c
//   Z  <- sum_c w_c diag(1/b) T_c^T X_c                 (barycentric update)
// for max_iters iterations or until Z moves less than tol (max row shift
// relative to the root median cost).  When every coupling is small enough
// for Sinkhorn to stay on one thread (kSinkhornParallelCells), the clouds'
// couplings run one per thread; each is computed whole by one thread and the
// update sums them in cloud order, so the result does not depend on the
// thread count.
//
// Cancellation: every update polls the interrupt check (common.h), and so do
// the Sinkhorn solves and the large products inside it; Barycenter() throws
// Interrupted("optimal transport cancelled").
#ifndef RAID_CORE_OT_BARYCENTER_H
#define RAID_CORE_OT_BARYCENTER_H

#include <cstdint>
#include <vector>

#include "sinkhorn.h"

namespace raid {

struct BarycenterOptions {
    int32_t m = 256;           // support size, 1 .. 65536
    double tau = 0.05;         // epsilon relative to the median cost, > 0
    double epsilon = 0.0;      // absolute epsilon if > 0 (overrides tau)
    int32_t max_iters = 10;    // barycentric updates per call, 1 .. 100000
    double tol = 1e-3;         // stop once Z moves less (relative), >= 0
    int32_t sinkhorn_iters = 1000;
    double sinkhorn_tol = 1e-4;
    uint64_t seed = 42;        // initial support
    int32_t threads = 1;

    // Throws InvalidArgument naming the first bad field.
    void Validate() const;
};

// Warm-start state carried across calls.
struct BarycenterState {
    RowMatrixD Z;                          // m x d support (empty before the first call)
    std::vector<SinkhornPotentials> pots;  // per cloud, for the current Z
    double epsilon = 0.0;                  // epsilon of the last call
};

struct BarycenterSummary {
    int32_t iterations = 0;  // barycentric updates
    int64_t sinkhorn_calls = 0;
    int64_t sinkhorn_iterations = 0;
    int64_t sinkhorn_converged = 0;
    double max_marginal_error = 0.0;
    double cost = 0.0;   // sum over clouds of <T_c, C_c> of the last couplings
    double shift = 0.0;  // relative move of Z in the last update
    bool converged = false;
    double epsilon = 0.0;
    double seconds = 0.0;
};

// Runs barycentric updates on state (see above).  On return state->pots are
// the potentials of the last couplings, which were computed against the
// support *before* the last update; that support is copied to
// *coupled_support if not null (the entropic map needs the pair).
BarycenterSummary Barycenter(const std::vector<RowMatrixD>& clouds, const std::vector<double>& w,
                             const BarycenterOptions& options, BarycenterState* state,
                             RowMatrixD* coupled_support = nullptr);

}  // namespace raid

#endif  // RAID_CORE_OT_BARYCENTER_H

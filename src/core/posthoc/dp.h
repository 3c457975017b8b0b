// dp.h: post-training differential privacy of the user embeddings (DP-PoT),
// a baseline users compare RAID against (defense => 'dp').
//
// Each user's row x is clipped to norm C and released with independent noise:
//   delta > 0   the Gaussian mechanism: clip the L2 norm to C, add N(0, s^2 I)
//               with s the smallest sigma for which the mechanism is
//               (epsilon, delta)-DP at L2 sensitivity 2C (the analytic
//               Gaussian mechanism, Balle & Wang, ICML 2018, Theorem 8; valid
//               for every epsilon, unlike the classic
//               sqrt(2 ln(1.25 / delta)) Delta / epsilon, which needs
//               epsilon < 1 and is larger);
//   delta = 0   the Laplace mechanism: clip the L1 norm to C, add Laplace(b)
//               per coordinate with b = 2C / epsilon (pure epsilon-DP).
// 2C: two rows clipped to norm C differ by at most 2C (replace one user).
//
// What it guarantees: each released row is (epsilon, delta)-DP with respect
// to that user's own embedding; rows get independent noise, so the table is
// too, for a change of one user's row.  It says nothing about the
// interactions behind the embeddings (the item embeddings and the other
// users' rows are released as trained), and when C is not given it is the
// median norm of the rows, itself not privatised.
//
// Cost: O(n d), parallel over rows; the noise of row r depends only on the
// seed and r, so the result does not depend on the thread count.
#ifndef RAID_CORE_POSTHOC_DP_H
#define RAID_CORE_POSTHOC_DP_H

#include <cstdint>

#include "../raid_results.h"

namespace raid {

// delta of the Gaussian mechanism with noise sigma at L2 sensitivity
// `sensitivity` for this epsilon (Balle & Wang's exact expression).
double AnalyticGaussianDelta(double sensitivity, double epsilon, double sigma);

// The smallest sigma whose AnalyticGaussianDelta is at most delta (bisection
// in log sigma to a relative 1e-12).  epsilon > 0, 0 < delta < 1.
double AnalyticGaussianSigma(double sensitivity, double epsilon, double delta);

// Clips and noises the n x dim rows in place (see above).  clip <= 0 means the
// median norm (L2, or L1 with delta = 0).  Throws InvalidArgument for bad
// sizes or epsilon <= 0, delta outside [0, 1); Interrupted if asked to stop.
raid_posthoc_summary DpNoise(float* rows, int64_t n, int32_t dim, double epsilon, double delta,
                             double clip, uint64_t seed, int threads);

}  // namespace raid

#endif  // RAID_CORE_POSTHOC_DP_H

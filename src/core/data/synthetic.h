// synthetic.h: deterministic interaction data with a planted categorical attribute.
//
// Vocabulary:
//   class      the protected attribute of a user, 0..classes-1, uniform
//   signal     strength of the attribute's effect on a user's scores (its
//              meaning depends on the signal kind); 0 makes the attribute
//              irrelevant to what users interact with, whatever the kind
//   score      the log-odds-like utility of item j for user u of class c:
//                score(u, j) = log_pop(j) + <p_u, q_j> + b_c(j)
//              log_pop   Zipf-like popularity, -0.5 * log(1 + rank(j)) over a
//                        seeded random ranking of the items
//              p_u, q_j  16-dimensional factors; q_j has N(0, 0.6^2)
//                        coordinates, p_u = m_u + 0.6 z_u with z_u ~ N(0, I)
//                        up to the kind's scaling, so without signal
//                        <p_u, q_j> has standard deviation 1.44
//              b_c(j)    the class's item term, set by the signal kind
//                        (written b(j) where it is the same for every class)
//   signal kind  how the class enters the score (s = signal, L = 16):
//     mean        (0, the default) class means of the scores differ:
//                   p_u = 0.6 z_u,  b_c(j) = s * a_j[c],  a_j[c] ~ N(0, 1)
//                 the affinity of item j for class c
//     covariance  (1) equal class means, different spread: class c widens
//                 the taste coordinates of its own block of dimensions
//                 B_c = {l : l mod G = c mod G}, G = min(C, L), and narrows
//                 the others:
//                   p_ul = 0.6 w_cl z_ul,  w_cl = sqrt(1 + s) on B_c,
//                                                 1 / sqrt(1 + s) elsewhere,
//                   b(j) as below
//                 (variance factors 1 + s and 1 / (1 + s) rather than
//                 exponentials keep every score finite up to s = 100)
//                 (with more than 16 classes, classes c and c + 16 share a
//                 block and cannot be told apart)
//     nonlinear   (2) equal class means and covariances, different clusters:
//                 P = ceil(log2 C) planes, plane p spanning dimensions 2p and
//                 2p + 1; in each, a user sits near one of four centres,
//                 the arm k_up in 0..3 drawn uniformly and independently per
//                 plane, on the axis cross if bit p of the class is 0 and on
//                 the diagonal cross if it is 1:
//                   p_u = sum_p a (cos t_up e_2p + sin t_up e_2p+1) + 0.6 z_u,
//                   t_up = bit_p(c) pi/4 + k_up pi/2,  a = 3 s
//                 both crosses have mean 0 and covariance a^2/2 I on the
//                 plane, so the classes differ only in moments of order 4
//                 and up (for C = 2: one plane, classes 0 and 1 on crosses
//                 turned by pi/4 against each other)
//              b(j)      a popularity correction, the same for every class:
//                          b(j) = -log E[exp(<p_u, q_j>)] + log E[exp(<p_u, q_j>) | s = 0]
//                        covariance: -0.18 sum_l (w_0l^2 - 1) q_jl^2
//                        nonlinear:  -sum_p log((1/4) sum_k exp(a (cos(k pi/2) q_j,2p
//                                                              + sin(k pi/2) q_j,2p+1)))
//                        so that the signal changes which users like an item,
//                        not how popular it is
//              item factors in these two kinds are shaped so that
//              <p_u, q_j> has the same distribution in every class, item by
//              item; otherwise the exponential link would turn a difference
//              in spread or clusters into a difference in which items a
//              class prefers on average, i.e. into a mean signal:
//                covariance  each block of q_j is rescaled to the same squared
//                            norm (the mean over blocks, so |q_j| is kept);
//                            with 16 or more classes every |q_jl| is equal
//                nonlinear   in each cluster plane, q_j is turned to the
//                            nearest angle pi/8 + m pi/4 (its length kept),
//                            about which the two crosses are mirror images
//   count      items per user: interactions_per_user times a lognormal factor
//              (log-sd 0.5, mean 1), clipped to
//              [min(5, interactions_per_user), n_items - 1]
//
// Each user draws `count` distinct items with probability proportional to
// exp(score), without replacement, by the Gumbel-top-k trick (Kool, van Hoof &
// Welling, "Stochastic Beams and Where to Find Them", ICML 2019): the top-k of
// score + Gumbel noise is a sample without replacement from softmax(score).
// Every user has its own random streams, so the output is identical for any
// thread count.  Users are ids 1..n_users, items 1..n_items; interactions come
// sorted by (user, item).
//
// Cancellation: the generator polls the interrupt check (common.h) per user
// and every few thousand items, and throws Interrupted("synthetic data
// generation cancelled").
//
// Memory (SyntheticBytes, checked against the budget before allocating), for
// nu users, ni items, I = interactions_per_user, C classes, L latent
// dimensions, t threads and B users per block:
//   16 * 1.25 nu I          the output pairs (the lognormal count factor has
//                           mean 1; clipping at min(5, I) adds < 25%)
//   12 nu                   classes, offsets
//   ni (24 + 4 L + 4 C)     ranking, popularity, item factors, class scores
//   t (4 B (L + ni) + 8 ni) per-thread user factors, scores, keys, indices
#ifndef RAID_CORE_DATA_SYNTHETIC_H
#define RAID_CORE_DATA_SYNTHETIC_H

#include <cstdint>
#include <vector>

#include "../options.h"

namespace raid {

// How the class enters users' scores (see "signal kind" above).
enum SignalKind : int32_t {
    kSignalMean = 0,        // class-specific item affinity: class means differ
    kSignalCovariance = 1,  // class-specific taste spread: equal means
    kSignalNonlinear = 2,   // class-specific taste clusters: equal means, covariances
};

// Options of the synthetic generator (defaults documented per field).
// The fields, defaults and ranges are those of RAID_SYNTHETIC_OPTIONS
// (raid_options.h); interactions_per_user must also be below n_items.
struct SyntheticOptions : raid_synthetic_options {
    SyntheticOptions() : raid_synthetic_options() {
        SetOptionDefaults(RAID_OPTION_GROUP_SYNTHETIC, this);
    }
    SyntheticOptions(const raid_synthetic_options& o) : raid_synthetic_options(o) {}  // NOLINT

    // Throws InvalidArgument naming the first bad field, LimitExceeded if
    // n_users * interactions_per_user exceeds 500,000,000.
    void Validate() const;
};

// Generated users, classes and interactions.
struct SyntheticData {
    std::vector<int64_t> users;    // interaction user ids (1-based), sorted
    std::vector<int64_t> items;    // interaction item ids (1-based), sorted within a user
    std::vector<int32_t> classes;  // class of user id u at classes[u - 1]
};

// Latent dimension of the planted factors.
constexpr int kSyntheticLatentDim = 16;

// Estimated bytes of GenerateSynthetic(options) (see Memory above).
double SyntheticBytes(const SyntheticOptions& options);

// Generates the data described in the header comment.
SyntheticData GenerateSynthetic(const SyntheticOptions& options);

}  // namespace raid

#endif  // RAID_CORE_DATA_SYNTHETIC_H

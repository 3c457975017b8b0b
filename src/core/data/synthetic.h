// synthetic.h: deterministic interaction data with a planted categorical attribute.
//
// Vocabulary:
//   class      the protected attribute of a user, 0..classes-1, uniform
//   signal     weight of the class-specific item affinity in a user's scores;
//              0 makes the attribute irrelevant to what users interact with
//   score      the log-odds-like utility of item j for user u:
//                score(u, j) = log_pop(j) + <p_u, q_j> + signal * a_j[class(u)]
//              log_pop   Zipf-like popularity, -0.5 * log(1 + rank(j)) over a
//                        seeded random ranking of the items
//              p_u, q_j  16-dimensional factors with N(0, 0.6^2) coordinates,
//                        so <p_u, q_j> has standard deviation 1.44
//              a_j[c]    N(0, 1) affinity of item j for class c
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

namespace raid {

// Options of the synthetic generator (defaults documented per field).
struct SyntheticOptions {
    int64_t n_users = 1000;              // 2 .. 10,000,000
    int64_t n_items = 500;               // 2 .. 10,000,000
    int32_t interactions_per_user = 50;  // mean, 1 .. n_items - 1
    int32_t classes = 2;                 // 2 .. 64
    double signal = 1.0;                 // 0 .. 100
    uint64_t seed = 42;                  // every random choice derives from it
    int32_t threads = 0;                 // OpenMP threads, 0 = default, 0 .. 1024

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

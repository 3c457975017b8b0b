// ranking.h: leave-one-out ranking metrics and top-k scoring.
//
// Vocabulary:
//   candidate  an item the user did not train on (the held-out item is one)
//   better     g, the number of other candidates scoring strictly higher than
//              the held-out item
//   tied       t, the number of other candidates scoring exactly the same
//   rank       0-based position of the held-out item; under uniformly random
//              tie-breaking it is uniform on {g, ..., g + t}, and the metrics
//              are the exact expectations over that distribution:
//                NDCG@k = E[ 1 / log2(rank + 2) * [rank < k] ]
//                HR@k   = E[ [rank < k] ]
//   protocol   every user with a held-out item is evaluated against all of
//              its candidates (full ranking, no sampled negatives); results
//              are averaged over those users
//
// Cancellation: the evaluations poll the interrupt check (common.h) once per
// block of users and per user, top-k once per block of rows; they throw
// Interrupted("evaluation cancelled" / "top-k cancelled").
//
// Memory (checked against the budget before allocating), for nu users, ni
// items, E evaluated users, t threads and B users per block:
//   EvaluateRanking     20 E (users, per-user metrics) + 4 t B (dim + ni)
//                       (per-thread user block and score block)
//   EvaluatePopularity  20 E + 8 ni (item counts)
//   TopK                12 n_items (scores, eligible rows) + 12 min(k, n_items)
#ifndef RAID_CORE_EVAL_RANKING_H
#define RAID_CORE_EVAL_RANKING_H

#include <cstdint>
#include <vector>

#include "../data/dataset.h"
#include "../raid_results.h"

namespace raid {

// Averages of the per-user metrics at cutoff 10.
struct RankingMetrics : raid_eval_result {
    RankingMetrics() : raid_eval_result() {}
};

// Expected NDCG@k and HR@k of one user given g better and t tied candidates.
struct TieMetrics {
    double ndcg = 0.0;
    double hr = 0.0;
};
TieMetrics ExpectedTieMetrics(int64_t better, int64_t tied, int k = 10);

// Evaluates U (n_users x dim) and V (n_items x dim), row-major, by full ranking.
// Throws DataError if an embedding is not finite.
RankingMetrics EvaluateRanking(const Dataset& data, const float* U, const float* V, int32_t dim,
                               int32_t threads);

// Evaluates the popularity baseline (items scored by training interactions).
RankingMetrics EvaluatePopularity(const Dataset& data, int32_t threads);

// Best rows of a top-k query, best first.
struct TopKResult {
    std::vector<int64_t> index;
    std::vector<float> score;
};

// Scores n_items rows of items (row-major, n_items x dim) against user, skips
// rows with exclude[j] != 0 (exclude may be null) and returns the best
// min(k, eligible) rows, best first, ties broken by lower row index.
// Throws DataError if an eligible score is not finite.
TopKResult TopK(const float* user, const float* items, int64_t n_items, int32_t dim,
                const uint8_t* exclude, int32_t k);

// Top-k for many users at once (raid.recommend_all): users (n_users x dim)
// against items (n_items x dim), row-major.  User r leaves out the item rows
// seen_rows[seen_offsets[r] .. seen_offsets[r + 1]) (seen_offsets null: none)
// and gets its best min(k, eligible) rows, best first, ties broken by lower
// row index (as TopK), in out_index / out_score row r (k slots each) and
// their count in out_count[r].  Blocks of users are scored by one GEMM each
// and spread over threads (0 = all cores); the result does not depend on
// the thread count.  Throws InvalidArgument for bad sizes or rows, DataError
// for a non-finite embedding, Interrupted("top-k cancelled").
// Memory: 4 t B (dim + n_items) + t n_items + 12 t k bytes (B users per block).
void TopKBatch(const float* users, int64_t n_users, const float* items, int64_t n_items,
               int32_t dim, const int64_t* seen_offsets, const int32_t* seen_rows, int32_t k,
               int32_t threads, int64_t* out_index, float* out_score, int32_t* out_count);

// Bytes TopKBatch allocates.
double TopKBatchMemory(int64_t n_users, int64_t n_items, int32_t dim, int32_t k, int32_t threads);

}  // namespace raid

#endif  // RAID_CORE_EVAL_RANKING_H

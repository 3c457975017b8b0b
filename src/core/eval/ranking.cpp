// ranking.cpp: full-ranking NDCG/HR with exact tie expectations, and top-k.
//
// Scores of a block of users come from one Eigen matrix product
// (U_block * V^T); blocks are spread over OpenMP threads.  Per user, g and t
// are counted over all items and the user's training items are then
// subtracted, which keeps the hot loop branch-free.
#include "ranking.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "../common.h"
#include "../linalg.h"

namespace raid {

namespace {

constexpr int kCutoff = 10;
constexpr const char* kWhat = "evaluation";
// Multiply-adds of one block's score GEMM, at most (a few milliseconds).
constexpr int64_t kBlockWork = int64_t{1} << 25;
// Values scanned between two polls of the interrupt check.
constexpr int64_t kPollValues = int64_t{1} << 16;

// Counts candidates better than and tied with the held-out item h.
template <typename T>
TieMetrics RankHeldout(const T* scores, int64_t n_items, const int32_t* row, int64_t row_len,
                       int32_t h) {
    const T sh = scores[h];
    int64_t better = 0;
    int64_t tied = 0;
    for (int64_t j = 0; j < n_items; ++j) {
        better += scores[j] > sh;
        tied += scores[j] == sh;
    }
    tied -= 1;  // the held-out item itself
    for (int64_t p = 0; p < row_len; ++p) {
        const T s = scores[row[p]];
        better -= s > sh;
        tied -= s == sh;
    }
    return ExpectedTieMetrics(better, tied, kCutoff);
}

// Users with a held-out item, ascending.
std::vector<int32_t> EvaluatedUsers(const Dataset& data) {
    std::vector<int32_t> users;
    const auto& heldout = data.heldout();
    for (int32_t u = 0; u < data.n_users(); ++u)
        if (heldout[u] >= 0) users.push_back(u);
    return users;
}

// Averages per-user metrics in user order (deterministic for any thread count).
RankingMetrics Average(const std::vector<TieMetrics>& per_user) {
    RankingMetrics out;
    out.users = static_cast<int64_t>(per_user.size());
    if (per_user.empty()) return out;
    for (const TieMetrics& m : per_user) {
        out.ndcg_at_10 += m.ndcg;
        out.hr_at_10 += m.hr;
    }
    out.ndcg_at_10 /= static_cast<double>(per_user.size());
    out.hr_at_10 /= static_cast<double>(per_user.size());
    return out;
}

// Throws InvalidArgument unless the dataset is finalized and threads is valid.
void CheckInputs(const Dataset& data, int32_t threads) {
    if (!data.finalized()) throw InvalidArgument("dataset is not finalized");
    if (threads < 0 || threads > 1024)
        throw InvalidArgument("\"threads\" must be between 0 and 1024, got " +
                              std::to_string(threads));
}

}  // namespace

// Expected NDCG@k and HR@k when the rank is uniform on {better, ..., better + tied}.
TieMetrics ExpectedTieMetrics(int64_t better, int64_t tied, int k) {
    TieMetrics m;
    if (better < 0 || tied < 0 || k < 1) return m;
    const int64_t lo = better;
    const int64_t hi = std::min<int64_t>(better + tied, k - 1);
    if (lo > hi) return m;
    double gain = 0.0;
    for (int64_t r = lo; r <= hi; ++r) gain += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    const double n = static_cast<double>(tied) + 1.0;
    m.ndcg = gain / n;
    m.hr = static_cast<double>(hi - lo + 1) / n;
    return m;
}

// Evaluates U and V by full ranking (see ranking.h).
RankingMetrics EvaluateRanking(const Dataset& data, const float* U, const float* V, int32_t dim,
                               int32_t threads) {
    CheckInputs(data, threads);
    if (dim < 1 || dim > 1024)
        throw InvalidArgument("\"dim\" must be between 1 and 1024, got " + std::to_string(dim));
    if (U == nullptr || V == nullptr) throw InvalidArgument("embedding arrays must not be null");
    const int64_t nu = data.n_users();
    const int64_t ni = data.n_items();
    const ConstRowMapF Um(U, nu, dim);
    const ConstRowMapF Vm(V, ni, dim);
    if (!Um.allFinite()) throw DataError("user embeddings contain a non-finite value");
    if (!Vm.allFinite()) throw DataError("item embeddings contain a non-finite value");

    const int64_t n_eval = data.n_heldout();
    // Users per block: at most 128, a score buffer of at most 2^21 floats
    // and a GEMM of at most kBlockWork multiply-adds (a poll per block).
    const int64_t block = std::max<int64_t>(
        1, std::min({int64_t{128}, (int64_t{1} << 21) / ni, kBlockWork / (ni * dim)}));
    const int64_t n_blocks = (n_eval + block - 1) / block;
    // No more threads than blocks: each thread owns a block-sized score buffer.
    const int nt = static_cast<int>(
        std::max<int64_t>(1, std::min<int64_t>(ResolveThreads(threads), n_blocks)));
    CheckMemory(20.0 * static_cast<double>(n_eval) +
                    4.0 * nt * static_cast<double>(block) * (static_cast<double>(dim) + ni),
                kWhat);
    const std::vector<int32_t> users = EvaluatedUsers(data);
    std::vector<TieMetrics> per_user(users.size());
    // Per-thread buffers are allocated before the region; the GEMM may still
    // allocate, so block bodies run under ParallelErrors.
    std::vector<RowMatrixF> Ub(static_cast<size_t>(nt), RowMatrixF(block, dim));
    std::vector<RowMatrixF> S(static_cast<size_t>(nt), RowMatrixF(block, ni));
    ParallelErrors errors;
    StopFlag stop;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
        if (stop.Poll()) continue;
        errors.Run([&] {
            RowMatrixF& ub = Ub[ThreadIndex()];
            RowMatrixF& s = S[ThreadIndex()];
            const int64_t first = b * block;
            const int64_t nb = std::min(block, n_eval - first);
            for (int64_t r = 0; r < nb; ++r) ub.row(r) = Um.row(users[first + r]);
            s.topRows(nb).noalias() = ub.topRows(nb) * Vm.transpose();
            for (int64_t r = 0; r < nb; ++r) {
                if (stop.Poll()) return;
                const int32_t u = users[first + r];
                per_user[first + r] = RankHeldout(s.row(r).data(), ni, data.train_row(u),
                                                  data.train_row_size(u), data.heldout()[u]);
            }
        });
    }
    errors.Rethrow();
    stop.ThrowIfStopped(kWhat);
    return Average(per_user);
}

// Evaluates the popularity baseline (items scored by training interactions).
RankingMetrics EvaluatePopularity(const Dataset& data, int32_t threads) {
    CheckInputs(data, threads);
    const int64_t ni = data.n_items();
    CheckMemory(20.0 * static_cast<double>(data.n_heldout()) + 8.0 * static_cast<double>(ni),
                kWhat);
    const std::vector<int64_t> counts = data.ItemTrainCounts();
    const std::vector<int32_t> users = EvaluatedUsers(data);
    const int64_t n_eval = static_cast<int64_t>(users.size());
    std::vector<TieMetrics> per_user(users.size());
    const int nt = ResolveThreads(threads);
    // Users between two polls: about kPollValues items scanned.
    const int64_t poll_users = std::max<int64_t>(1, kPollValues / std::max<int64_t>(ni, 1));
    StopFlag stop;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
    for (int64_t k = 0; k < n_eval; ++k) {
        if (k % poll_users == 0 ? stop.Poll() : stop.stopped()) continue;
        const int32_t u = users[k];
        per_user[k] = RankHeldout(counts.data(), ni, data.train_row(u), data.train_row_size(u),
                                  data.heldout()[u]);
    }
    stop.ThrowIfStopped(kWhat);
    return Average(per_user);
}

// Best min(k, eligible) rows by <user, item>, best first, ties by lower index.
TopKResult TopK(const float* user, const float* items, int64_t n_items, int32_t dim,
                const uint8_t* exclude, int32_t k) {
    if (n_items < 0)
        throw InvalidArgument("\"n_items\" must not be negative, got " + std::to_string(n_items));
    if (dim < 1 || dim > 1024)
        throw InvalidArgument("\"dim\" must be between 1 and 1024, got " + std::to_string(dim));
    if (k < 0) throw InvalidArgument("\"k\" must not be negative, got " + std::to_string(k));
    TopKResult out;
    if (n_items == 0 || k == 0) return out;
    if (user == nullptr || items == nullptr)
        throw InvalidArgument("user and item arrays must not be null");

    const double kept = static_cast<double>(std::min<int64_t>(k, n_items));
    CheckMemory(12.0 * static_cast<double>(n_items) + 12.0 * kept, "top-k");
    const ConstRowMapF Im(items, n_items, dim);
    const ConstVectorMapF um(user, dim);
    VectorF scores(n_items);
    // Scores in blocks of about kBlockWork / 32 multiply-adds, polling between.
    const int64_t rows = std::max<int64_t>(1, (kBlockWork / 32) / dim);
    if (n_items <= rows) {
        scores.noalias() = Im * um;
    } else {
        for (int64_t j0 = 0; j0 < n_items; j0 += rows) {
            ThrowIfInterrupted("top-k");
            const int64_t len = std::min(rows, n_items - j0);
            scores.segment(j0, len).noalias() = Im.middleRows(j0, len) * um;
        }
    }
    std::vector<int64_t> eligible;
    eligible.reserve(static_cast<size_t>(n_items));
    for (int64_t j = 0; j < n_items; ++j) {
        if (exclude != nullptr && exclude[j] != 0) continue;
        if (!std::isfinite(scores[j]))
            throw DataError("item row " + std::to_string(j) + " has a non-finite score");
        eligible.push_back(j);
    }
    const size_t take = std::min(eligible.size(), static_cast<size_t>(k));
    auto better = [&](int64_t a, int64_t b) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    };
    std::partial_sort(eligible.begin(), eligible.begin() + take, eligible.end(), better);
    out.index.assign(eligible.begin(), eligible.begin() + take);
    out.score.resize(take);
    for (size_t r = 0; r < take; ++r) out.score[r] = scores[out.index[r]];
    return out;
}

}  // namespace raid

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

namespace {

// Users per block of TopKBatch: at most 128, a score buffer of at most 2^21
// floats and a GEMM of at most kBlockWork multiply-adds.
int64_t BatchBlock(int64_t n_items, int32_t dim) {
    const int64_t ni = std::max<int64_t>(n_items, 1);
    return std::max<int64_t>(1, std::min({int64_t{128}, (int64_t{1} << 21) / ni,
                                          kBlockWork / (ni * std::max(dim, 1))}));
}

int BatchThreads(int64_t n_users, int64_t n_items, int32_t dim, int32_t threads) {
    const int64_t block = BatchBlock(n_items, dim);
    const int64_t n_blocks = (n_users + block - 1) / block;
    return static_cast<int>(
        std::max<int64_t>(1, std::min<int64_t>(ResolveThreads(threads), n_blocks)));
}

// The k best eligible entries of scores (marked[j] = excluded), best first.
void SelectTopK(const float* scores, int64_t n, const uint8_t* marked, int32_t k,
                std::vector<std::pair<float, int64_t>>& heap, int64_t* out_index,
                float* out_score, int32_t* out_count) {
    // better: higher score, then lower index; the heap's front is the worst kept
    auto better = [](const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    heap.clear();
    for (int64_t j = 0; j < n; ++j) {
        if (marked[j]) continue;
        const std::pair<float, int64_t> c(scores[j], j);
        if (static_cast<int32_t>(heap.size()) < k) {
            heap.push_back(c);
            std::push_heap(heap.begin(), heap.end(), better);
        } else if (better(c, heap.front())) {
            std::pop_heap(heap.begin(), heap.end(), better);
            heap.back() = c;
            std::push_heap(heap.begin(), heap.end(), better);
        }
    }
    std::sort_heap(heap.begin(), heap.end(), better);
    for (size_t r = 0; r < heap.size(); ++r) {
        out_index[r] = heap[r].second;
        out_score[r] = heap[r].first;
    }
    *out_count = static_cast<int32_t>(heap.size());
}

}  // namespace

double TopKBatchMemory(int64_t n_users, int64_t n_items, int32_t dim, int32_t k, int32_t threads) {
    const double nt = BatchThreads(n_users, n_items, dim, threads);
    const double block = static_cast<double>(BatchBlock(n_items, dim));
    return 4.0 * nt * block * (static_cast<double>(dim) + static_cast<double>(n_items)) +
           nt * static_cast<double>(n_items) + 12.0 * nt * std::max(k, 0);
}

// Long: the checks, the blocks' GEMM and the per-user selection belong together.
void TopKBatch(const float* users, int64_t n_users, const float* items, int64_t n_items,
               int32_t dim, const int64_t* seen_offsets, const int32_t* seen_rows, int32_t k,
               int32_t threads, int64_t* out_index, float* out_score, int32_t* out_count) {
    constexpr const char* what = "top-k";
    if (n_users < 0 || n_items < 0)
        throw InvalidArgument("\"n_users\" and \"n_items\" must not be negative");
    if (dim < 1 || dim > 1024)
        throw InvalidArgument("\"dim\" must be between 1 and 1024, got " + std::to_string(dim));
    if (k < 0) throw InvalidArgument("\"k\" must not be negative, got " + std::to_string(k));
    if (threads < 0 || threads > 1024)
        throw InvalidArgument("\"threads\" must be between 0 and 1024, got " + std::to_string(threads));
    if (n_users == 0) return;
    if (users == nullptr || (n_items > 0 && items == nullptr) || out_count == nullptr ||
        (k > 0 && (out_index == nullptr || out_score == nullptr)))
        throw InvalidArgument("user, item and output arrays must not be null");
    if (seen_offsets != nullptr) {
        if (seen_offsets[0] != 0) throw InvalidArgument("seen_offsets[0] must be 0");
        for (int64_t r = 0; r < n_users; ++r)
            if (seen_offsets[r + 1] < seen_offsets[r])
                throw InvalidArgument("seen_offsets must not decrease");
        const int64_t n_seen = seen_offsets[n_users];
        if (n_seen > 0 && seen_rows == nullptr) throw InvalidArgument("seen_rows must not be null");
        for (int64_t p = 0; p < n_seen; ++p)
            if (seen_rows[p] < 0 || seen_rows[p] >= n_items)
                throw InvalidArgument("seen row " + std::to_string(seen_rows[p]) +
                                      " is not an item row");
    }
    if (k == 0 || n_items == 0) {
        std::fill(out_count, out_count + n_users, 0);
        return;
    }
    const ConstRowMapF Um(users, n_users, dim);
    const ConstRowMapF Vm(items, n_items, dim);
    if (!Um.allFinite()) throw DataError("user embeddings contain a non-finite value");
    if (!Vm.allFinite()) throw DataError("item embeddings contain a non-finite value");
    CheckMemory(TopKBatchMemory(n_users, n_items, dim, k, threads), what);

    const int64_t block = BatchBlock(n_items, dim);
    const int64_t n_blocks = (n_users + block - 1) / block;
    const int nt = BatchThreads(n_users, n_items, dim, threads);
    std::vector<RowMatrixF> S(static_cast<size_t>(nt), RowMatrixF(block, n_items));
    std::vector<std::vector<uint8_t>> marks(static_cast<size_t>(nt),
                                            std::vector<uint8_t>(static_cast<size_t>(n_items), 0));
    std::vector<std::vector<std::pair<float, int64_t>>> heaps(static_cast<size_t>(nt));
    for (auto& h : heaps) h.reserve(static_cast<size_t>(k));
    ParallelErrors errors;
    StopFlag stop;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
        if (stop.Poll()) continue;
        errors.Run([&] {
            const int t = ThreadIndex();
            RowMatrixF& s = S[t];
            std::vector<uint8_t>& mark = marks[t];
            const int64_t first = b * block;
            const int64_t nb = std::min(block, n_users - first);
            s.topRows(nb).noalias() = Um.middleRows(first, nb) * Vm.transpose();
            for (int64_t r = 0; r < nb; ++r) {
                const int64_t u = first + r;
                const float* row = s.row(r).data();
                for (int64_t j = 0; j < n_items; ++j)
                    if (!std::isfinite(row[j]))
                        throw DataError("user row " + std::to_string(u) + " has a non-finite score");
                const int64_t p0 = seen_offsets ? seen_offsets[u] : 0;
                const int64_t p1 = seen_offsets ? seen_offsets[u + 1] : 0;
                for (int64_t p = p0; p < p1; ++p) mark[static_cast<size_t>(seen_rows[p])] = 1;
                SelectTopK(row, n_items, mark.data(), k, heaps[t], out_index + u * k,
                           out_score + u * k, out_count + u);
                for (int64_t p = p0; p < p1; ++p) mark[static_cast<size_t>(seen_rows[p])] = 0;
            }
        });
    }
    errors.Rethrow();
    stop.ThrowIfStopped(what);
}

}  // namespace raid

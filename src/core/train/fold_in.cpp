// fold_in.cpp: per-user SGD against fixed items (fold_in.h).
#include "fold_in.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "../common.h"
#include "../linalg.h"

namespace raid {

namespace {

constexpr float kAdagradEps = 1e-8f;  // as the trainer's
constexpr int kNegativeRetries = 32;  // rejection-sampling tries per negative

// True if x is in the ascending row[0 .. n).
bool Contains(const int32_t* row, int64_t n, int32_t x) { return std::binary_search(row, row + n, x); }

// One user's embedding (u, dim floats) from its item rows.
void SolveUser(const float* items, int64_t n_items, const int32_t* row, int64_t len, uint64_t key,
               const MfOptions& o, float* u, std::vector<float>& gu, std::vector<int32_t>& order,
               StopFlag* stop) {
    const int dim = o.dim;
    const float lr = static_cast<float>(o.lr);
    const float l2 = static_cast<float>(o.l2);
    const float inv_dim = 1.0f / static_cast<float>(dim);
    Rng init(Key(o.seed, kTagFoldIn, key, 0));
    for (int k = 0; k < dim; ++k) u[k] = static_cast<float>(o.init_std * init.Normal());
    float acc = 0.0f;
    order.assign(row, row + len);
    for (int32_t e = 1; e <= o.epochs; ++e) {
        if (stop->Poll()) return;  // a user with very many items: a poll per pass
        Rng rng(Key(o.seed, kTagFoldIn, key, static_cast<uint64_t>(e)));
        for (int64_t p = len - 1; p > 0; --p)  // Fisher-Yates
            std::swap(order[static_cast<size_t>(p)],
                      order[static_cast<size_t>(rng.Below(static_cast<uint64_t>(p + 1)))]);
        for (int64_t p = 0; p < len; ++p) {
            std::fill(gu.begin(), gu.end(), 0.0f);
            auto sample = [&](int32_t j, float y) {
                const float* v = items + static_cast<int64_t>(j) * dim;
                float s = 0.0f;
                for (int k = 0; k < dim; ++k) s += u[k] * v[k];
                const float ex = std::exp(-std::fabs(s));
                const float sig = s >= 0.0f ? 1.0f / (1.0f + ex) : ex / (1.0f + ex);
                const float coef = sig - y;
                for (int k = 0; k < dim; ++k) gu[static_cast<size_t>(k)] += coef * v[k];
            };
            sample(order[static_cast<size_t>(p)], 1.0f);
            if (len < n_items)
                for (int n = 0; n < o.negatives; ++n)
                    for (int tries = 0; tries < kNegativeRetries; ++tries) {
                        const auto j = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(n_items)));
                        if (!Contains(row, len, j)) {
                            sample(j, 0.0f);
                            break;
                        }
                    }
            float g2 = 0.0f;
            for (int k = 0; k < dim; ++k) {
                gu[static_cast<size_t>(k)] += l2 * u[k];
                g2 += gu[static_cast<size_t>(k)] * gu[static_cast<size_t>(k)];
            }
            acc += g2 * inv_dim;
            const float step = lr / std::sqrt(acc + kAdagradEps);
            for (int k = 0; k < dim; ++k) u[k] -= step * gu[static_cast<size_t>(k)];
        }
    }
}

}  // namespace

// Long: the checks of every argument precede the parallel loop.
void FoldIn(const float* items, int64_t n_items, const int64_t* offsets, const int32_t* rows,
            const uint64_t* keys, int64_t n_users, const MfOptions& o, float* out) {
    o.Validate();
    if (n_items < 1) throw InvalidArgument("\"n_items\" must be at least 1");
    if (n_users < 0) throw InvalidArgument("\"n_users\" must not be negative");
    if (n_users == 0) return;
    if (items == nullptr || offsets == nullptr || rows == nullptr || keys == nullptr || out == nullptr)
        throw InvalidArgument("fold-in arrays must not be null");
    const int dim = o.dim;
    if (!ConstRowMapF(items, n_items, dim).allFinite())
        throw DataError("item embeddings contain a non-finite value");
    if (offsets[0] != 0) throw InvalidArgument("offsets[0] must be 0");
    for (int64_t u = 0; u < n_users; ++u) {
        if (offsets[u + 1] <= offsets[u])
            throw InvalidArgument("user " + std::to_string(u) + " has no items");
        for (int64_t p = offsets[u]; p < offsets[u + 1]; ++p) {
            if (rows[p] < 0 || rows[p] >= n_items)
                throw InvalidArgument("item row " + std::to_string(rows[p]) + " is not an item row");
            if (p > offsets[u] && rows[p] <= rows[p - 1])
                throw InvalidArgument("the item rows of user " + std::to_string(u) +
                                      " must ascend without repeats");
        }
    }
    const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(ResolveThreads(o.threads), n_users)));
    ParallelErrors errors;
    StopFlag stop;
#pragma omp parallel num_threads(nt)
    {
        std::vector<float> gu(static_cast<size_t>(dim));
        std::vector<int32_t> order;
#pragma omp for schedule(dynamic, 16)
        for (int64_t u = 0; u < n_users; ++u) {
            if (stop.Poll()) continue;
            errors.Run([&] {
                SolveUser(items, n_items, rows + offsets[u], offsets[u + 1] - offsets[u], keys[u], o,
                          out + u * dim, gu, order, &stop);
            });
        }
    }
    errors.Rethrow();
    stop.ThrowIfStopped("fold-in");
    if (!ConstRowMapF(out, n_users, dim).allFinite())
        throw DataError("fold-in diverged (non-finite embeddings): lower \"lr\"");
}

}  // namespace raid

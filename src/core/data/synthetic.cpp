// synthetic.cpp: the generator described in synthetic.h.
//
// Work is split into blocks of users; a block's latent scores are one Eigen
// matrix product (P_block * Q^T), then each user adds its class's item base
// scores and Gumbel noise from its own stream and keeps the top `count` items.
// The signal kind changes only how a user's factors are drawn and what the
// class adds to each item's base score; the mean kind keeps the original
// arithmetic exactly, so its output is unchanged for every seed.
#include "synthetic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "../common.h"
#include "../linalg.h"

namespace raid {

namespace {

constexpr double kFactorStd = 0.6;     // sd of each latent factor coordinate
constexpr double kZipfExponent = 0.5;  // log_pop(j) = -s * log(1 + rank(j))
constexpr double kCountSigma = 0.5;    // sd of the log of the per-user count factor
constexpr int64_t kMaxInteractions = 500000000;
constexpr const char* kWhat = "synthetic data generation";
constexpr int64_t kPollRows = 4096;     // users or items (cheap rows) per poll
constexpr double kClusterRadius = 3.0;  // nonlinear kind: a = 3 * signal
constexpr double kHalfPi = 1.5707963267948966;
// Key tag of a user's cluster in the nonlinear kind ("sclu"), distinct from
// the tags in common.h.

// Users per block: one GEMM and a score buffer of at most 2^22 floats.
int64_t UserBlock(int64_t ni) {
    return std::max<int64_t>(1,
                             std::min<int64_t>(64, (int64_t{1} << 22) / std::max<int64_t>(ni, 1)));
}

// Number of items user u draws (deterministic per user).
int64_t UserCount(const SyntheticOptions& o, int64_t u) {
    const double z = NormalFromKey(Key(o.seed, kTagSynCount, static_cast<uint64_t>(u)));
    const double factor = std::exp(kCountSigma * z - 0.5 * kCountSigma * kCountSigma);
    const int64_t lo = std::max<int64_t>(1, std::min<int64_t>(5, o.interactions_per_user));
    const int64_t hi = o.n_items - 1;
    const double raw = std::round(o.interactions_per_user * factor);
    if (!(raw >= static_cast<double>(lo))) return lo;
    if (raw > static_cast<double>(hi)) return hi;
    return static_cast<int64_t>(raw);
}

// Per-class scale w_cl of each latent coordinate (C x L, row-major): 1 except
// in the covariance kind, where class c widens its block B_c and narrows the rest.
std::vector<double> FactorScales(const SyntheticOptions& o) {
    const int L = kSyntheticLatentDim;
    const int C = o.classes;
    std::vector<double> w(static_cast<size_t>(C) * L, 1.0);
    if (o.signal_kind != kSignalCovariance) return w;
    const int groups = std::min(C, L);
    const double wide = std::sqrt(1.0 + o.signal);
    for (int c = 0; c < C; ++c) {
        for (int l = 0; l < L; ++l)
            w[static_cast<size_t>(c) * L + l] = l % groups == c % groups ? wide : 1.0 / wide;
    }
    return w;
}

// Rescales each block {l : l mod groups = g} of an item's factors to the
// same squared norm (their mean), keeping the total: then <p_u, q_j> has the
// same normal distribution for every class of the covariance kind.
void BalanceBlocks(double* q, int groups) {
    const int L = kSyntheticLatentDim;
    double norm2[kSyntheticLatentDim] = {};
    double total = 0;
    for (int l = 0; l < L; ++l) {
        norm2[l % groups] += q[l] * q[l];
        total += q[l] * q[l];
    }
    const double target = total / groups;
    for (int l = 0; l < L; ++l) {
        // A block of exact zeros (probability 0) is left as it is.
        if (norm2[l % groups] > 0) q[l] *= std::sqrt(target / norm2[l % groups]);
    }
}

// Cluster planes of the nonlinear kind: ceil(log2(classes)), one per bit of
// the class (at most 6 planes, 12 of the 16 dimensions).
int ClusterPlanes(int classes) {
    int planes = 0;
    while ((1 << planes) < classes) ++planes;
    return planes;
}

// Turns the item's factors in each cluster plane to the nearest angle
// pi/8 + m pi/4, keeping their length.  The axis cross and the diagonal cross
// are mirror images about these directions, so the projection of a user's
// centre on the item has the same distribution for every class.
void SnapToMirrorAxes(double* q, int planes) {
    constexpr double kEighthPi = 0.39269908169872414;
    for (int p = 0; p < planes; ++p) {
        double& x = q[2 * p];
        double& y = q[2 * p + 1];
        const double r = std::hypot(x, y);
        const double m = std::round((std::atan2(y, x) - kEighthPi) / (2 * kEighthPi));
        const double t = kEighthPi + 2 * kEighthPi * m;
        x = r * std::cos(t);
        y = r * std::sin(t);
    }
}

// Angle of the first centre of class c's cross in cluster plane p.
double CrossAngle(int c, int p) { return ((c >> p) & 1) != 0 ? 0.5 * kHalfPi : 0.0; }

// The popularity correction b(j) of the covariance and nonlinear kinds for an
// item with factors q, in float as stored (see synthetic.h).  It is computed
// for class 0; the balanced blocks and mirrored items make it the same for
// every class.
double PopularityCorrection(const SyntheticOptions& o, const std::vector<double>& scales,
                            const float* q) {
    if (o.signal_kind == kSignalCovariance) {
        double sum = 0;
        for (int l = 0; l < kSyntheticLatentDim; ++l) {
            const double ql = q[l];
            sum += (scales[l] * scales[l] - 1.0) * ql * ql;
        }
        return -0.5 * kFactorStd * kFactorStd * sum;
    }
    // Nonlinear: per plane, minus the log of the mean of exp over the four
    // centres, shifted by the largest exponent so that no signal overflows.
    const double a = kClusterRadius * o.signal;
    double b = 0;
    for (int p = 0; p < ClusterPlanes(o.classes); ++p) {
        double x[4];
        double top = -std::numeric_limits<double>::infinity();
        for (int k = 0; k < 4; ++k) {
            const double t = CrossAngle(0, p) + k * kHalfPi;
            x[k] = a * (std::cos(t) * q[2 * p] + std::sin(t) * q[2 * p + 1]);
            top = std::max(top, x[k]);
        }
        double mean = 0;
        for (double xk : x) mean += 0.25 * std::exp(xk - top);
        b -= top + std::log(mean);
    }
    return b;
}

}  // namespace

// Throws InvalidArgument naming the first bad field, LimitExceeded if too large.
void SyntheticOptions::Validate() const {
    ValidateOptions(RAID_OPTION_GROUP_SYNTHETIC, this);
    CheckRange("interactions_per_user", interactions_per_user, 1, n_items - 1);
    if (n_users * static_cast<int64_t>(interactions_per_user) > kMaxInteractions) {
        throw LimitExceeded("synthetic data would have " +
                            std::to_string(n_users * static_cast<int64_t>(interactions_per_user)) +
                            " interactions (n_users * interactions_per_user); the limit is " +
                            std::to_string(kMaxInteractions));
    }
}

// Estimated bytes of GenerateSynthetic (see Memory in synthetic.h).
double SyntheticBytes(const SyntheticOptions& o) {
    const double nu = static_cast<double>(o.n_users);
    const double ni = static_cast<double>(o.n_items);
    const int64_t block = UserBlock(o.n_items);
    const int64_t n_blocks = (o.n_users + block - 1) / block;
    const double t = static_cast<double>(
        std::max<int64_t>(1, std::min<int64_t>(ResolveThreads(o.threads), n_blocks)));
    const double L = kSyntheticLatentDim;
    return 16.0 * 1.25 * nu * o.interactions_per_user + 12.0 * nu +
           ni * (24.0 + 4.0 * L + 4.0 * o.classes) +
           t * (4.0 * static_cast<double>(block) * (L + ni) + 8.0 * ni);
}

// Generates users, classes and interactions (see synthetic.h).
// Long: every signal kind draws from the same per-user streams in one pass,
// which keeps the data of a seed identical for any thread count.
SyntheticData GenerateSynthetic(const SyntheticOptions& o) {
    o.Validate();
    CheckMemory(SyntheticBytes(o), kWhat);
    const int threads = ResolveThreads(o.threads);
    const int64_t nu = o.n_users;
    const int64_t ni = o.n_items;
    const int L = kSyntheticLatentDim;
    const int C = o.classes;
    const uint64_t seed = o.seed;

    SyntheticData out;
    out.classes.resize(static_cast<size_t>(nu));
    std::vector<int64_t> offsets(static_cast<size_t>(nu) + 1, 0);
    for (int64_t u = 0; u < nu; ++u) {
        if (u % kPollRows == 0) ThrowIfInterrupted(kWhat);
        Rng rng(Key(seed, kTagSynClass, static_cast<uint64_t>(u)));
        out.classes[u] = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(C)));
        offsets[u + 1] = offsets[u] + UserCount(o, u);
    }
    const int64_t total = offsets[nu];
    out.users.resize(static_cast<size_t>(total));
    out.items.resize(static_cast<size_t>(total));

    // Item popularity: a seeded random ranking, Zipf-like in log space.
    std::vector<int64_t> order(static_cast<size_t>(ni));
    std::iota(order.begin(), order.end(), 0);
    {
        std::vector<uint64_t> rank_key(static_cast<size_t>(ni));
        for (int64_t j = 0; j < ni; ++j)
            rank_key[j] = Key(seed, kTagSynPopularity, static_cast<uint64_t>(j));
        uint64_t comparisons = 0;  // the sort polls every 2^16 comparisons
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            if ((++comparisons & 0xffff) == 0) ThrowIfInterrupted(kWhat);
            return rank_key[a] < rank_key[b] || (rank_key[a] == rank_key[b] && a < b);
        });
    }
    std::vector<float> log_pop(static_cast<size_t>(ni));
    for (int64_t r = 0; r < ni; ++r)
        log_pop[order[r]] = static_cast<float>(-kZipfExponent * std::log1p(static_cast<double>(r)));
    std::vector<int64_t>().swap(order);

    // Item factors Q (ni x L) and per-class base scores (C x ni).
    const std::vector<double> scales = FactorScales(o);
    const int planes = ClusterPlanes(C);
    RowMatrixF Q(ni, L);
    RowMatrixF base(C, ni);
    StopFlag stop;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t j = 0; j < ni; ++j) {
        if (j % kPollRows == 0 ? stop.Poll() : stop.stopped()) continue;
        double q[kSyntheticLatentDim];
        for (int l = 0; l < L; ++l) {
            q[l] = kFactorStd * NormalFromKey(Key(seed, kTagSynItem, static_cast<uint64_t>(j),
                                                  static_cast<uint64_t>(l)));
        }
        if (o.signal_kind == kSignalCovariance) BalanceBlocks(q, std::min(C, L));
        if (o.signal_kind == kSignalNonlinear) SnapToMirrorAxes(q, planes);
        for (int l = 0; l < L; ++l) Q(j, l) = static_cast<float>(q[l]);
        if (o.signal_kind != kSignalMean) {
            const float b =
                static_cast<float>(log_pop[j] + PopularityCorrection(o, scales, &Q(j, 0)));
            for (int c = 0; c < C; ++c) base(c, j) = b;
            continue;
        }
        for (int c = 0; c < C; ++c) {
            const double a = NormalFromKey(
                Key(seed, kTagSynAffinity, static_cast<uint64_t>(j), static_cast<uint64_t>(c)));
            base(c, j) = static_cast<float>(log_pop[j] + o.signal * a);
        }
    }
    stop.ThrowIfStopped(kWhat);

    // Users in blocks: one GEMM per block, then Gumbel-top-k per user.
    const int64_t block = UserBlock(ni);
    const int64_t n_blocks = (nu + block - 1) / block;
    // Per-thread buffers are allocated before the region; the GEMM may still
    // allocate, so block bodies run under ParallelErrors.
    struct Buffers {
        RowMatrixF P, S;
        Eigen::ArrayXf keys;
        std::vector<int32_t> idx;
    };
    // No more threads than blocks: each thread owns a block-sized score buffer.
    const int user_threads =
        static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n_blocks)));
    std::vector<Buffers> buffers(static_cast<size_t>(user_threads));
    for (Buffers& buf : buffers) {
        buf.P.resize(block, L);
        buf.S.resize(block, ni);
        buf.keys.resize(ni);
        buf.idx.resize(static_cast<size_t>(ni));
    }
    ParallelErrors errors;
#pragma omp parallel for num_threads(user_threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
        if (stop.Poll()) continue;
        errors.Run([&] {
            Buffers& buf = buffers[ThreadIndex()];
            Eigen::ArrayXf& keys = buf.keys;
            std::vector<int32_t>& idx = buf.idx;
            const int64_t u0 = b * block;
            const int64_t nb = std::min(block, nu - u0);
            for (int64_t r = 0; r < nb; ++r) {
                const uint64_t u = static_cast<uint64_t>(u0 + r);
                if (o.signal_kind == kSignalMean) {
                    for (int l = 0; l < L; ++l) {
                        buf.P(r, l) = static_cast<float>(
                            kFactorStd *
                            NormalFromKey(Key(seed, kTagSynUser, u, static_cast<uint64_t>(l))));
                    }
                    continue;
                }
                const int c = out.classes[u];
                const double* w = &scales[static_cast<size_t>(c) * L];
                double centre[kSyntheticLatentDim] = {};
                if (o.signal_kind == kSignalNonlinear) {
                    // One centre per plane, chosen independently: the class
                    // picks the cross, the user's stream the arm.
                    Rng rng(Key(seed, kTagSynCluster, u));
                    const double a = kClusterRadius * o.signal;
                    for (int p = 0; p < planes; ++p) {
                        const double t =
                            CrossAngle(c, p) + static_cast<double>(rng.Below(4)) * kHalfPi;
                        centre[2 * p] = a * std::cos(t);
                        centre[2 * p + 1] = a * std::sin(t);
                    }
                }
                for (int l = 0; l < L; ++l) {
                    const double z =
                        NormalFromKey(Key(seed, kTagSynUser, u, static_cast<uint64_t>(l)));
                    buf.P(r, l) = static_cast<float>(centre[l] + kFactorStd * w[l] * z);
                }
            }
            buf.S.topRows(nb).noalias() = buf.P.topRows(nb) * Q.transpose();
            for (int64_t r = 0; r < nb; ++r) {
                if (stop.Poll()) return;
                const int64_t u = u0 + r;
                Rng rng(Key(seed, kTagSynGumbel, static_cast<uint64_t>(u)));
                for (int64_t j = 0; j < ni; ++j) keys[j] = rng.UniformFloat();
                // Gumbel(0, 1) noise: -log(-log(U)), vectorised by Eigen.
                keys = -((-keys.log()).log());
                keys +=
                    buf.S.row(r).transpose().array() + base.row(out.classes[u]).transpose().array();
                const int64_t count = offsets[u + 1] - offsets[u];
                std::iota(idx.begin(), idx.end(), 0);
                auto better = [&](int32_t a, int32_t c) {
                    return keys[a] > keys[c] || (keys[a] == keys[c] && a < c);
                };
                std::nth_element(idx.begin(), idx.begin() + (count - 1), idx.end(), better);
                std::sort(idx.begin(), idx.begin() + count);
                for (int64_t k = 0; k < count; ++k) {
                    out.users[offsets[u] + k] = u + 1;
                    out.items[offsets[u] + k] = static_cast<int64_t>(idx[k]) + 1;
                }
            }
        });
    }
    errors.Rethrow();
    stop.ThrowIfStopped(kWhat);
    return out;
}

}  // namespace raid

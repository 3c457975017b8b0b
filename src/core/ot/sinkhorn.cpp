// sinkhorn.cpp: log-domain Sinkhorn iterations (see sinkhorn.h).
#include "sinkhorn.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace raid {

namespace {

// Weights w if given (size n), else uniform 1/n; throws on a size mismatch or a bad weight.
VectorD WeightsOrUniform(const VectorD& w, int64_t n, const char* name) {
    if (w.size() == 0) return VectorD::Constant(n, 1.0 / static_cast<double>(n));
    if (w.size() != n)
        throw InvalidArgument(std::string("\"") + name + "\" must have " + std::to_string(n) +
                              " entries, got " + std::to_string(w.size()));
    for (int64_t i = 0; i < n; ++i)
        if (!(w[i] > 0.0) || !std::isfinite(w[i]))
            throw InvalidArgument(std::string("\"") + name + "\" must be positive and finite");
    return w;
}

// -epsilon * LSE_k(lw_k + (h_k - c_k) / epsilon) over a contiguous row c; in
// blocks on the stack so that Eigen's vectorised exp applies and nothing
// allocates (this runs inside OpenMP regions).
inline double SoftMin(const double* c, const double* lw, const double* h, int64_t n, double inv_eps,
                      double eps) {
    constexpr int64_t kBlock = 256;
    alignas(64) double buf[kBlock];
    using Arr = Eigen::Array<double, Eigen::Dynamic, 1>;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < n; ++k) mx = std::max(mx, lw[k] + (h[k] - c[k]) * inv_eps);
    double s = 0.0;
    for (int64_t k0 = 0; k0 < n; k0 += kBlock) {
        const int64_t len = std::min(kBlock, n - k0);
        Eigen::Map<Arr> b(buf, len);
        b = (Eigen::Map<const Arr>(lw + k0, len) +
             (Eigen::Map<const Arr>(h + k0, len) - Eigen::Map<const Arr>(c + k0, len)) * inv_eps -
             mx)
                .exp();
        s += b.sum();
    }
    return -eps * (mx + std::log(s));
}

constexpr const char* kWhat = "optimal transport";
// Cost cells (log-sum-exp terms) between two polls inside a row loop.
constexpr int64_t kPollCells = int64_t{1} << 16;
// Multiply-adds of one block of a distance GEMM: larger products run in row
// blocks with a poll between them.
constexpr int64_t kGemmWork = int64_t{1} << 26;

// Rows of length `len` between two polls.
int64_t RowsPerPoll(int64_t len) { return std::max<int64_t>(1, kPollCells / std::max<int64_t>(len, 1)); }

}  // namespace

// Throws InvalidArgument naming the first bad field.
void SinkhornOptions::Validate() const {
    if (!(epsilon > 0.0) || !std::isfinite(epsilon))
        throw InvalidArgument("Sinkhorn: epsilon must be positive and finite, got " +
                              FormatDouble(epsilon));
    if (max_iters < 1 || max_iters > 1000000)
        throw InvalidArgument("Sinkhorn: max_iters must be between 1 and 1000000, got " +
                              std::to_string(max_iters));
    if (!(tol > 0.0 && tol <= 1.0))
        throw InvalidArgument("Sinkhorn: tol must be greater than 0 and at most 1, got " +
                              FormatDouble(tol));
    if (threads < 0 || threads > 1024)
        throw InvalidArgument("Sinkhorn: threads must be between 0 and 1024, got " +
                              std::to_string(threads));
}

// Squared Euclidean distances ||x_i - z_j||^2 (n x m), clamped at 0.
RowMatrixD SquaredDistances(const RowMatrixD& X, const RowMatrixD& Z) {
    if (X.cols() != Z.cols())
        throw InvalidArgument("point sets must have the same dimension, got " +
                              std::to_string(X.cols()) + " and " + std::to_string(Z.cols()));
    const VectorD xx = X.rowwise().squaredNorm();
    const VectorD zz = Z.rowwise().squaredNorm();
    const int64_t n = X.rows(), m = Z.rows(), d = X.cols();
    const int64_t rows = std::max<int64_t>(1, kGemmWork / std::max<int64_t>(1, m * d));
    if (n <= rows) {
        RowMatrixD C = -2.0 * X * Z.transpose();
        C.colwise() += xx;
        C.rowwise() += zz.transpose();
        return C.cwiseMax(0.0);
    }
    // A large product: row blocks, polling the interrupt check between them.
    RowMatrixD C(n, m);
    for (int64_t i0 = 0; i0 < n; i0 += rows) {
        ThrowIfInterrupted(kWhat);
        const int64_t len = std::min(rows, n - i0);
        auto block = C.middleRows(i0, len);
        block.noalias() = -2.0 * X.middleRows(i0, len) * Z.transpose();
        block.colwise() += xx.segment(i0, len);
        block.rowwise() += zz.transpose();
        block = block.cwiseMax(0.0);
    }
    return C;
}

// Squared distances within one cloud from a float Gram matrix (see sinkhorn.h).
RowMatrixD SelfSquaredDistances(const RowMatrixD& X) {
    const int64_t n = X.rows();
    const RowMatrixF Xf = X.cast<float>();
    RowMatrixF G(n, n);
    const int64_t rows = std::max<int64_t>(1, kGemmWork / std::max<int64_t>(1, n * X.cols()));
    if (n <= rows) {
        G.noalias() = Xf * Xf.transpose();
    } else {
        // A large product: row blocks, polling the interrupt check between them.
        for (int64_t i0 = 0; i0 < n; i0 += rows) {
            ThrowIfInterrupted(kWhat);
            const int64_t len = std::min(rows, n - i0);
            G.middleRows(i0, len).noalias() = Xf.middleRows(i0, len) * Xf.transpose();
        }
    }
    const VectorD xx = X.rowwise().squaredNorm();
    RowMatrixD C(n, n);
    const int64_t poll_rows = RowsPerPoll(n);
    for (int64_t i = 0; i < n; ++i) {
        if (i % poll_rows == 0) ThrowIfInterrupted(kWhat);
        C(i, i) = 0.0;
        for (int64_t j = i + 1; j < n; ++j)
            C(i, j) = C(j, i) = std::max(0.0, xx[i] + xx[j] - 2.0 * static_cast<double>(G(i, j)));
    }
    return C;
}

// Median of the entries of C (of at most ~65,536 evenly spaced entries).
double MedianCost(const RowMatrixD& C) {
    const int64_t total = C.size();
    if (total == 0) return 0.0;
    const int64_t stride = std::max<int64_t>(1, total / 65536);
    std::vector<double> v;
    v.reserve(static_cast<size_t>(total / stride + 1));
    for (int64_t k = 0; k < total; k += stride) v.push_back(C.data()[k]);
    auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    return *mid;
}

// Solves entropic OT in the log domain (see sinkhorn.h).
SinkhornSummary Sinkhorn(const RowMatrixD& C, const VectorD& a_in, const VectorD& b_in,
                         const SinkhornOptions& options, SinkhornPotentials* pot) {
    options.Validate();
    if (pot == nullptr) throw InvalidArgument("potentials must not be null");
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t n = C.rows(), m = C.cols();
    if (n < 1 || m < 1) throw InvalidArgument("cost matrix must not be empty");
    for (int64_t k = 0; k < C.size(); ++k)
        if (!std::isfinite(C.data()[k])) throw DataError("cost matrix is not finite");
    const VectorD a = WeightsOrUniform(a_in, n, "a");
    const VectorD b = WeightsOrUniform(b_in, m, "b");
    const VectorD la = a.array().log();
    const VectorD lb = b.array().log();
    const double eps = options.epsilon;
    const double inv_eps = 1.0 / eps;
    const int threads = ResolveThreads(options.threads);
    const RowMatrixD CT = C.transpose();  // column updates read rows of C^T

    VectorD& f = pot->f;
    VectorD& g = pot->g;
    if (g.size() != m || !g.allFinite()) g = VectorD::Zero(m);
    const bool warm_f = f.size() == n && f.allFinite();
    if (!warm_f) f = VectorD::Zero(n);
    VectorD f_new(n);

    SinkhornSummary s;
    // Small problems stay on one thread: a team's barriers cost more than they save.
    const bool parallel_rows = n * m >= kSinkhornParallelCells && threads > 1;
    // Problems of more than kPollCells cells also poll inside the row loops.
    const bool poll_rows = n * m > kPollCells;
    const int64_t f_poll = RowsPerPoll(m), g_poll = RowsPerPoll(n);
    StopFlag stop;
    for (int32_t it = 0; it < options.max_iters; ++it) {
        ThrowIfInterrupted(kWhat);
        // f-update; the row marginal of the previous (f, g) is a_i exp((f_i - f_i') / eps).
        const double* Cd = C.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel_rows)
        for (int64_t i = 0; i < n; ++i) {
            if (poll_rows && (i % f_poll == 0 ? stop.Poll() : stop.stopped())) continue;
            f_new[i] = SoftMin(Cd + i * m, lb.data(), g.data(), m, inv_eps, eps);
        }
        stop.ThrowIfStopped(kWhat);
        s.iterations = it + 1;
        if (it > 0 || warm_f) {
            double err = 0.0;
            for (int64_t i = 0; i < n; ++i)
                err += a[i] * std::fabs(std::expm1((f[i] - f_new[i]) * inv_eps));
            s.marginal_error = err;
            f.swap(f_new);
            if (err <= options.tol) {
                s.converged = true;
                break;
            }
        } else {
            f.swap(f_new);
            s.marginal_error = 1.0;
        }
        // g-update.
        const double* CTd = CT.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel_rows)
        for (int64_t j = 0; j < m; ++j) {
            if (poll_rows && (j % g_poll == 0 ? stop.Poll() : stop.stopped())) continue;
            g[j] = SoftMin(CTd + j * n, la.data(), f.data(), n, inv_eps, eps);
        }
        stop.ThrowIfStopped(kWhat);
    }
    // <T, C>, row by row in a fixed order (vectorised exp, no allocation).
    double cost = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const auto c = C.row(i).array();
        cost += a[i] *
                (b.array().transpose() * ((f[i] + g.array().transpose() - c) * inv_eps).exp() * c)
                    .sum();
    }
    s.cost = cost;
    s.seconds = SecondsSince(t0);
    return s;
}

// Symmetric self-transport (see sinkhorn.h).
SinkhornSummary SinkhornSymmetric(const RowMatrixD& C, const SinkhornOptions& options,
                                  SinkhornPotentials* pot) {
    options.Validate();
    if (pot == nullptr) throw InvalidArgument("potentials must not be null");
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t n = C.rows();
    if (n < 1 || C.cols() != n) throw InvalidArgument("cost matrix must be square and not empty");
    for (int64_t k = 0; k < C.size(); ++k)
        if (!std::isfinite(C.data()[k])) throw DataError("cost matrix is not finite");
    const VectorD la = VectorD::Constant(n, -std::log(static_cast<double>(n)));
    const double eps = options.epsilon;
    const double inv_eps = 1.0 / eps;
    const int threads = ResolveThreads(options.threads);
    VectorD& f = pot->f;
    if (f.size() != n || !f.allFinite()) f = VectorD::Zero(n);
    VectorD soft(n);
    SinkhornSummary s;
    bool damped = false;
    double prev_err = 0.0;
    const bool parallel_rows = n * n >= kSinkhornParallelCells && threads > 1;
    const bool poll_rows = n * n > kPollCells;
    const int64_t every = RowsPerPoll(n);
    StopFlag stop;
    for (int32_t it = 0; it < options.max_iters; ++it) {
        ThrowIfInterrupted(kWhat);
        const double* Cd = C.data();
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel_rows)
        for (int64_t i = 0; i < n; ++i) {
            if (poll_rows && (i % every == 0 ? stop.Poll() : stop.stopped())) continue;
            soft[i] = SoftMin(Cd + i * n, la.data(), f.data(), n, inv_eps, eps);
        }
        stop.ThrowIfStopped(kWhat);
        // Row marginal of (f, f): a_i exp((f_i - soft_i) / eps).
        double err = 0.0;
        for (int64_t i = 0; i < n; ++i)
            err += std::fabs(std::expm1((f[i] - soft[i]) * inv_eps)) / static_cast<double>(n);
        s.iterations = it + 1;
        s.marginal_error = err;
        if (err <= options.tol) {
            s.converged = true;
            break;
        }
        // Undamped, f <- SoftMin(f) with the constant mode averaged (SoftMin
        // maps f + k to SoftMin(f) - k, so a shift would never decay): fastest
        // with a wide blur, where the plan is far from a permutation.  With a
        // narrow blur the other modes oscillate too (the plan nears the
        // identity); the first time the error grows, switch to the averaged
        // update for good.
        if (it > 0 && err > prev_err) damped = true;
        prev_err = err;
        if (damped)
            f = 0.5 * (f + soft);
        else
            f = soft.array() + 0.5 * (f.mean() - soft.mean());
    }
    pot->g = f;
    s.seconds = SecondsSince(t0);
    return s;
}

// Sinkhorn between point sets with squared Euclidean costs.
SinkhornSummary SinkhornPoints(const RowMatrixD& X, const RowMatrixD& Z, const VectorD& a,
                               const VectorD& b, const SinkhornOptions& options,
                               SinkhornPotentials* pot) {
    return Sinkhorn(SquaredDistances(X, Z), a, b, options, pot);
}

// The plan T_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon).
RowMatrixD TransportPlan(const RowMatrixD& C, const VectorD& a_in, const VectorD& b_in,
                         const SinkhornPotentials& pot, double epsilon) {
    const int64_t n = C.rows(), m = C.cols();
    if (pot.f.size() != n || pot.g.size() != m)
        throw InvalidArgument("potentials do not match the cost matrix");
    const VectorD a = WeightsOrUniform(a_in, n, "a");
    const VectorD b = WeightsOrUniform(b_in, m, "b");
    const double inv_eps = 1.0 / epsilon;
    RowMatrixD T(n, m);
    for (int64_t i = 0; i < n; ++i)
        T.row(i).array() =
            a[i] * b.array().transpose() *
            ((pot.f[i] + pot.g.array().transpose() - C.row(i).array()) * inv_eps).exp();
    return T;
}

}  // namespace raid

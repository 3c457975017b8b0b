// barycenter.cpp: free-support entropic W2 barycenter (see barycenter.h).
#include "barycenter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace raid {

namespace {

constexpr const char* kWhat = "optimal transport";
constexpr int64_t kGemmWork = int64_t{1} << 26;  // multiply-adds per block of T^T X

// T^T X (m x d) for a coupling T (n x m) and a cloud X (n x d); a large
// product runs in row blocks with a poll of the interrupt check between them.
void MovedMass(const RowMatrixD& T, const RowMatrixD& X, RowMatrixD* out) {
    const int64_t n = T.rows();
    const int64_t rows = std::max<int64_t>(1, kGemmWork / std::max<int64_t>(1, T.cols() * X.cols()));
    if (n <= rows) {
        out->noalias() = T.transpose() * X;
        return;
    }
    out->setZero(T.cols(), X.cols());
    for (int64_t i0 = 0; i0 < n; i0 += rows) {
        ThrowIfInterrupted(kWhat);
        const int64_t len = std::min(rows, n - i0);
        out->noalias() += T.middleRows(i0, len).transpose() * X.middleRows(i0, len);
    }
}

}  // namespace

// Throws InvalidArgument naming the first bad field.
void BarycenterOptions::Validate() const {
    if (m < 1 || m > 65536)
        throw InvalidArgument("barycenter: m must be between 1 and 65536, got " + std::to_string(m));
    if (!(tau > 0.0 && tau <= 100.0))
        throw InvalidArgument("barycenter: tau must be greater than 0 and at most 100, got " +
                              FormatDouble(tau));
    if (!(epsilon >= 0.0) || !std::isfinite(epsilon))
        throw InvalidArgument("barycenter: epsilon must be non-negative, got " +
                              FormatDouble(epsilon));
    if (max_iters < 1 || max_iters > 100000)
        throw InvalidArgument("barycenter: max_iters must be between 1 and 100000, got " +
                              std::to_string(max_iters));
    if (!(tol >= 0.0) || !std::isfinite(tol))
        throw InvalidArgument("barycenter: tol must be non-negative, got " +
                              FormatDouble(tol));
    SinkhornOptions s;
    s.epsilon = 1.0;
    s.max_iters = sinkhorn_iters;
    s.tol = sinkhorn_tol;
    s.threads = threads;
    s.Validate();
}

// Alternates couplings and barycentric updates (Cuturi & Doucet 2014).
BarycenterSummary Barycenter(const std::vector<RowMatrixD>& clouds, const std::vector<double>& w_in,
                             const BarycenterOptions& options, BarycenterState* state,
                             RowMatrixD* coupled_support) {
    options.Validate();
    if (state == nullptr) throw InvalidArgument("barycenter state must not be null");
    const auto t0 = std::chrono::steady_clock::now();
    const size_t K = clouds.size();
    if (K < 1) throw InvalidArgument("barycenter needs at least one cloud");
    const int64_t d = clouds[0].cols();
    int64_t pooled = 0;
    for (size_t c = 0; c < K; ++c) {
        if (clouds[c].rows() < 1) throw InvalidArgument("cloud " + std::to_string(c) + " is empty");
        if (clouds[c].cols() != d)
            throw InvalidArgument("cloud " + std::to_string(c) + " has dimension " +
                                  std::to_string(clouds[c].cols()) + ", expected " +
                                  std::to_string(d));
        pooled += clouds[c].rows();
    }
    std::vector<double> w = w_in;
    if (w.empty()) w.assign(K, 1.0 / static_cast<double>(K));
    if (w.size() != K) throw InvalidArgument("barycenter weights must have one entry per cloud");
    const int64_t m = options.m;

    // Initial support: m points drawn from the pooled clouds without
    // replacement (partial Fisher-Yates, seeded); with fewer points, cycled.
    if (state->Z.rows() != m || state->Z.cols() != d) {
        std::vector<int64_t> idx(static_cast<size_t>(pooled));
        std::iota(idx.begin(), idx.end(), 0);
        Rng rng(Key(options.seed, 0x62617279ULL));
        state->Z.resize(m, d);
        for (int64_t j = 0; j < m; ++j) {
            const int64_t k = j % pooled;
            if (j < pooled) {
                const int64_t r =
                    k + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(pooled - k)));
                std::swap(idx[k], idx[r]);
            }
            int64_t p = idx[k];
            size_t c = 0;
            while (p >= clouds[c].rows()) p -= clouds[c++].rows();
            state->Z.row(j) = clouds[c].row(p);
        }
        state->pots.clear();
    }
    if (state->pots.size() != K) state->pots.assign(K, SinkhornPotentials());

    // Epsilon from the median cost between the clouds and the support.
    std::vector<RowMatrixD> C(K);
    double median = 0.0;
    for (size_t c = 0; c < K; ++c) {
        C[c] = SquaredDistances(clouds[c], state->Z);
        median += MedianCost(C[c]) / static_cast<double>(K);
    }
    const double eps =
        options.epsilon > 0.0 ? options.epsilon : options.tau * std::max(median, 1e-12);
    state->epsilon = eps;
    const double scale = std::sqrt(std::max(median, 1e-300));

    SinkhornOptions so;
    so.epsilon = eps;
    so.max_iters = options.sinkhorn_iters;
    so.tol = options.sinkhorn_tol;
    so.threads = options.threads;

    BarycenterSummary s;
    s.epsilon = eps;
    const VectorD empty;
    // The clouds' couplings are independent: with small problems (where
    // Sinkhorn itself stays on one thread) they run one per thread.  Each is
    // computed whole by one thread and the results are summed in class order,
    // so the outcome does not depend on the thread count.
    int64_t largest = 0;
    for (size_t c = 0; c < K; ++c) largest = std::max<int64_t>(largest, clouds[c].rows() * m);
    const int threads = ResolveThreads(options.threads);
    const bool parallel_clouds = threads > 1 && K > 1 && largest < kSinkhornParallelCells;
    std::vector<SinkhornSummary> ss(K);
    std::vector<RowMatrixD> moved(K);  // T_c^T X_c
    for (int32_t it = 0; it < options.max_iters; ++it) {
        ThrowIfInterrupted(kWhat);
        ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (parallel_clouds)
        for (size_t c = 0; c < K; ++c) {
            errors.Run([&] {
                if (it > 0) C[c] = SquaredDistances(clouds[c], state->Z);
                ss[c] = Sinkhorn(C[c], empty, empty, so, &state->pots[c]);
                const RowMatrixD T = TransportPlan(C[c], empty, empty, state->pots[c], eps);
                MovedMass(T, clouds[c], &moved[c]);
            });
        }
        errors.Rethrow();
        // diag(1/b) sum_c w_c T_c^T X_c with b = 1/m.
        RowMatrixD Znew = RowMatrixD::Zero(m, d);
        s.cost = 0.0;
        for (size_t c = 0; c < K; ++c) {
            ++s.sinkhorn_calls;
            s.sinkhorn_iterations += ss[c].iterations;
            s.sinkhorn_converged += ss[c].converged ? 1 : 0;
            s.max_marginal_error = std::max(s.max_marginal_error, ss[c].marginal_error);
            s.cost += ss[c].cost;
            Znew.noalias() += (w[c] * static_cast<double>(m)) * moved[c];
        }
        if (coupled_support != nullptr) *coupled_support = state->Z;
        s.shift = (Znew - state->Z).rowwise().norm().maxCoeff() / scale;
        state->Z = Znew;
        s.iterations = it + 1;
        if (s.shift <= options.tol) {
            s.converged = true;
            break;
        }
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

}  // namespace raid

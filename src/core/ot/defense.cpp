// defense.cpp: defense loss, entropic map and Sinkhorn divergence (see defense.h).
#include "defense.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace raid {

// L_def of one class with a fixed coupling, and its gradient.
double DefenseLoss(const RowMatrixD& X, const RowMatrixD& T, const RowMatrixD& Z,
                   RowMatrixD* grad) {
    if (T.rows() != X.rows() || T.cols() != Z.rows() || X.cols() != Z.cols())
        throw InvalidArgument("defense loss: coupling, users and support do not match");
    const RowMatrixD C = SquaredDistances(X, Z);
    const double loss = (T.array() * C.array()).sum();
    if (grad != nullptr) {
        if (grad->rows() != X.rows() || grad->cols() != X.cols())
            throw InvalidArgument("defense loss: gradient has the wrong shape");
        // 2 sum_j T_ij (x_i - z_j) = 2 (rowsum_i x_i - (T Z)_i).
        const VectorD mass = T.rowwise().sum();
        *grad += 2.0 * (mass.asDiagonal() * X - T * Z);
    }
    return loss;
}

namespace {

constexpr int64_t kMapBlock = 64;  // users per block: one GEMM pair per block

// One class prepared for the float kernel: the supports stacked as Y = [Z; S]
// ((m + s) x d), Y2 = (2 / eps) Y and the logit offsets
//   h_j = log(1 / size of j's part) + (g_j - |y_j|^2) / eps,
// so that the logit of support point j for a user x is h_j + <x, Y2_j> (|x|^2
// cancels in each softmax).
struct PreparedMaps {
    const int32_t* rows = nullptr;
    int64_t n = 0, m = 0, s = 0;
    RowMatrixF Y, Y2;
    Eigen::VectorXf h;
};

// Appends the rows of P (with potential g) to prep's stacked support.
void PreparePart(const RowMatrixD& P, const VectorD& g, double inv_eps, int64_t offset,
                 PreparedMaps* prep) {
    const double log_b = -std::log(static_cast<double>(P.rows()));
    for (int64_t j = 0; j < P.rows(); ++j) {
        prep->Y.row(offset + j) = P.row(j).cast<float>();
        prep->h[offset + j] = static_cast<float>(log_b + (g[j] - P.row(j).squaredNorm()) * inv_eps);
    }
}

// In place: row r of L[:, lo .. lo + len) becomes sign * softmax of itself.
inline void SignedSoftmax(RowMatrixF* L, int64_t r, int64_t lo, int64_t len, float sign) {
    auto seg = L->row(r).segment(lo, len).array();
    const float mx = seg.maxCoeff();
    seg = (seg - mx).exp();
    seg *= sign / seg.sum();
}

// Runs the prepared maps: out row = softmax(Z part) Z - softmax(S part) S.
void RunMaps(const float* x, int64_t x_stride, const std::vector<PreparedMaps>& prep, float* out,
             int64_t out_stride, int threads) {
    std::vector<std::pair<int32_t, int64_t>> tasks;  // (class, first row of the block)
    int64_t width = 0, d = 0;
    for (size_t c = 0; c < prep.size(); ++c) {
        for (int64_t i0 = 0; i0 < prep[c].n; i0 += kMapBlock)
            tasks.emplace_back(static_cast<int32_t>(c), i0);
        width = std::max(width, prep[c].m + prep[c].s);
        d = prep[c].Y.cols();
    }
    const int64_t n_tasks = static_cast<int64_t>(tasks.size());
    ParallelErrors errors;
    StopFlag stop;
#pragma omp parallel num_threads(threads) if (threads > 1 && n_tasks > 1)
    {
        RowMatrixF Xb, L, Ob;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < n_tasks; ++t) {
            if (stop.Poll()) continue;  // one block of users per poll
            errors.Run([&] {
                if (Xb.rows() != kMapBlock) {
                    Xb.resize(kMapBlock, d);
                    L.resize(kMapBlock, width);
                    Ob.resize(kMapBlock, d);
                }
                const PreparedMaps& p = prep[static_cast<size_t>(tasks[t].first)];
                const int64_t i0 = tasks[t].second;
                const int64_t nr = std::min(kMapBlock, p.n - i0);
                const int64_t w = p.m + p.s;
                for (int64_t r = 0; r < nr; ++r) {
                    const int64_t row = p.rows != nullptr ? p.rows[i0 + r] : i0 + r;
                    Xb.row(r) = Eigen::Map<const Eigen::RowVectorXf>(x + row * x_stride, d);
                }
                L.topLeftCorner(nr, w).noalias() = Xb.topRows(nr) * p.Y2.transpose();
                for (int64_t r = 0; r < nr; ++r) {
                    L.row(r).head(w) += p.h.transpose();
                    SignedSoftmax(&L, r, 0, p.m, 1.0f);
                    if (p.s > 0) SignedSoftmax(&L, r, p.m, p.s, -1.0f);
                }
                Ob.topRows(nr).noalias() = L.topLeftCorner(nr, w) * p.Y;
                for (int64_t r = 0; r < nr; ++r) {
                    const int64_t row = p.rows != nullptr ? p.rows[i0 + r] : i0 + r;
                    Eigen::Map<Eigen::RowVectorXf>(out + row * out_stride, d) = Ob.row(r);
                }
            });
        }
    }
    errors.Rethrow();
    stop.ThrowIfStopped("optimal transport");
}

void CheckMapPart(const RowMatrixD& P, const VectorD& g, int64_t d) {
    if (P.rows() < 1 || P.cols() != d)
        throw InvalidArgument("entropic map: supports must be non-empty with the same dimension");
    if (g.size() != P.rows())
        throw InvalidArgument("entropic map: potential does not match the support");
}

}  // namespace

// Out-of-sample barycentric projection from the potential g (see defense.h).
void EntropicMap(const float* x, int64_t x_stride, const int32_t* rows, int64_t n,
                 const RowMatrixD& Z, const VectorD& log_b, const VectorD& g, double epsilon,
                 float* out, int64_t out_stride, int threads) {
    const int64_t m = Z.rows(), d = Z.cols();
    CheckMapPart(Z, g, d);
    if (log_b.size() != 0 && log_b.size() != m)
        throw InvalidArgument("entropic map: weights do not match the support");
    if (!(epsilon > 0.0)) throw InvalidArgument("entropic map: epsilon must be positive");
    std::vector<PreparedMaps> prep(1);
    PreparedMaps& p = prep[0];
    p.rows = rows;
    p.n = n;
    p.m = m;
    p.Y.resize(m, d);
    p.h.resize(m);
    PreparePart(Z, g, 1.0 / epsilon, 0, &p);
    if (log_b.size() != 0)  // replace the uniform log-weight
        for (int64_t j = 0; j < m; ++j)
            p.h[j] += static_cast<float>(log_b[j] + std::log(static_cast<double>(m)));
    p.Y2 = (static_cast<float>(2.0 / epsilon)) * p.Y;
    RunMaps(x, x_stride, prep, out, out_stride, threads);
}

// Debiased displacements of every class (see defense.h).
void DebiasedDisplacements(const float* x, int64_t x_stride,
                           const std::vector<DebiasedMapClass>& classes, double epsilon, float* out,
                           int64_t out_stride, int threads) {
    if (!(epsilon > 0.0)) throw InvalidArgument("entropic map: epsilon must be positive");
    std::vector<PreparedMaps> prep(classes.size());
    for (size_t c = 0; c < classes.size(); ++c) {
        const DebiasedMapClass& k = classes[c];
        if (k.Z == nullptr || k.g_z == nullptr || k.S == nullptr || k.g_s == nullptr)
            throw InvalidArgument("entropic map: missing support or potential");
        const int64_t d = k.Z->cols();
        CheckMapPart(*k.Z, *k.g_z, d);
        CheckMapPart(*k.S, *k.g_s, d);
        PreparedMaps& p = prep[c];
        p.rows = k.rows;
        p.n = k.n;
        p.m = k.Z->rows();
        p.s = k.S->rows();
        p.Y.resize(p.m + p.s, d);
        p.h.resize(p.m + p.s);
        PreparePart(*k.Z, *k.g_z, 1.0 / epsilon, 0, &p);
        PreparePart(*k.S, *k.g_s, 1.0 / epsilon, p.m, &p);
        p.Y2 = (static_cast<float>(2.0 / epsilon)) * p.Y;
    }
    RunMaps(x, x_stride, prep, out, out_stride, threads);
}

// Debiased Sinkhorn divergence, as a W2 estimate.
double SinkhornW2(const RowMatrixD& X, const RowMatrixD& Y, double epsilon, int32_t max_iters,
                  double tol, int threads) {
    SinkhornOptions o;
    o.epsilon = epsilon;
    o.max_iters = max_iters;
    o.tol = tol;
    o.threads = threads;
    const VectorD empty;
    SinkhornPotentials pxy, pxx, pyy;
    const double xy = SinkhornPoints(X, Y, empty, empty, o, &pxy).cost;
    const double xx = SinkhornPoints(X, X, empty, empty, o, &pxx).cost;
    const double yy = SinkhornPoints(Y, Y, empty, empty, o, &pyy).cost;
    return std::sqrt(std::max(0.0, xy - 0.5 * (xx + yy)));
}

}  // namespace raid

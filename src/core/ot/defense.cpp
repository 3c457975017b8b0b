// defense.cpp: defense loss, entropic map and Sinkhorn divergence (see defense.h).
#include "defense.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
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

// Out-of-sample barycentric projection from the potential g (see defense.h).
void EntropicMap(const float* x, int64_t x_stride, const int32_t* rows, int64_t n,
                 const RowMatrixD& Z, const VectorD& log_b, const VectorD& g, double epsilon,
                 float* out, int64_t out_stride, int threads) {
    const int64_t m = Z.rows(), d = Z.cols();
    if (g.size() != m) throw InvalidArgument("entropic map: potential does not match the support");
    if (log_b.size() != 0 && log_b.size() != m)
        throw InvalidArgument("entropic map: weights do not match the support");
    if (!(epsilon > 0.0)) throw InvalidArgument("entropic map: epsilon must be positive");
    // h_j = log b_j + (g_j - |z_j|^2) / eps; then the logit of j for x is
    // h_j + (2 <x, z_j> - |x|^2) / eps, and |x|^2 cancels in the softmax.
    const double inv_eps = 1.0 / epsilon;
    VectorD h(m);
    for (int64_t j = 0; j < m; ++j) {
        const double lb = log_b.size() ? log_b[j] : -std::log(static_cast<double>(m));
        h[j] = lb + (g[j] - Z.row(j).squaredNorm()) * inv_eps;
    }
    const RowMatrixD Z2 = (2.0 * inv_eps) * Z;
    constexpr int64_t kBlock = 64;  // rows per block: one GEMM per block
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    ParallelErrors errors;
    // Small maps stay on one thread: a team's barriers cost more than they save.
    const bool parallel = n * m >= (int64_t{1} << 20) && threads > 1;
#pragma omp parallel num_threads(threads) if (parallel)
    {
        RowMatrixD Xb, L, Tb;
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < blocks; ++blk) {
            errors.Run([&] {
                if (Xb.rows() != kBlock) {
                    Xb.resize(kBlock, d);
                    L.resize(kBlock, m);
                    Tb.resize(kBlock, d);
                }
                const int64_t i0 = blk * kBlock;
                const int64_t nr = std::min(kBlock, n - i0);
                for (int64_t r = 0; r < nr; ++r) {
                    const int64_t row = rows != nullptr ? rows[i0 + r] : i0 + r;
                    for (int64_t k = 0; k < d; ++k) Xb(r, k) = x[row * x_stride + k];
                }
                L.topRows(nr).noalias() = Xb.topRows(nr) * Z2.transpose();
                for (int64_t r = 0; r < nr; ++r) {
                    L.row(r) += h.transpose();
                    const double mx = L.row(r).maxCoeff();
                    L.row(r) = (L.row(r).array() - mx).exp();
                    L.row(r) /= L.row(r).sum();
                }
                Tb.topRows(nr).noalias() = L.topRows(nr) * Z;
                for (int64_t r = 0; r < nr; ++r) {
                    const int64_t row = rows != nullptr ? rows[i0 + r] : i0 + r;
                    for (int64_t k = 0; k < d; ++k)
                        out[row * out_stride + k] = static_cast<float>(Tb(r, k));
                }
            });
        }
    }
    errors.Rethrow();
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

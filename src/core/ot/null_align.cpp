// null_align.cpp: see null_align.h.
#include "null_align.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "../common.h"
#include "../linalg.h"

namespace raid {
namespace {

constexpr int64_t kBlock = 1024;  // rows per GEMM block (and per interrupt check)
constexpr size_t kMovePoll = 256;  // users moved per interrupt check (d^2 each, kGaussian)

using MatrixD = Eigen::MatrixXd;
using VectorD = Eigen::VectorXd;

// The sum over `users` of r r^T, r = x - m_class,
// in blocks of kBlock rows (Eigen GEMM, fixed order).
MatrixD ScatterOf(const std::vector<int32_t>& users, const float* rows, int64_t stride, int32_t dim,
                  const std::vector<int32_t>& user_class, const MatrixD& class_mean, RowMatrixD* block) {
    MatrixD s = MatrixD::Zero(dim, dim);
    for (size_t b = 0; b < users.size(); b += kBlock) {
        ThrowIfInterrupted("null alignment");
        const int64_t m = std::min<int64_t>(kBlock, static_cast<int64_t>(users.size() - b));
        for (int64_t i = 0; i < m; ++i) {
            const int32_t u = users[b + i];
            const float* x = rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim; ++k)
                (*block)(i, k) = x[k] - class_mean(k, user_class[u]);
        }
        s.noalias() += block->topRows(m).transpose() * block->topRows(m);
    }
    return s;
}

// S^(1/2) and S^(-1/2) of a symmetric positive semi-definite matrix, with the
// eigenvalues floored at 1e-12 of the largest (a singular covariance then
// maps its null directions to nothing instead of to infinity).
void SqrtAndInverse(const MatrixD& s, MatrixD* root, MatrixD* inverse_root) {
    const Eigen::SelfAdjointEigenSolver<MatrixD> eig(s);
    VectorD ev = eig.eigenvalues();
    const double floor = std::max(ev.maxCoeff(), 0.0) * 1e-12 + 1e-300;
    ev = ev.cwiseMax(floor);
    *root = eig.eigenvectors() * ev.cwiseSqrt().asDiagonal() * eig.eigenvectors().transpose();
    if (inverse_root != nullptr)
        *inverse_root =
            eig.eigenvectors() * ev.cwiseSqrt().cwiseInverse().asDiagonal() * eig.eigenvectors().transpose();
}

}  // namespace

double NullAlignMemory(int64_t n, int32_t dim, int32_t classes, NullAlignMode mode) {
    const double K = classes, d = dim;
    double bytes = 8.0 * (2.0 * K * d + static_cast<double>(n) + 4.0 * d * d + kBlock * d);
    if (mode == NullAlignMode::kGaussian) bytes += 8.0 * (2.0 * K * d * d + 6.0 * d * d);
    return bytes;
}

NullAlignSummary NullAlign(float* rows, int64_t stride, int64_t n, int32_t dim,
                           const std::vector<int32_t>& user_class, int32_t classes, uint64_t seed,
                           NullAlignMode mode) {
    const auto t0 = std::chrono::steady_clock::now();
    if (n < 0 || dim < 1 || stride < dim || static_cast<int64_t>(user_class.size()) != n ||
        (n > 0 && rows == nullptr))
        throw InvalidArgument("null alignment: bad sizes");
    if (classes < 2) throw InvalidArgument("null alignment needs at least 2 classes");
    CheckMemory(NullAlignMemory(n, dim, classes, mode), "the null alignment");
    const size_t K = static_cast<size_t>(classes);
    std::vector<std::vector<int32_t>> members(K);
    std::vector<int32_t> labelled;
    for (int64_t u = 0; u < n; ++u) {
        const int32_t c = user_class[u];
        if (c < -1 || c >= classes)
            throw InvalidArgument("class of user " + std::to_string(u) + " must be between -1 and " +
                                  std::to_string(classes - 1) + ", got " + std::to_string(c));
        if (c >= 0) {
            members[c].push_back(static_cast<int32_t>(u));
            labelled.push_back(static_cast<int32_t>(u));
        }
    }
    for (size_t c = 0; c < K; ++c)
        if (members[c].empty()) throw InvalidArgument("class " + std::to_string(c) + " has no users");
    ThrowIfInterrupted("null alignment");
    const double n_labelled = static_cast<double>(labelled.size());

    // class means (column c) and the pooled mean
    MatrixD class_mean = MatrixD::Zero(dim, static_cast<Eigen::Index>(K));
    for (size_t c = 0; c < K; ++c) {
        for (int32_t u : members[c]) {
            const float* x = rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim; ++k) class_mean(k, c) += x[k];
        }
        class_mean.col(c) /= static_cast<double>(members[c].size());
    }
    VectorD pooled = VectorD::Zero(dim);
    for (size_t c = 0; c < K; ++c) pooled += class_mean.col(c) * static_cast<double>(members[c].size());
    pooled /= n_labelled;

    // the class scatters (kept for kGaussian) and W, its square root
    RowMatrixD block(kBlock, dim);
    std::vector<MatrixD> class_scatter(mode == NullAlignMode::kGaussian ? K : 0);
    MatrixD w = MatrixD::Zero(dim, dim);
    for (size_t c = 0; c < K; ++c) {
        MatrixD s = ScatterOf(members[c], rows, stride, dim, user_class, class_mean, &block);
        w += s;
        if (mode == NullAlignMode::kGaussian) class_scatter[c] = std::move(s);
    }
    w /= n_labelled;
    MatrixD w_root;
    ThrowIfInterrupted("null alignment");
    SqrtAndInverse(0.5 * (w + w.transpose()), &w_root, nullptr);

    // the targets' means: g_c ~ N(0, W / n_c), centred so that the pooled
    // mean stays (sum_c n_c t_c = n m)
    Rng rng(Key(seed, kTagNullDraws));
    MatrixD target(dim, static_cast<Eigen::Index>(K));
    VectorD z(dim);
    for (size_t c = 0; c < K; ++c) {
        for (int32_t k = 0; k < dim; ++k) z(k) = rng.Normal();
        target.col(c) = w_root * z / std::sqrt(static_cast<double>(members[c].size()));
    }
    {
        VectorD drift = VectorD::Zero(dim);
        for (size_t c = 0; c < K; ++c) drift += target.col(c) * static_cast<double>(members[c].size());
        drift /= n_labelled;
        for (size_t c = 0; c < K; ++c) target.col(c) += pooled - drift;
    }

    // the maps M_c (kGaussian): A_c the class's residual covariance, B_c the
    // covariance (about their own mean) of n_c fresh draws from N(0, W)
    std::vector<MatrixD> map;
    if (mode == NullAlignMode::kGaussian) {
        map.resize(K);
        for (size_t c = 0; c < K; ++c) {
            const int64_t nc = static_cast<int64_t>(members[c].size());
            if (nc <= dim) {  // singular A_c: keep the residuals (see the header)
                map[c] = MatrixD::Identity(dim, dim);
                continue;
            }
            MatrixD draws = MatrixD::Zero(dim, dim);
            VectorD draw_sum = VectorD::Zero(dim);
            for (int64_t b = 0; b < nc; b += kBlock) {
                ThrowIfInterrupted("null alignment");
                const int64_t m = std::min<int64_t>(kBlock, nc - b);
                for (int64_t i = 0; i < m; ++i)
                    for (int32_t k = 0; k < dim; ++k) block(i, k) = rng.Normal();
                draws.noalias() += block.topRows(m).transpose() * block.topRows(m);
                draw_sum += block.topRows(m).colwise().sum().transpose();
            }
            draws -= draw_sum * draw_sum.transpose() / static_cast<double>(nc);
            const MatrixD b = w_root * (draws / static_cast<double>(nc)) * w_root;
            const MatrixD a = class_scatter[c] / static_cast<double>(nc);
            MatrixD a_root, a_inv_root, middle_root;
            ThrowIfInterrupted("null alignment");  // each d x d eigenproblem: up to ~1 s at d 1024
            SqrtAndInverse(a, &a_root, &a_inv_root);
            ThrowIfInterrupted("null alignment");
            const MatrixD middle = a_root * b * a_root;
            SqrtAndInverse(0.5 * (middle + middle.transpose()), &middle_root, nullptr);
            map[c] = a_inv_root * middle_root * a_inv_root;
            ThrowIfInterrupted("null alignment");
        }
    }

    // the move, computed from the rows before any move (every statistic above is)
    NullAlignSummary out;
    out.classes = classes;
    double moved2 = 0.0;
    VectorD r(dim), y(dim);
    for (size_t i = 0; i < labelled.size(); ++i) {
        if (i % kMovePoll == 0) ThrowIfInterrupted("null alignment");
        const int32_t u = labelled[i];
        const int32_t c = user_class[u];
        float* x = rows + static_cast<int64_t>(u) * stride;
        for (int32_t k = 0; k < dim; ++k) r(k) = x[k] - class_mean(k, c);
        if (mode == NullAlignMode::kGaussian)
            y.noalias() = map[c] * r;
        else
            y = r;
        y += target.col(c);
        for (int32_t k = 0; k < dim; ++k) {
            const float v = static_cast<float>(y(k));
            moved2 += (static_cast<double>(v) - x[k]) * (static_cast<double>(v) - x[k]);
            x[k] = v;
        }
    }
    out.moved_users = static_cast<int64_t>(labelled.size());
    out.mean_shift = out.moved_users > 0 ? std::sqrt(moved2 / static_cast<double>(out.moved_users)) : 0.0;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace raid

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

constexpr uint64_t kTagNullGroups = 0x6e756c6cULL;
constexpr int64_t kBlock = 1024;  // rows per GEMM block (and per interrupt check)
constexpr size_t kMovePoll = 256;  // users moved per interrupt check (d^2 each, kGaussian)

using MatrixD = Eigen::MatrixXd;
using VectorD = Eigen::VectorXd;

// The sum over `users` of (r - center)(r - center)^T, r = x - m_class,
// in blocks of kBlock rows (Eigen GEMM, fixed order).
MatrixD ScatterOf(const std::vector<int32_t>& users, const float* rows, int64_t stride, int32_t dim,
                  const std::vector<int32_t>& user_class, const MatrixD& class_mean,
                  const VectorD& center, RowMatrixD* block) {
    MatrixD s = MatrixD::Zero(dim, dim);
    for (size_t b = 0; b < users.size(); b += kBlock) {
        ThrowIfInterrupted("null alignment");
        const int64_t m = std::min<int64_t>(kBlock, static_cast<int64_t>(users.size() - b));
        for (int64_t i = 0; i < m; ++i) {
            const int32_t u = users[b + i];
            const float* x = rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim; ++k)
                (*block)(i, k) = x[k] - class_mean(k, user_class[u]) - center(k);
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
    double bytes = 8.0 * (2.0 * K * d + static_cast<double>(n));
    if (mode == NullAlignMode::kGaussian) bytes += 8.0 * (2.0 * K * d * d + 6.0 * d * d + kBlock * d);
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

    // the partition: a seeded shuffle of the users with a class, cut into
    // groups of the classes' sizes in class order
    std::vector<std::vector<int32_t>> group(K);
    {
        std::vector<int32_t> perm = labelled;
        Rng rng(Key(seed, kTagNullGroups));
        for (size_t i = perm.size(); i > 1; --i)
            std::swap(perm[i - 1], perm[static_cast<size_t>(rng.Below(i))]);
        size_t next = 0;
        for (size_t c = 0; c < K; ++c) {
            group[c].assign(perm.begin() + static_cast<std::ptrdiff_t>(next),
                            perm.begin() + static_cast<std::ptrdiff_t>(next + members[c].size()));
            next += members[c].size();
        }
    }

    // class means (column c), the pooled mean, the groups' residual means
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
    pooled /= static_cast<double>(labelled.size());
    MatrixD target = MatrixD::Zero(dim, static_cast<Eigen::Index>(K));  // m + mean(r over R_c)
    for (size_t c = 0; c < K; ++c) {
        VectorD s = VectorD::Zero(dim);
        for (int32_t u : group[c]) {
            const float* x = rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim; ++k) s(k) += x[k] - class_mean(k, user_class[u]);
        }
        target.col(c) = pooled + s / static_cast<double>(group[c].size());
    }

    // the maps M_c (kGaussian)
    std::vector<MatrixD> map;
    if (mode == NullAlignMode::kGaussian) {
        RowMatrixD block(kBlock, dim);
        const VectorD zero = VectorD::Zero(dim);
        std::vector<MatrixD> class_scatter(K);
        MatrixD w = MatrixD::Zero(dim, dim);
        for (size_t c = 0; c < K; ++c) {
            class_scatter[c] = ScatterOf(members[c], rows, stride, dim, user_class, class_mean, zero, &block);
            w += class_scatter[c];
        }
        w /= static_cast<double>(labelled.size());
        const double k = 0.3 * dim;
        map.resize(K);
        for (size_t c = 0; c < K; ++c) {
            const double nc = static_cast<double>(members[c].size());
            const VectorD group_center = target.col(c) - pooled;
            const MatrixD a = (class_scatter[c] + k * w) / (nc + k);
            const MatrixD b =
                (ScatterOf(group[c], rows, stride, dim, user_class, class_mean, group_center, &block) + k * w) /
                (nc + k);
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

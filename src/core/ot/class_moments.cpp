// class_moments.cpp: see class_moments.h.
#include "class_moments.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../common.h"

namespace raid {
namespace {

constexpr size_t kMovePoll = 256;  // users moved per interrupt check (d^2 each with a map)

// The sum over `users` of r r^T, r = x - m_class, in blocks (fixed order).
Eigen::MatrixXd ScatterOf(const std::vector<int32_t>& users, const float* rows, int64_t stride,
                          int32_t dim, const std::vector<int32_t>& user_class,
                          const Eigen::MatrixXd& class_mean, RowMatrixD* block, const char* what) {
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(dim, dim);
    for (size_t b = 0; b < users.size(); b += kMomentBlock) {
        ThrowIfInterrupted(what);
        const int64_t m = std::min<int64_t>(kMomentBlock, static_cast<int64_t>(users.size() - b));
        for (int64_t i = 0; i < m; ++i) {
            const int32_t u = users[b + i];
            const float* x = rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim; ++k) (*block)(i, k) = x[k] - class_mean(k, user_class[u]);
        }
        s.noalias() += block->topRows(m).transpose() * block->topRows(m);
    }
    return s;
}

}  // namespace

double ClassMomentsMemory(int64_t n, int32_t dim, int32_t classes, bool scatters) {
    const double K = classes, d = dim;
    double bytes = 8.0 * (K * d + d * d + kMomentBlock * d) + 4.0 * 2.0 * static_cast<double>(n);
    if (scatters) bytes += 8.0 * K * d * d;
    return bytes;
}

ClassMoments ComputeClassMoments(const float* rows, int64_t stride, int64_t n, int32_t dim,
                                 const std::vector<int32_t>& user_class, int32_t classes,
                                 bool keep_scatters, const char* what) {
    if (n < 0 || dim < 1 || stride < dim || static_cast<int64_t>(user_class.size()) != n ||
        (n > 0 && rows == nullptr))
        throw InvalidArgument(std::string(what) + ": bad sizes");
    if (classes < 2) throw InvalidArgument(std::string(what) + " needs at least 2 classes");
    const size_t K = static_cast<size_t>(classes);
    ClassMoments out;
    out.dim = dim;
    out.members.resize(K);
    for (int64_t u = 0; u < n; ++u) {
        const int32_t c = user_class[u];
        if (c < -1 || c >= classes)
            throw InvalidArgument("class of user " + std::to_string(u) + " must be between -1 and " +
                                  std::to_string(classes - 1) + ", got " + std::to_string(c));
        if (c >= 0) {
            out.members[c].push_back(static_cast<int32_t>(u));
            out.labelled.push_back(static_cast<int32_t>(u));
        }
    }
    for (size_t c = 0; c < K; ++c)
        if (out.members[c].empty()) throw InvalidArgument("class " + std::to_string(c) + " has no users");
    ThrowIfInterrupted(what);
    const double n_labelled = static_cast<double>(out.labelled.size());

    out.mean = Eigen::MatrixXd::Zero(dim, static_cast<Eigen::Index>(K));
    for (size_t c = 0; c < K; ++c) {
        for (int32_t u : out.members[c]) {
            const float* x = rows + static_cast<int64_t>(u) * stride;
            for (int32_t k = 0; k < dim; ++k) out.mean(k, c) += x[k];
        }
        out.mean.col(c) /= static_cast<double>(out.members[c].size());
    }
    out.pooled = Eigen::VectorXd::Zero(dim);
    for (size_t c = 0; c < K; ++c) out.pooled += out.mean.col(c) * static_cast<double>(out.members[c].size());
    out.pooled /= n_labelled;

    RowMatrixD block(kMomentBlock, dim);
    out.within = Eigen::MatrixXd::Zero(dim, dim);
    if (keep_scatters) out.scatter.resize(K);
    for (size_t c = 0; c < K; ++c) {
        Eigen::MatrixXd s = ScatterOf(out.members[c], rows, stride, dim, user_class, out.mean, &block, what);
        out.within += s;
        if (keep_scatters) out.scatter[c] = std::move(s);
    }
    out.within /= n_labelled;
    return out;
}

void SqrtAndInverse(const Eigen::MatrixXd& s, Eigen::MatrixXd* root, Eigen::MatrixXd* inverse_root) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(s);
    Eigen::VectorXd ev = eig.eigenvalues();
    const double floor = std::max(ev.maxCoeff(), 0.0) * 1e-12 + 1e-300;
    ev = ev.cwiseMax(floor);
    *root = eig.eigenvectors() * ev.cwiseSqrt().asDiagonal() * eig.eigenvectors().transpose();
    if (inverse_root != nullptr)
        *inverse_root =
            eig.eigenvectors() * ev.cwiseSqrt().cwiseInverse().asDiagonal() * eig.eigenvectors().transpose();
}

Eigen::MatrixXd GaussianMongeMap(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    Eigen::MatrixXd a_root, a_inv_root, middle_root;
    SqrtAndInverse(a, &a_root, &a_inv_root);
    const Eigen::MatrixXd middle = a_root * b * a_root;
    SqrtAndInverse(0.5 * (middle + middle.transpose()), &middle_root, nullptr);
    return a_inv_root * middle_root * a_inv_root;
}

double MoveClasses(float* rows, int64_t stride, const ClassMoments& moments,
                   const std::vector<int32_t>& user_class, const Eigen::MatrixXd& target,
                   const std::vector<Eigen::MatrixXd>& map, const char* what) {
    const int32_t dim = moments.dim;
    double moved2 = 0.0;
    Eigen::VectorXd r(dim), y(dim);
    for (size_t i = 0; i < moments.labelled.size(); ++i) {
        if (i % kMovePoll == 0) ThrowIfInterrupted(what);
        const int32_t u = moments.labelled[i];
        const int32_t c = user_class[u];
        float* x = rows + static_cast<int64_t>(u) * stride;
        for (int32_t k = 0; k < dim; ++k) r(k) = x[k] - moments.mean(k, c);
        if (map.empty())
            y = r;
        else
            y.noalias() = map[c] * r;
        y += target.col(c);
        for (int32_t k = 0; k < dim; ++k) {
            const float v = static_cast<float>(y(k));
            moved2 += (static_cast<double>(v) - x[k]) * (static_cast<double>(v) - x[k]);
            x[k] = v;
        }
    }
    const double moved = static_cast<double>(moments.labelled.size());
    return moved > 0 ? std::sqrt(moved2 / moved) : 0.0;
}

}  // namespace raid

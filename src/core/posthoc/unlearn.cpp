// unlearn.cpp: see unlearn.h.
#include "unlearn.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "../common.h"

namespace raid {
namespace {

// exp(-|a_i - b_j|^2 / (2 s^2)) for every pair of rows.
Eigen::MatrixXd Kernel(const RowMatrixD& a, const RowMatrixD& b, double s) {
    const Eigen::VectorXd na = a.rowwise().squaredNorm(), nb = b.rowwise().squaredNorm();
    Eigen::MatrixXd d2 = -2.0 * a * b.transpose();
    d2.colwise() += na;
    d2.rowwise() += nb.transpose();
    return (d2.cwiseMax(0.0) * (-0.5 / (s * s))).array().exp().matrix();
}

// Rows of the float table for these users, as doubles.
RowMatrixD Gather(const float* rows, int32_t dim, const std::vector<int32_t>& users) {
    RowMatrixD x(static_cast<Eigen::Index>(users.size()), dim);
    for (size_t i = 0; i < users.size(); ++i)
        for (int32_t k = 0; k < dim; ++k) x(i, k) = rows[static_cast<int64_t>(users[i]) * dim + k];
    return x;
}

}  // namespace

double Mmd2(const RowMatrixD& x, const RowMatrixD& y, double s, RowMatrixD* grad_x, RowMatrixD* grad_y) {
    const double m = static_cast<double>(x.rows()), n = static_cast<double>(y.rows());
    const Eigen::MatrixXd kxx = Kernel(x, x, s), kyy = Kernel(y, y, s), kxy = Kernel(x, y, s);
    const double value = kxx.sum() / (m * m) + kyy.sum() / (n * n) - 2.0 * kxy.sum() / (m * n);
    const double s2 = s * s;
    if (grad_x != nullptr) {
        *grad_x = -2.0 / (m * m * s2) * (kxx.rowwise().sum().asDiagonal() * x - kxx * x) +
                  2.0 / (m * n * s2) * (kxy.rowwise().sum().asDiagonal() * x - kxy * y);
    }
    if (grad_y != nullptr) {
        *grad_y = -2.0 / (n * n * s2) * (kyy.rowwise().sum().asDiagonal() * y - kyy * y) +
                  2.0 / (m * n * s2) * (kxy.colwise().sum().transpose().asDiagonal() * y - kxy.transpose() * x);
    }
    return value;
}

double ClassMmd2(const float* rows, int64_t n, int32_t dim, const std::vector<int32_t>& user_class,
                 int32_t classes, double s) {
    std::vector<std::vector<int32_t>> members(static_cast<size_t>(classes));
    for (int64_t u = 0; u < n; ++u)
        if (user_class[u] >= 0) members[user_class[u]].push_back(static_cast<int32_t>(u));
    double total = 0.0;
    int pairs = 0;
    for (int32_t a = 0; a < classes; ++a)
        for (int32_t b = a + 1; b < classes; ++b) {
            total += Mmd2(Gather(rows, dim, members[a]), Gather(rows, dim, members[b]), s, nullptr, nullptr);
            ++pairs;
        }
    return pairs > 0 ? total / pairs : 0.0;
}

double MedianDistance(const float* rows, int64_t n, int32_t dim, uint64_t seed) {
    std::vector<int32_t> sample;
    Rng rng(Key(seed, kTagUnlearn, 0));
    for (int64_t i = 0; i < std::min<int64_t>(n, 1000); ++i)
        sample.push_back(static_cast<int32_t>(n <= 1000 ? i : static_cast<int64_t>(rng.Below(n))));
    const RowMatrixD x = Gather(rows, dim, sample);
    std::vector<double> d;
    for (Eigen::Index i = 0; i < x.rows(); ++i)
        for (Eigen::Index j = i + 1; j < x.rows(); ++j) d.push_back((x.row(i) - x.row(j)).norm());
    if (d.empty()) return 1.0;
    std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
    return d[d.size() / 2] > 0 ? d[d.size() / 2] : 1.0;
}

// Long: the draw, the pairs' gradients and the move share one step's buffers.
raid_posthoc_summary Unlearn(float* rows, int64_t n, int32_t dim, const float* items, int64_t n_items,
                             const std::vector<int32_t>& user_class, int32_t classes,
                             const UnlearnOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    if (n < 0 || dim < 1 || n_items < 1 || items == nullptr || static_cast<int64_t>(user_class.size()) != n ||
        (n > 0 && rows == nullptr))
        throw InvalidArgument("unlearning: bad sizes");
    if (classes < 2) throw InvalidArgument("unlearning needs at least 2 classes");
    if (o.steps < 1 || !(o.lr > 0) || !(o.weight >= 0) || o.batch < 2)
        throw InvalidArgument("unlearning: steps >= 1, lr > 0, weight >= 0 and batch >= 2");
    // the start, G, the draws and their gradients, one pair's three kernels
    // and distance products (Mmd2 works pair by pair)
    const double b = o.batch;
    CheckMemory(4.0 * static_cast<double>(n) * dim + 8.0 * dim * dim + 8.0 * 4.0 * classes * b * dim +
                    8.0 * 6.0 * b * b,
                "unlearning");
    std::vector<std::vector<int32_t>> members(static_cast<size_t>(classes));
    for (int64_t u = 0; u < n; ++u) {
        const int32_t c = user_class[u];
        if (c < -1 || c >= classes)
            throw InvalidArgument("class of user " + std::to_string(u) + " must be between -1 and " +
                                  std::to_string(classes - 1) + ", got " + std::to_string(c));
        if (c >= 0) members[c].push_back(static_cast<int32_t>(u));
    }
    for (int32_t c = 0; c < classes; ++c)
        if (members[c].empty()) throw InvalidArgument("class " + std::to_string(c) + " has no users");

    const std::vector<float> start(rows, rows + n * dim);
    // in units of the bandwidth s, and with G scaled to mean eigenvalue 1, the
    // options mean the same on any data: neither term depends on the scale
    // of the embeddings, nor the second on that of the items
    const double s = MedianDistance(rows, n, dim, o.seed);
    const Eigen::MatrixXd g = [&] {
        const Eigen::Map<const RowMatrixF> v(items, n_items, dim);
        Eigen::MatrixXd vv = v.cast<double>().transpose() * v.cast<double>();
        const double mean_eigenvalue = vv.trace() / dim;
        return Eigen::MatrixXd(mean_eigenvalue > 0 ? Eigen::MatrixXd(vv / mean_eigenvalue)
                                                   : Eigen::MatrixXd::Identity(dim, dim));
    }();
    // the second term alone is a linear iteration u <- u - 2 lr weight G u:
    // stable for 2 lr weight lambda_max(G) < 2; keep well inside (at most 1)
    const double lambda_max = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(g, Eigen::EigenvaluesOnly)
                                  .eigenvalues()
                                  .maxCoeff();
    const double lr = o.weight > 0 ? std::min(o.lr, 0.5 / (o.weight * lambda_max)) : o.lr;
    const int pairs = classes * (classes - 1) / 2;
    raid_posthoc_summary out{};
    out.classes = classes;
    std::vector<std::vector<int32_t>> draw(static_cast<size_t>(classes));
    std::vector<RowMatrixD> x(static_cast<size_t>(classes)), grad(static_cast<size_t>(classes));
    for (int32_t step = 0; step < o.steps; ++step) {
        ThrowIfInterrupted("unlearning");
        Rng rng(Key(o.seed, kTagUnlearn, static_cast<uint64_t>(step) + 1));
        for (int32_t c = 0; c < classes; ++c) {  // a partial Fisher-Yates draw without replacement
            std::vector<int32_t>& m = members[c];
            const size_t b = std::min<size_t>(static_cast<size_t>(o.batch), m.size());
            for (size_t i = 0; i < b; ++i) std::swap(m[i], m[i + rng.Below(m.size() - i)]);
            draw[c].assign(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(b));
            x[c] = Gather(rows, dim, draw[c]) / s;
            grad[c] = RowMatrixD::Zero(x[c].rows(), dim);
        }
        double loss = 0.0;
        RowMatrixD ga, gb;
        for (int32_t a = 0; a < classes; ++a)
            for (int32_t b = a + 1; b < classes; ++b) {
                // a pair is 3 batch^2 d work: poll per pair, not per step (many classes)
                ThrowIfInterrupted("unlearning");
                loss += Mmd2(x[a], x[b], 1.0, &ga, &gb) / pairs;
                grad[a] += ga / pairs;
                grad[b] += gb / pairs;
            }
        double kept = 0.0;
        for (int32_t c = 0; c < classes; ++c) {
            const double scale = static_cast<double>(draw[c].size());
            for (size_t i = 0; i < draw[c].size(); ++i) {
                const int64_t u = draw[c][i];
                Eigen::VectorXd delta(dim);
                for (int32_t k = 0; k < dim; ++k) delta(k) = x[c](i, k) - start[u * dim + k] / s;
                const Eigen::VectorXd gd = g * delta;
                kept += delta.dot(gd);
                const Eigen::VectorXd step_vec = scale * grad[c].row(i).transpose() + 2.0 * o.weight * gd;
                for (int32_t k = 0; k < dim; ++k)
                    rows[u * dim + k] = static_cast<float>(s * (x[c](i, k) - lr * step_vec(k)));
            }
        }
        out.change = loss + o.weight * kept / static_cast<double>(classes * o.batch);
        out.iterations = step + 1;
    }
    double moved2 = 0.0;
    for (int64_t i = 0; i < n * dim; ++i)
        moved2 += (static_cast<double>(rows[i]) - start[i]) * (static_cast<double>(rows[i]) - start[i]);
    int64_t labelled = 0;
    for (const auto& m : members) labelled += static_cast<int64_t>(m.size());
    out.moved_users = labelled;
    out.mean_shift = labelled > 0 ? std::sqrt(moved2 / static_cast<double>(labelled)) : 0.0;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace raid

// align.cpp: see align.h.
#include "align.h"

#include <chrono>
#include <cmath>

#include "../common.h"
#include "../ot/class_moments.h"

namespace raid {

double PosthocAlignMemory(int64_t n, int32_t dim, int32_t classes, PosthocAlignMode mode) {
    const bool gaussian = mode == PosthocAlignMode::kGaussian;
    const double K = classes, d = dim;
    double bytes = ClassMomentsMemory(n, dim, classes, gaussian) + 8.0 * K * d;
    if (gaussian) bytes += 8.0 * (2.0 * K * d * d + 8.0 * d * d);
    return bytes;
}

Eigen::MatrixXd GaussianBarycenterCovariance(const std::vector<Eigen::MatrixXd>& covs,
                                             const std::vector<double>& w, int max_iterations,
                                             double tol, int32_t* iterations, double* change) {
    if (covs.empty() || covs.size() != w.size())
        throw InvalidArgument("Gaussian barycenter: one weight per covariance");
    Eigen::MatrixXd s = Eigen::MatrixXd::Zero(covs[0].rows(), covs[0].cols());
    for (size_t c = 0; c < covs.size(); ++c) s += w[c] * covs[c];
    *iterations = 0;
    *change = 0.0;
    Eigen::MatrixXd root, inv_root, term_root;
    for (int it = 0; it < max_iterations; ++it) {
        ThrowIfInterrupted("the Gaussian barycenter");
        SqrtAndInverse(0.5 * (s + s.transpose()), &root, &inv_root);
        Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(s.rows(), s.cols());
        for (size_t c = 0; c < covs.size(); ++c) {
            ThrowIfInterrupted("the Gaussian barycenter");  // a d x d eigenproblem each: ~1 s at d 1024
            const Eigen::MatrixXd term = root * covs[c] * root;
            SqrtAndInverse(0.5 * (term + term.transpose()), &term_root, nullptr);
            sum += w[c] * term_root;
        }
        const Eigen::MatrixXd next = inv_root * sum * sum * inv_root;
        *change = (next - s).norm() / std::max(s.norm(), 1e-300);
        s = 0.5 * (next + next.transpose());
        *iterations = it + 1;
        if (*change <= tol) break;
    }
    return s;
}

PosthocAlignSummary PosthocAlign(float* rows, int64_t stride, int64_t n, int32_t dim,
                                 const std::vector<int32_t>& user_class, int32_t classes,
                                 PosthocAlignMode mode) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool gaussian = mode == PosthocAlignMode::kGaussian;
    if (n < 0 || dim < 1 || stride < dim || static_cast<int64_t>(user_class.size()) != n ||
        (n > 0 && rows == nullptr))
        throw InvalidArgument("post-hoc alignment: bad sizes");
    if (classes < 2) throw InvalidArgument("post-hoc alignment needs at least 2 classes");
    CheckMemory(PosthocAlignMemory(n, dim, classes, mode), "the post-hoc alignment");
    const ClassMoments mo =
        ComputeClassMoments(rows, stride, n, dim, user_class, classes, gaussian, "post-hoc alignment");
    const size_t K = static_cast<size_t>(classes);
    const Eigen::MatrixXd target = mo.pooled.replicate(1, static_cast<Eigen::Index>(K));

    PosthocAlignSummary out;
    out.classes = classes;
    std::vector<Eigen::MatrixXd> map;
    if (gaussian) {
        std::vector<Eigen::MatrixXd> covs;
        std::vector<double> w;
        double total = 0.0;
        for (size_t c = 0; c < K; ++c) {
            const double nc = static_cast<double>(mo.members[c].size());
            if (nc <= dim) continue;  // singular: keeps its residuals (see the header)
            covs.push_back(mo.scatter[c] / nc);
            w.push_back(nc);
            total += nc;
        }
        map.assign(K, Eigen::MatrixXd::Identity(dim, dim));
        if (!covs.empty()) {
            for (double& x : w) x /= total;
            const Eigen::MatrixXd s =
                GaussianBarycenterCovariance(covs, w, 100, 1e-10, &out.iterations, &out.change);
            for (size_t c = 0; c < K; ++c) {
                const double nc = static_cast<double>(mo.members[c].size());
                if (nc <= dim) continue;
                ThrowIfInterrupted("post-hoc alignment");
                map[c] = GaussianMongeMap(mo.scatter[c] / nc, s);
            }
        }
    }
    out.mean_shift = MoveClasses(rows, stride, mo, user_class, target, map, "post-hoc alignment");
    out.moved_users = static_cast<int64_t>(mo.labelled.size());
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace raid

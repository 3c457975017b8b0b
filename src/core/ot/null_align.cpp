// null_align.cpp: see null_align.h.
#include "null_align.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "../common.h"
#include "../linalg.h"
#include "class_moments.h"

namespace raid {

double NullAlignMemory(int64_t n, int32_t dim, int32_t classes, NullAlignMode mode) {
    const double K = classes, d = dim;
    double bytes = 8.0 * (2.0 * K * d + static_cast<double>(n) + 4.0 * d * d + kMomentBlock * d);
    if (mode == NullAlignMode::kGaussian) bytes += 8.0 * (2.0 * K * d * d + 6.0 * d * d);
    return bytes;
}

NullAlignSummary NullAlign(float* rows, int64_t stride, int64_t n, int32_t dim,
                           const std::vector<int32_t>& user_class, int32_t classes, uint64_t seed,
                           NullAlignMode mode) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool gaussian = mode == NullAlignMode::kGaussian;
    if (n < 0 || dim < 1 || stride < dim || static_cast<int64_t>(user_class.size()) != n ||
        (n > 0 && rows == nullptr))
        throw InvalidArgument("null alignment: bad sizes");
    if (classes < 2) throw InvalidArgument("null alignment needs at least 2 classes");
    CheckMemory(NullAlignMemory(n, dim, classes, mode), "the null alignment");
    const ClassMoments mo =
        ComputeClassMoments(rows, stride, n, dim, user_class, classes, gaussian, "null alignment");
    const size_t K = static_cast<size_t>(classes);
    const double n_labelled = static_cast<double>(mo.labelled.size());
    Eigen::MatrixXd w_root;
    ThrowIfInterrupted("null alignment");
    SqrtAndInverse(0.5 * (mo.within + mo.within.transpose()), &w_root, nullptr);

    // the targets' means: g_c ~ N(0, W / n_c), centred so that the pooled
    // mean stays (sum_c n_c t_c = n m)
    Rng rng(Key(seed, kTagNullDraws));
    Eigen::MatrixXd target(dim, static_cast<Eigen::Index>(K));
    Eigen::VectorXd z(dim);
    for (size_t c = 0; c < K; ++c) {
        for (int32_t k = 0; k < dim; ++k) z(k) = rng.Normal();
        target.col(c) = w_root * z / std::sqrt(static_cast<double>(mo.members[c].size()));
    }
    {
        Eigen::VectorXd drift = Eigen::VectorXd::Zero(dim);
        for (size_t c = 0; c < K; ++c) drift += target.col(c) * static_cast<double>(mo.members[c].size());
        drift /= n_labelled;
        for (size_t c = 0; c < K; ++c) target.col(c) += mo.pooled - drift;
    }

    // the maps M_c (kGaussian): A_c the class's residual covariance, B_c the
    // covariance (about their own mean) of n_c fresh draws from N(0, W)
    std::vector<Eigen::MatrixXd> map;
    if (gaussian) {
        RowMatrixD block(kMomentBlock, dim);
        map.resize(K);
        for (size_t c = 0; c < K; ++c) {
            const int64_t nc = static_cast<int64_t>(mo.members[c].size());
            if (nc <= dim) {  // singular A_c: keep the residuals (see the header)
                map[c] = Eigen::MatrixXd::Identity(dim, dim);
                continue;
            }
            Eigen::MatrixXd draws = Eigen::MatrixXd::Zero(dim, dim);
            Eigen::VectorXd draw_sum = Eigen::VectorXd::Zero(dim);
            for (int64_t b = 0; b < nc; b += kMomentBlock) {
                ThrowIfInterrupted("null alignment");
                const int64_t m = std::min<int64_t>(kMomentBlock, nc - b);
                for (int64_t i = 0; i < m; ++i)
                    for (int32_t k = 0; k < dim; ++k) block(i, k) = rng.Normal();
                draws.noalias() += block.topRows(m).transpose() * block.topRows(m);
                draw_sum += block.topRows(m).colwise().sum().transpose();
            }
            draws -= draw_sum * draw_sum.transpose() / static_cast<double>(nc);
            const Eigen::MatrixXd b = w_root * (draws / static_cast<double>(nc)) * w_root;
            ThrowIfInterrupted("null alignment");  // each d x d eigenproblem: up to ~1 s at d 1024
            map[c] = GaussianMongeMap(mo.scatter[c] / static_cast<double>(nc), b);
            ThrowIfInterrupted("null alignment");
        }
    }

    // the move, computed from the rows before any move (every statistic above is)
    NullAlignSummary out;
    out.classes = classes;
    out.mean_shift = MoveClasses(rows, stride, mo, user_class, target, map, "null alignment");
    out.moved_users = static_cast<int64_t>(mo.labelled.size());
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace raid

// knn.cpp: brute-force k-nearest-neighbours classification (see knn.h).
#include "knn.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "../common.h"

namespace raid {

// Test rows per block: as many as keep a block of distances within kKnnBlockValues.
int64_t KnnBlockRows(int64_t n_train) {
    return std::clamp<int64_t>(kKnnBlockValues / std::max<int64_t>(n_train, 1), 1, 4096);
}

// Estimated bytes of Fit() and PredictProba() (see knn.h).
double KnnPredictBytes(int64_t n_train, int64_t n_test, int64_t d, int32_t classes) {
    const double n = static_cast<double>(n_train), nt = static_cast<double>(n_test);
    const double dd = static_cast<double>(d);
    const double block =
        static_cast<double>(std::min(KnnBlockRows(n_train), std::max<int64_t>(n_test, 1)));
    return 8.0 * n * (dd + 1.0) + 8.0 * block * n + 8.0 * n + 8.0 * block * dd + 8.0 * nt * classes;
}

// Stores the training set in double precision with its squared norms.
void KnnClassifier::Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
                        const KnnOptions& options) {
    if (options.k < 1)
        throw InvalidArgument("kNN: k must be at least 1, got " +
                              std::to_string(options.k));
    if (x.rows() == 0) throw DataError("the kNN attacker needs at least one training user");
    classes_ = classes;
    k_ = static_cast<int32_t>(std::min<int64_t>(options.k, x.rows()));
    x_ = x.cast<double>();
    norms_ = x_.rowwise().squaredNorm();
    labels_.assign(labels, labels + x.rows());
}

// Blocked distances, then a partial selection per row (ties to the lower index).
template <typename Visit>
void KnnClassifier::ForEachRow(const RowMatrixF& x, Visit&& visit) const {
    if (x.cols() != x_.cols())
        throw InvalidArgument("the kNN attacker was fitted on " + std::to_string(x_.cols()) +
                              " features, got " + std::to_string(x.cols()));
    const Eigen::Index n = x_.rows();
    const Eigen::Index block = static_cast<Eigen::Index>(KnnBlockRows(n));
    RowMatrixD dist;
    std::vector<Eigen::Index> order(static_cast<size_t>(n));
    for (Eigen::Index first = 0; first < x.rows(); first += block) {
        ThrowIfInterrupted("audit");
        const Eigen::Index rows = std::min(block, x.rows() - first);
        const RowMatrixD a = x.middleRows(first, rows).cast<double>();
        dist.noalias() = a * x_.transpose();  // rows x n
        dist *= -2.0;
        dist.rowwise() += norms_.transpose();  // |b|^2 - 2 a.b (|a|^2 dropped, see knn.h)
        for (Eigen::Index r = 0; r < rows; ++r) {
            const double* d = dist.row(r).data();
            // A strict total order, so the selection is deterministic.
            const auto closer = [d](Eigen::Index i, Eigen::Index j) {
                return d[i] < d[j] || (d[i] == d[j] && i < j);
            };
            std::iota(order.begin(), order.end(), Eigen::Index{0});
            const auto kth = order.begin() + k_;
            if (k_ < n) std::nth_element(order.begin(), kth - 1, order.end(), closer);
            std::sort(order.begin(), kth, closer);
            visit(first + r, order.data(), order.data() + k_);
        }
    }
}

// Shares of the classes among the k nearest training samples.
RowMatrixD KnnClassifier::PredictProba(const RowMatrixF& x) const {
    RowMatrixD out = RowMatrixD::Zero(x.rows(), classes_);
    ForEachRow(x, [&](Eigen::Index r, const Eigen::Index* first, const Eigen::Index* last) {
        // Counts, then one division per class, as scikit-learn (counts / k).
        for (const Eigen::Index* p = first; p != last; ++p) out(r, labels_[*p]) += 1.0;
        out.row(r) /= static_cast<double>(k_);
    });
    return out;
}

// Training indices of the nearest samples, nearest first.
Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> KnnClassifier::Neighbors(
    const RowMatrixF& x) const {
    Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(x.rows(), k_);
    ForEachRow(x, [&](Eigen::Index r, const Eigen::Index* first, const Eigen::Index* last) {
        for (const Eigen::Index* p = first; p != last; ++p) out(r, p - first) = *p;
    });
    return out;
}

}  // namespace raid

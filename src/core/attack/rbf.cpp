// rbf.cpp: see rbf.h.
#include "rbf.h"

#include <algorithm>
#include <cmath>

#include "../common.h"

namespace raid {
namespace {

// rows per interrupt check: about 2^28 multiply-adds of x W (4096 rows at d 64, D 1024)
int64_t RowsPerPoll(int64_t d, int64_t features) {
    return std::max<int64_t>(1, (int64_t{1} << 28) / std::max<int64_t>(d * features, 1));
}
constexpr double kTwoPi = 6.283185307179586;

}  // namespace

double RbfFitBytes(int64_t n, int64_t n_test, int64_t d, int32_t classes, const RbfOptions& options) {
    const double D = options.features;
    return 4.0 * static_cast<double>(n + n_test) * D + 4.0 * static_cast<double>(d + 1) * D +
           LogisticFitBytes(n, n_test, options.features, classes);
}

void RbfClassifier::Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
                        const RbfOptions& options, uint64_t seed) {
    if (options.features < 16 || options.features > 16384)
        throw InvalidArgument("RBF attacker: features must be between 16 and 16384, got " +
                              std::to_string(options.features));
    const int64_t d = x.cols();
    // gamma = 1 / (d var(x)), the variance over every entry (scikit-learn's "scale")
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < x.size(); ++i) {
        sum += x.data()[i];
        sq += static_cast<double>(x.data()[i]) * x.data()[i];
    }
    const double count = static_cast<double>(std::max<int64_t>(x.size(), 1));
    const double var = std::max(sq / count - (sum / count) * (sum / count), 0.0);
    gamma_ = var > 0.0 ? 1.0 / (static_cast<double>(d) * var) : 1.0;
    const int64_t D = options.features;
    Rng rng(seed);
    w_.resize(d, D);
    const double scale = std::sqrt(2.0 * gamma_);
    for (int64_t i = 0; i < w_.size(); ++i) w_.data()[i] = static_cast<float>(scale * rng.Normal());
    b_.resize(D);
    for (int64_t j = 0; j < D; ++j) b_(j) = static_cast<float>(kTwoPi * rng.Uniform());
    LogisticOptions lo;
    lo.c = options.c;
    lo.max_iter = options.max_iter;
    logistic_.Fit(Features(x), labels, classes, lo);
}

RowMatrixF RbfClassifier::Features(const RowMatrixF& x) const {
    const int64_t n = x.rows(), D = w_.cols();
    RowMatrixF z(n, D);
    const float norm = static_cast<float>(std::sqrt(2.0 / static_cast<double>(D)));
    const int64_t rows_per_poll = RowsPerPoll(x.cols(), D);
    for (int64_t r = 0; r < n; r += rows_per_poll) {
        ThrowIfInterrupted("audit");
        const int64_t m = std::min(rows_per_poll, n - r);
        z.middleRows(r, m).noalias() = x.middleRows(r, m) * w_;
        for (int64_t i = r; i < r + m; ++i)
            for (int64_t j = 0; j < D; ++j) z(i, j) = norm * std::cos(z(i, j) + b_(j));
    }
    return z;
}

RowMatrixD RbfClassifier::PredictProba(const RowMatrixF& x) const { return logistic_.PredictProba(Features(x)); }

}  // namespace raid

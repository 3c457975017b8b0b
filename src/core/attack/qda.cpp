// qda.cpp: regularised quadratic discriminant analysis (see qda.h).
#include "qda.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../common.h"

namespace raid {

// Rows per block: about 2^24 multiply-adds of a d x d product per block.
int64_t QdaBlockRows(int64_t d) {
    const int64_t dd = std::max<int64_t>(d, 1);
    return std::clamp<int64_t>((int64_t{1} << 24) / (dd * dd), 1, 65536);
}

// Estimated bytes of Fit() and PredictProba() (see qda.h).
double QdaFitBytes(int64_t n, int64_t n_test, int64_t d, int32_t classes) {
    const double dn = static_cast<double>(n), nt = static_cast<double>(n_test);
    const double dd = static_cast<double>(d), k = static_cast<double>(classes);
    const double block =
        static_cast<double>(std::min(QdaBlockRows(d), std::max<int64_t>(n_test, 1)));
    return 8.0 * dn * dd + 24.0 * dd * dd + 8.0 * k * dd * (dd + 1.0) + 24.0 * block * dd +
           16.0 * nt * k;
}

// Per class: mean, covariance, eigendecomposition, blended and floored scalings.
void Qda::Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
              const QdaOptions& options) {
    const double r = options.reg;
    if (!(r >= 0.0 && r <= 1.0))
        throw InvalidArgument("QDA: reg must be between 0 and 1, got " + FormatDouble(r));
    const Eigen::Index n = x.rows(), d = x.cols();
    std::vector<std::vector<Eigen::Index>> members(static_cast<size_t>(classes));
    for (Eigen::Index i = 0; i < n; ++i) members[labels[i]].push_back(i);
    for (int32_t c = 0; c < classes; ++c)
        if (members[c].size() < 2)
            throw DataError("the QDA attacker needs at least 2 training users per class, class " +
                            std::to_string(c) + " has " + std::to_string(members[c].size()));
    classes_ = classes;
    means_.assign(classes, Eigen::RowVectorXd());
    scalings_.assign(classes, Eigen::VectorXd());
    whiten_.assign(classes, Eigen::MatrixXd());
    log_dets_.assign(classes, 0.0);
    log_priors_.assign(classes, 0.0);
    summary_ = QdaSummary();
    const Eigen::Index block = static_cast<Eigen::Index>(QdaBlockRows(d));
    for (int32_t c = 0; c < classes; ++c) {
        ThrowIfInterrupted("audit");
        const Eigen::Index nc = static_cast<Eigen::Index>(members[c].size());
        Eigen::MatrixXd xc(nc, d);
        for (Eigen::Index i = 0; i < nc; ++i) xc.row(i) = x.row(members[c][i]).cast<double>();
        means_[c] = xc.colwise().mean();
        xc.rowwise() -= means_[c];
        // S_c = X_c^T X_c / (n_c - 1), lower triangle only (what the solver reads).
        Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
        for (Eigen::Index first = 0; first < nc; first += block) {
            if (first > 0) ThrowIfInterrupted("audit");
            const Eigen::Index rows = std::min(block, nc - first);
            cov.selfadjointView<Eigen::Lower>().rankUpdate(xc.middleRows(first, rows).transpose());
        }
        cov /= static_cast<double>(nc - 1);
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov);
        if (eig.info() != Eigen::Success)
            throw DataError("the QDA attacker's eigendecomposition failed for class " +
                            std::to_string(c));
        // scikit-learn's S2 = (1 - r) S2 + r, then the floor (see qda.h).
        Eigen::VectorXd s = ((1.0 - r) * eig.eigenvalues().array() + r).matrix();
        const double floor = kQdaFloor * std::max(1.0, s.maxCoeff());
        int64_t floored = 0;
        for (Eigen::Index j = 0; j < d; ++j)
            if (!(s[j] > floor)) {
                s[j] = floor;
                ++floored;
            }
        summary_.floored_values += floored;
        summary_.floored_classes += floored > 0 ? 1 : 0;
        whiten_[c] = eig.eigenvectors() * s.cwiseSqrt().cwiseInverse().asDiagonal();
        log_dets_[c] = s.array().log().sum();
        log_priors_[c] = std::log(static_cast<double>(nc) / static_cast<double>(n));
        scalings_[c] = std::move(s);
    }
}

// g_c(x) = -0.5 (log det Sigma_c + |W_c^T (x - mean_c)|^2) + log prior_c.
RowMatrixD Qda::DecisionFunction(const RowMatrixF& x) const {
    if (classes_ > 0 && x.cols() != means_[0].cols())
        throw InvalidArgument("the QDA attacker was fitted on " + std::to_string(means_[0].cols()) +
                              " features, got " + std::to_string(x.cols()));
    RowMatrixD out(x.rows(), classes_);
    const Eigen::Index block = static_cast<Eigen::Index>(QdaBlockRows(x.cols()));
    RowMatrixD centred, z;
    for (Eigen::Index first = 0; first < x.rows(); first += block) {
        const Eigen::Index rows = std::min(block, x.rows() - first);
        const RowMatrixD a = x.middleRows(first, rows).cast<double>();
        for (int32_t c = 0; c < classes_; ++c) {
            ThrowIfInterrupted("audit");
            centred = a.rowwise() - means_[c];
            z.noalias() = centred * whiten_[c];
            out.block(first, c, rows, 1) =
                (-0.5 * (z.rowwise().squaredNorm().array() + log_dets_[c]) + log_priors_[c])
                    .matrix();
        }
    }
    return out;
}

// Softmax of the scores, as scikit-learn's predict_proba.
RowMatrixD Qda::PredictProba(const RowMatrixF& x) const {
    RowMatrixD p = DecisionFunction(x);
    const Eigen::VectorXd row_max = p.rowwise().maxCoeff();
    p.colwise() -= row_max;
    p = p.array().exp().matrix();
    const Eigen::VectorXd row_sum = p.rowwise().sum();
    p.array().colwise() /= row_sum.array();
    return p;
}

}  // namespace raid

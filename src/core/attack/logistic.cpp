// logistic.cpp: L2-regularised binary/multinomial logistic regression (see logistic.h).
#include "logistic.h"

#include <cmath>
#include <string>

#include "../common.h"

namespace raid {

namespace {

// Turns logits into probabilities in place: logistic for one column, else softmax.
void Probabilities(Eigen::MatrixXd* z) {
    if (z->cols() == 1) {
        z->array() = 1.0 / (1.0 + (-z->array()).exp());
        return;
    }
    const Eigen::VectorXd row_max = z->rowwise().maxCoeff();
    z->colwise() -= row_max;
    z->array() = z->array().exp();
    const Eigen::VectorXd row_sum = z->rowwise().sum();
    z->array().colwise() /= row_sum.array();
}

}  // namespace

// Estimated bytes of Fit() and PredictProba() (see logistic.h).
double LogisticFitBytes(int64_t n, int64_t n_test, int64_t d, int32_t classes) {
    const double k = classes == 2 ? 1.0 : classes;
    const double dn = static_cast<double>(n), dd = static_cast<double>(d);
    const double nt = static_cast<double>(n_test);
    return 8.0 * dn * dd + 24.0 * dn * k + 16.0 * 12.0 * (dd + 1.0) * k + 8.0 * nt * (dd + 2.0 * k);
}

// Copies the data and builds the targets.
LogisticObjective::LogisticObjective(const RowMatrixF& x, const int32_t* labels, int32_t classes,
                                     double c)
    : x_(x.cast<double>()), n_(x.rows()), d_(x.cols()), k_(classes == 2 ? 1 : classes), c_(c) {
    y_ = Eigen::MatrixXd::Zero(n_, k_);
    for (Eigen::Index i = 0; i < n_; ++i) {
        if (k_ == 1)
            y_(i, 0) = labels[i];
        else
            y_(i, labels[i]) = 1.0;
    }
}

// F(theta) = sum CE + |W|^2 / (2 C) and its gradient.
double LogisticObjective::operator()(const Eigen::VectorXd& theta,
                                     Eigen::VectorXd* gradient) const {
    const Eigen::Map<const Eigen::MatrixXd> w(theta.data(), d_, k_);
    const Eigen::Map<const Eigen::RowVectorXd> b(theta.data() + d_ * k_, k_);
    Eigen::MatrixXd z = x_ * w;
    z.rowwise() += b;
    // Cross-entropy from the logits, stably.
    double loss = 0.0;
    if (k_ == 1) {
        for (Eigen::Index i = 0; i < n_; ++i) {
            const double v = z(i, 0);
            const double softplus = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
            loss += softplus - y_(i, 0) * v;
        }
    } else {
        for (Eigen::Index i = 0; i < n_; ++i) {
            const double m = z.row(i).maxCoeff();
            const double lse = m + std::log((z.row(i).array() - m).exp().sum());
            loss += lse - z.row(i).dot(y_.row(i));
        }
    }
    const double ridge = 1.0 / c_;
    const double f = loss + 0.5 * ridge * w.squaredNorm();
    if (gradient != nullptr) {
        gradient->resize(size());
        Probabilities(&z);
        z -= y_;  // P - Y
        Eigen::Map<Eigen::MatrixXd> gw(gradient->data(), d_, k_);
        Eigen::Map<Eigen::RowVectorXd> gb(gradient->data() + d_ * k_, k_);
        gw.noalias() = x_.transpose() * z;
        gw += ridge * w;
        gb = z.colwise().sum();
    }
    return f;
}

// Minimises the objective with L-BFGS from zero.
void LogisticRegression::Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
                             const LogisticOptions& options) {
    classes_ = classes;
    const LogisticObjective objective(x, labels, classes, options.c);
    Eigen::VectorXd theta = Eigen::VectorXd::Zero(objective.size());
    LbfgsOptions lo;
    lo.max_iterations = options.max_iter;
    lo.gradient_tolerance = options.tol;
    // Every evaluation (an L-BFGS iteration runs one or a few) polls the
    // interrupt check first.
    summary_ = MinimizeLbfgs(
        [&objective](const Eigen::VectorXd& t, Eigen::VectorXd* g) {
            ThrowIfInterrupted("audit");
            return objective(t, g);
        },
        &theta, lo);
    if (summary_.termination == LbfgsTermination::kNonFinite || !std::isfinite(summary_.f) ||
        !theta.allFinite())
        throw DataError("logistic regression's objective is not finite");
    const Eigen::Index k = classes == 2 ? 1 : classes;
    const Eigen::Index d = x.cols();
    w_ = Eigen::Map<const Eigen::MatrixXd>(theta.data(), d, k);
    b_ = Eigen::Map<const Eigen::RowVectorXd>(theta.data() + d * k, k);
}

// Class probabilities, n x classes.
RowMatrixD LogisticRegression::PredictProba(const RowMatrixF& x) const {
    Eigen::MatrixXd z = x.cast<double>() * w_;
    z.rowwise() += b_;
    Probabilities(&z);
    RowMatrixD out(x.rows(), classes_);
    if (classes_ == 2) {
        out.col(1) = z.col(0);
        out.col(0) = (1.0 - z.col(0).array()).matrix();
    } else {
        out = z;
    }
    return out;
}

}  // namespace raid

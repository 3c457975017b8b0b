// qda.h: the quadratic-discriminant attacker (Gaussian classes, each with its
// own mean and covariance; Hastie, Tibshirani & Friedman, "The Elements of
// Statistical Learning", 2nd ed., 2009, section 4.3; shrinkage toward the
// identity as in Friedman, "Regularized discriminant analysis", JASA 84, 1989).
//
// Vocabulary (n training samples, d features, K classes, n_c of class c):
//   mean_c     the class mean
//   Sigma_c    the regularised class covariance,
//                Sigma_c = (1 - r) S_c + r I,  S_c = X_c^T X_c / (n_c - 1)
//              with X_c the centred rows of class c and r = QdaOptions::reg;
//              this is scikit-learn's QuadraticDiscriminantAnalysis(
//              reg_param=r), which blends the squared singular values of
//              X_c / sqrt(n_c - 1) as (1 - r) s^2 + r
//   scalings   the eigenvalues of Sigma_c (SelfAdjointEigenSolver of S_c,
//              then blended); an eigenvalue at or below kQdaFloor times
//              max(1, the largest one) is raised to that floor, so that a
//              singular covariance with r = 0 still gives finite scores
//              (scikit-learn only warns "Variables are collinear" and then
//              divides by zero)
//   prior_c    n_c / n, the class frequencies of the (balanced) training set
//   score      per class, as scikit-learn's _decision_function:
//                g_c(x) = -0.5 (log det Sigma_c
//                               + (x - mean_c)^T Sigma_c^-1 (x - mean_c))
//                         + log prior_c
//              and predict_proba = softmax over the classes of g(x)
//   blocks     PredictProba() scores test rows in blocks of
//              QdaBlockRows(d) rows (about 2^24 multiply-adds per class)
//              and polls the interrupt check (common.h) per class and
//              block; Fit() polls per class and per block of rows of the
//              covariance, and throws Interrupted("audit cancelled").  One
//              eigendecomposition (O(d^3)) is not interruptible.
//   memory     (QdaFitBytes) one class's double rows (8 n d, at most all
//              rows), the covariance and the solver's eigenvectors and
//              workspace (24 d^2), the K stored whitening matrices and means
//              (8 K d (d + 1)), and in PredictProba() a block's double rows,
//              centred copy and projection (24 B d) and the scores (16 n_test K)
//
// Deviation from scikit-learn: for a class with n_c <= d training samples,
// scikit-learn's thin SVD keeps only n_c directions (one of them arbitrary)
// and ignores the others; raid keeps all d eigenvalues of Sigma_c above.
// Fit() has no iterations (the audit reports 0 for fold_iterations).
#ifndef RAID_CORE_ATTACK_QDA_H
#define RAID_CORE_ATTACK_QDA_H

#include <cstdint>
#include <vector>

#include "../linalg.h"

namespace raid {

// Relative floor on the eigenvalues of a regularised class covariance.
constexpr double kQdaFloor = 1e-12;

// Hyperparameters of the QDA attacker.
struct QdaOptions {
    double reg = 0.1;  // scikit-learn's reg_param, 0 .. 1 (its default is 0)
};

// What fitting found.
struct QdaSummary {
    int32_t floored_classes = 0;  // classes with at least one eigenvalue raised to the floor
    int64_t floored_values = 0;   // eigenvalues raised to the floor, over all classes
};

// Test rows per block for d features.
int64_t QdaBlockRows(int64_t d);

// Estimated bytes of Fit() on n samples of d features and PredictProba()
// of n_test rows (see memory above).
double QdaFitBytes(int64_t n, int64_t n_test, int64_t d, int32_t classes);

// A quadratic-discriminant classifier.
class Qda {
  public:
    // Fits on x (n x d), labels 0 .. classes-1.  Throws InvalidArgument if
    // reg is outside [0, 1] and DataError if a class has fewer than two
    // samples (its covariance is undefined; scikit-learn raises too).
    void Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
             const QdaOptions& options);

    // The scores g_c(x) above, n x classes.
    RowMatrixD DecisionFunction(const RowMatrixF& x) const;

    // Class probabilities of x, n x classes (softmax of the scores).
    RowMatrixD PredictProba(const RowMatrixF& x) const;

    const QdaSummary& summary() const { return summary_; }
    const Eigen::RowVectorXd& mean(int32_t c) const { return means_[c]; }
    const Eigen::VectorXd& scalings(int32_t c) const { return scalings_[c]; }  // ascending
    double log_prior(int32_t c) const { return log_priors_[c]; }

  private:
    int32_t classes_ = 0;
    std::vector<Eigen::RowVectorXd> means_;
    std::vector<Eigen::VectorXd> scalings_;  // eigenvalues of Sigma_c, ascending
    std::vector<Eigen::MatrixXd> whiten_;    // d x d: eigenvectors / sqrt(scalings)
    std::vector<double> log_dets_;
    std::vector<double> log_priors_;
    QdaSummary summary_;
};

}  // namespace raid

#endif  // RAID_CORE_ATTACK_QDA_H

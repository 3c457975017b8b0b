// logistic.h: the logistic-regression attacker (L2, intercept, L-BFGS).
//
// Vocabulary (n samples, d features, K classes):
//   outputs    K' = 1 for K = 2 (one weight vector, p = sigmoid(z) =
//              P(class 1)), K' = K otherwise (multinomial, softmax over K
//              weight vectors), as scikit-learn's LogisticRegression (lbfgs,
//              multi_class="auto")
//   parameters theta = [vec(W) (d x K', column-major), b (K')]
//   objective  scikit-learn's C * sum_i CE_i + 0.5 |W|^2 (the intercept is not
//              penalised), divided by C (same minimiser), which is the very
//              function scikit-learn 1.2's lbfgs solver minimises:
//                F(theta) = sum_i CE_i + |W|^2 / (2 C)
//              gradient: W: X^T (P - Y) + W / C, b: colsum(P - Y)
//   solver     MinimizeLbfgs from theta = 0, memory 10, stopping when
//              |grad F|_inf <= tol (1e-4; SciPy's pgtol as scikit-learn
//              passes it), the relative decrease of F is below 64 eps
//              (SciPy's factr 1e7), or after max_iter iterations.  The
//              gradient test on the sum (not the mean) is strict: on
//              MovieLens-sized data it takes ~60 iterations and gives the
//              same predictions as scikit-learn, where a test on the mean
//              stopped after ~28 and changed a few.
//   cancellation  every objective evaluation first polls the interrupt check
//              (common.h); Fit() then throws Interrupted("audit cancelled")
//   memory     (LogisticFitBytes) the double copy of x (8 n d), targets and
//              two n x K' work matrices (24 n K'), the L-BFGS pairs
//              (16 memory (d + 1) K') and the double copy of the rows
//              PredictProba() scores
#ifndef RAID_CORE_ATTACK_LOGISTIC_H
#define RAID_CORE_ATTACK_LOGISTIC_H

#include <cstdint>

#include "../linalg.h"
#include "lbfgs.h"

namespace raid {

// Hyperparameters of the logistic attacker.
struct LogisticOptions {
    double c = 1.0;          // inverse L2 strength (scikit-learn's C)
    int32_t max_iter = 200;  // L-BFGS iterations
    double tol = 1e-4;       // on the infinity norm of grad F
};

// The objective F above for fixed data (x is copied to double).
class LogisticObjective {
  public:
    LogisticObjective(const RowMatrixF& x, const int32_t* labels, int32_t classes, double c);

    // Number of parameters, (d + 1) K'.
    Eigen::Index size() const { return (d_ + 1) * k_; }

    // F(theta), with its gradient written to *gradient (if not null).
    double operator()(const Eigen::VectorXd& theta, Eigen::VectorXd* gradient) const;

  private:
    Eigen::MatrixXd x_;  // n x d
    Eigen::MatrixXd y_;  // n x K' targets (0/1 or one-hot)
    Eigen::Index n_, d_, k_;
    double c_;
};

// Estimated bytes of Fit() on n samples of d features and PredictProba() of
// n_test rows (see memory above).
double LogisticFitBytes(int64_t n, int64_t n_test, int64_t d, int32_t classes);

// A trained logistic-regression classifier.
class LogisticRegression {
  public:
    // Fits on x (n x d), labels 0 .. classes-1.  Throws DataError if the
    // objective is not finite at the start or at the solution.
    void Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
             const LogisticOptions& options);

    // Class probabilities of x, n x classes.
    RowMatrixD PredictProba(const RowMatrixF& x) const;

    const LbfgsSummary& summary() const { return summary_; }
    const Eigen::MatrixXd& weights() const { return w_; }  // d x K'
    const Eigen::RowVectorXd& bias() const { return b_; }  // K'

  private:
    int32_t classes_ = 0;
    Eigen::MatrixXd w_;
    Eigen::RowVectorXd b_;
    LbfgsSummary summary_;
};

}  // namespace raid

#endif  // RAID_CORE_ATTACK_LOGISTIC_H

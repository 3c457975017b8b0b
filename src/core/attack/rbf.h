// rbf.h: the RBF-kernel attacker, a kernel classifier through random
// Fourier features (Rahimi and Recht, 2007) and logistic regression.
//
// Why: an RBF-kernel SVM finds leakage that logistic regression, kNN and QDA
// miss (on MovieLens gender, scikit-learn's SVM saw 0.22 above chance where
// those three saw at most 0.03; BENCHMARKS.md).  An exact kernel method
// needs the n x n kernel matrix; random features approximate the same
// kernel in O(n D d) time and O(n D) memory.
//
// Vocabulary (n training users, d standardised features, D = features):
//   gamma      the kernel width as scikit-learn's SVC(gamma="scale"):
//              1 / (d * variance of every entry of the training matrix)
//   features   z(x) = sqrt(2 / D) cos(x W + b), W a d x D matrix of
//              N(0, 2 gamma) entries and b uniform in [0, 2 pi), drawn from
//              the task's seed; E[z(x) . z(y)] = exp(-gamma |x - y|^2)
//   classifier LogisticRegression (logistic.h) on z, with C = options.c
//
// Memory (RbfFitBytes): the feature matrices of the training and test rows
// (4 (n + n_test) D), W and b (4 (d + 1) D), and LogisticFitBytes on D
// features.  Cancellation: the feature maps poll the interrupt check every
// few thousand rows; the logistic fit polls per objective evaluation.
#ifndef RAID_CORE_ATTACK_RBF_H
#define RAID_CORE_ATTACK_RBF_H

#include <cstdint>

#include "../linalg.h"
#include "logistic.h"

namespace raid {

// Hyperparameters of the RBF attacker.
struct RbfOptions {
    int32_t features = 1024;  // D, 16 .. 16384
    double c = 1.0;           // inverse L2 strength of the logistic fit
    int32_t max_iter = 200;   // L-BFGS iterations
};

// Bytes a fit on n rows (and scoring n_test rows) of d features allocates.
double RbfFitBytes(int64_t n, int64_t n_test, int64_t d, int32_t classes, const RbfOptions& options);

// A trained RBF-kernel classifier.
class RbfClassifier {
  public:
    // Fits on x (n x d), labels 0 .. classes-1, drawing the features from seed.
    void Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes, const RbfOptions& options,
             uint64_t seed);

    // Class probabilities of x, n x classes.
    RowMatrixD PredictProba(const RowMatrixF& x) const;

    double gamma() const { return gamma_; }
    const LbfgsSummary& summary() const { return logistic_.summary(); }

  private:
    RowMatrixF Features(const RowMatrixF& x) const;

    double gamma_ = 0.0;
    RowMatrixF w_;           // d x D
    Eigen::RowVectorXf b_;   // D
    LogisticRegression logistic_;
};

}  // namespace raid

#endif  // RAID_CORE_ATTACK_RBF_H

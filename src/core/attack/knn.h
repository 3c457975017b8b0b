// knn.h: the k-nearest-neighbours attacker (Cover & Hart, "Nearest neighbor
// pattern classification", IEEE Trans. Inf. Theory 13(1), 1967).
//
// Vocabulary (n training samples, d features, K classes):
//   k          the neighbours that vote (KnnOptions::k), capped at n
//   neighbours the k training samples nearest a test sample in Euclidean
//              distance; ties in distance go to the lower training index
//              (the audit lists training users by ascending id, crossval.h,
//              so the choice never depends on the input row order)
//   proba      the fraction of the k neighbours in each class, i.e.
//              scikit-learn's KNeighborsClassifier(n_neighbors=k,
//              weights="uniform").predict_proba; the audit predicts the
//              argmax, ties to the lowest class index (numpy's argmax)
//   distances  brute force in double precision: for a block of test rows a,
//              |b|^2 - 2 a.b for every training row b in one GEMM.  The
//              test row's own |a|^2 is left out: it is the same for every
//              b, so the ranking is that of |a|^2 + |b|^2 - 2 a.b, with one
//              rounding less
//   blocks     test rows are scored in blocks of KnnBlockRows(n) rows (a
//              block of distances holds at most kKnnBlockValues doubles);
//              the interrupt check (common.h) is polled per block and
//              PredictProba() throws Interrupted("audit cancelled")
//   memory     (KnnPredictBytes) the double copy of the training set and
//              its norms (8 n (d + 1)), one block of distances and its
//              index buffer (8 B n + 8 n), the block's test rows (8 B d)
//              and the probabilities (8 n_test K)
//
// Fit() only stores the training set; there are no iterations (the audit
// reports 0 for fold_iterations).
#ifndef RAID_CORE_ATTACK_KNN_H
#define RAID_CORE_ATTACK_KNN_H

#include <cstdint>
#include <vector>

#include "../linalg.h"

namespace raid {

// Distances per block of test rows: 2^20 doubles (8 MiB).
constexpr int64_t kKnnBlockValues = int64_t{1} << 20;

// Hyperparameters of the kNN attacker.
struct KnnOptions {
    int32_t k = 15;  // scikit-learn's n_neighbors (its default is 5)
};

// Test rows per block for n training samples (1 .. 4096).
int64_t KnnBlockRows(int64_t n_train);

// Estimated bytes of Fit() on n_train samples of d features and
// PredictProba() of n_test rows (see memory above).
double KnnPredictBytes(int64_t n_train, int64_t n_test, int64_t d, int32_t classes);

// A k-nearest-neighbours classifier (uniform weights, Euclidean distance).
class KnnClassifier {
  public:
    // Stores x (n x d, n >= 1) and its labels 0 .. classes-1.  Throws
    // InvalidArgument if k < 1 and DataError if x has no rows.
    void Fit(const RowMatrixF& x, const int32_t* labels, int32_t classes,
             const KnnOptions& options);

    // Class probabilities of x, n x classes: the share of each class among
    // the k nearest training samples.
    RowMatrixD PredictProba(const RowMatrixF& x) const;

    // Training indices of the k nearest samples of each row of x, nearest
    // first (ties to the lower index): rows x k.
    Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Neighbors(
        const RowMatrixF& x) const;

    // The k in use (the option capped at the training size).
    int32_t k() const { return k_; }

  private:
    // Calls visit(r, first, last) for every row r of x with [first, last)
    // its k neighbours' training indices, nearest first.
    template <typename Visit>
    void ForEachRow(const RowMatrixF& x, Visit&& visit) const;

    int32_t classes_ = 0;
    int32_t k_ = 0;
    RowMatrixD x_;           // n x d
    Eigen::VectorXd norms_;  // |b|^2 per training row
    std::vector<int32_t> labels_;
};

}  // namespace raid

#endif  // RAID_CORE_ATTACK_KNN_H

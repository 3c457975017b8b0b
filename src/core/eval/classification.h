// classification.h: metrics of a classifier's predictions (attacker quality).
//
// Vocabulary:
//   classes     labels are class indices 0 .. classes-1
//   confusion   C[t][p] = number of samples of true class t predicted as p
//   tp, fp, fn  of class c: C[c][c], sum_t!=c C[t][c], sum_p!=c C[c][p]
//   support     number of samples whose true class is c (a row sum of C)
//   macro-F1    mean over all `classes` of F1_c = 2 tp / (2 tp + fp + fn); a
//               class with tp + fp + fn = 0 (never true, never predicted) has
//               F1 = 0 (scikit-learn's zero_division=0 convention; its
//               labels=None default would instead skip such a class: in a
//               stratified audit every class is in every test fold, so the
//               two agree there)
//   BAcc        balanced accuracy: mean recall tp / support over the classes
//               with support > 0 (as scikit-learn's balanced_accuracy_score)
//   AUC         binary: the probability that a random positive scores above
//               a random negative, ties counting 1/2 (Mann-Whitney U with
//               average ranks); > 2 classes: the macro average of the
//               one-vs-rest AUCs of each class's own score (scikit-learn's
//               roc_auc_score(multi_class="ovr", average="macro")); classes
//               without positives or without negatives are skipped; NaN if
//               no class is usable
//   chance      1 / classes, the BAcc of any predictor that ignores its input
//   fold stats  mean and sample standard deviation (ddof = 1, as pandas and
//               a t-interval would use; 0 for a single value)
#ifndef RAID_CORE_EVAL_CLASSIFICATION_H
#define RAID_CORE_EVAL_CLASSIFICATION_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace raid {

// A classes x classes confusion matrix, row = true class, column = prediction.
struct ConfusionMatrix {
    int32_t classes = 0;
    std::vector<int64_t> counts;  // row-major, classes * classes

    // Count of samples of true class t predicted as p.
    int64_t at(int32_t t, int32_t p) const {
        return counts[static_cast<size_t>(t) * static_cast<size_t>(classes) + p];
    }
};

// Counts n (truth, prediction) pairs; throws InvalidArgument for classes < 2
// or a label outside 0 .. classes-1.
ConfusionMatrix Confusion(const int32_t* truth, const int32_t* predicted, int64_t n,
                          int32_t classes);

// Macro-F1 over all classes (a class with tp + fp + fn = 0 counts as 0).
double MacroF1(const ConfusionMatrix& cm);

// Mean recall over the classes that occur in the truth (0 if none do).
double BalancedAccuracy(const ConfusionMatrix& cm);

// Binary ROC AUC of scores (higher = more likely positive) against positive[i]
// != 0, ties counting 1/2; NaN unless there are positives and negatives.
// Throws DataError if a score is not finite.
double BinaryAuc(const double* scores, const uint8_t* positive, int64_t n);

// AUC of n x classes row-major probabilities: for 2 classes the binary AUC of
// column 1, otherwise the macro one-vs-rest AUC over the usable classes.
double MulticlassAuc(const double* proba, const int32_t* truth, int64_t n, int32_t classes);

// Index of the largest of the classes values in row (the first on ties).
int32_t ArgMax(const double* row, int32_t classes);

// Mean of values (0 for none).
double Mean(const std::vector<double>& values);

// Sample standard deviation, ddof = 1 (0 for fewer than 2 values).
double SampleStd(const std::vector<double>& values);

}  // namespace raid

#endif  // RAID_CORE_EVAL_CLASSIFICATION_H

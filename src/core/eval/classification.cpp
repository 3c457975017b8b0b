// classification.cpp: confusion matrix, macro-F1, balanced accuracy, ROC AUC.
#include "classification.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "../common.h"

namespace raid {

// Counts n (truth, prediction) pairs into a confusion matrix.
ConfusionMatrix Confusion(const int32_t* truth, const int32_t* predicted, int64_t n,
                          int32_t classes) {
    if (classes < 2)
        throw InvalidArgument("classes must be at least 2, got " + std::to_string(classes));
    if (n < 0) throw InvalidArgument("n must not be negative, got " + std::to_string(n));
    if (n > 0 && (truth == nullptr || predicted == nullptr))
        throw InvalidArgument("labels must not be null");
    ConfusionMatrix cm;
    cm.classes = classes;
    cm.counts.assign(static_cast<size_t>(classes) * static_cast<size_t>(classes), 0);
    for (int64_t i = 0; i < n; ++i) {
        const int32_t t = truth[i];
        const int32_t p = predicted[i];
        if (t < 0 || t >= classes || p < 0 || p >= classes)
            throw InvalidArgument("label " + std::to_string(t < 0 || t >= classes ? t : p) +
                                  " is outside 0.." + std::to_string(classes - 1));
        ++cm.counts[static_cast<size_t>(t) * static_cast<size_t>(classes) + p];
    }
    return cm;
}

// Macro-F1 over all classes; F1_c = 2 tp / (2 tp + fp + fn), 0 when that is 0 / 0.
double MacroF1(const ConfusionMatrix& cm) {
    if (cm.classes < 1) return 0.0;
    double sum = 0.0;
    for (int32_t c = 0; c < cm.classes; ++c) {
        const int64_t tp = cm.at(c, c);
        int64_t fp = 0, fn = 0;
        for (int32_t k = 0; k < cm.classes; ++k) {
            if (k == c) continue;
            fp += cm.at(k, c);
            fn += cm.at(c, k);
        }
        const int64_t denominator = 2 * tp + fp + fn;
        if (denominator > 0)
            sum += 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
    }
    return sum / cm.classes;
}

// Mean recall over the classes with support.
double BalancedAccuracy(const ConfusionMatrix& cm) {
    double sum = 0.0;
    int32_t present = 0;
    for (int32_t t = 0; t < cm.classes; ++t) {
        int64_t support = 0;
        for (int32_t p = 0; p < cm.classes; ++p) support += cm.at(t, p);
        if (support == 0) continue;
        sum += static_cast<double>(cm.at(t, t)) / static_cast<double>(support);
        ++present;
    }
    return present > 0 ? sum / present : 0.0;
}

// Mann-Whitney U / (n_pos n_neg) with average ranks for tied scores.
double BinaryAuc(const double* scores, const uint8_t* positive, int64_t n) {
    int64_t n_pos = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(scores[i])) throw DataError("a score is not finite");
        n_pos += positive[i] != 0;
    }
    const int64_t n_neg = n - n_pos;
    if (n_pos == 0 || n_neg == 0) return std::numeric_limits<double>::quiet_NaN();
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
    // Sum of the 1-based ranks of the positives; a run of ties [i, j) shares
    // the average rank (i + 1 + j) / 2.
    double rank_sum = 0.0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && scores[order[j]] == scores[order[i]]) ++j;
        int64_t pos_in_run = 0;
        for (int64_t k = i; k < j; ++k) pos_in_run += positive[order[k]] != 0;
        rank_sum += static_cast<double>(pos_in_run) * 0.5 * static_cast<double>(i + 1 + j);
        i = j;
    }
    const double u = rank_sum - 0.5 * static_cast<double>(n_pos) * static_cast<double>(n_pos + 1);
    return u / (static_cast<double>(n_pos) * static_cast<double>(n_neg));
}

// Binary AUC of column 1, or the macro one-vs-rest AUC over the usable classes.
double MulticlassAuc(const double* proba, const int32_t* truth, int64_t n, int32_t classes) {
    if (classes < 2)
        throw InvalidArgument("classes must be at least 2, got " + std::to_string(classes));
    std::vector<double> score(static_cast<size_t>(n));
    std::vector<uint8_t> positive(static_cast<size_t>(n));
    const int32_t first = classes == 2 ? 1 : 0;
    double sum = 0.0;
    int32_t used = 0;
    for (int32_t c = first; c < classes; ++c) {
        for (int64_t i = 0; i < n; ++i) {
            score[i] = proba[i * classes + c];
            positive[i] = truth[i] == c ? 1 : 0;
        }
        const double auc = BinaryAuc(score.data(), positive.data(), n);
        if (std::isnan(auc)) continue;
        sum += auc;
        ++used;
    }
    return used > 0 ? sum / used : std::numeric_limits<double>::quiet_NaN();
}

// Index of the largest value (the first on ties).
int32_t ArgMax(const double* row, int32_t classes) {
    int32_t best = 0;
    for (int32_t c = 1; c < classes; ++c)
        if (row[c] > row[best]) best = c;
    return best;
}

// Mean of values (0 for none).
double Mean(const std::vector<double>& values) {
    if (values.empty()) return 0.0;
    double sum = 0.0;
    for (double v : values) sum += v;
    return sum / static_cast<double>(values.size());
}

// Sample standard deviation with ddof = 1.
double SampleStd(const std::vector<double>& values) {
    if (values.size() < 2) return 0.0;
    const double mean = Mean(values);
    double ss = 0.0;
    for (double v : values) ss += (v - mean) * (v - mean);
    return std::sqrt(ss / static_cast<double>(values.size() - 1));
}

}  // namespace raid

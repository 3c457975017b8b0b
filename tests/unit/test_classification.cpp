// test_classification.cpp: classification metrics against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/common.h"
#include "core/eval/classification.h"

namespace {

constexpr double kTol = 1e-12;

// Confusion matrix of two label vectors.
raid::ConfusionMatrix Cm(const std::vector<int32_t>& truth, const std::vector<int32_t>& pred,
                         int32_t classes) {
    return raid::Confusion(truth.data(), pred.data(), static_cast<int64_t>(truth.size()), classes);
}

// Binary AUC of scores against 0/1 labels.
double Auc(const std::vector<double>& scores, const std::vector<uint8_t>& labels) {
    return raid::BinaryAuc(scores.data(), labels.data(), static_cast<int64_t>(scores.size()));
}

TEST(Classification, ConfusionCountsTruthByPrediction) {
    const auto cm = Cm({0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 0, 0, 1}, 2);
    EXPECT_EQ(cm.at(0, 0), 3);
    EXPECT_EQ(cm.at(0, 1), 0);
    EXPECT_EQ(cm.at(1, 0), 2);
    EXPECT_EQ(cm.at(1, 1), 2);
}

TEST(Classification, BinaryF1AndBalancedAccuracy) {
    // truth 0: 3 right; truth 1: 2 right, 2 predicted 0.
    // F1_0 = 2*3 / (6 + 2 + 0) = 0.75, F1_1 = 2*2 / (4 + 0 + 2) = 2/3.
    // BAcc = (3/3 + 2/4) / 2 = 0.75.
    const auto cm = Cm({0, 0, 0, 1, 1, 1, 1}, {0, 0, 0, 1, 0, 0, 1}, 2);
    EXPECT_NEAR(raid::MacroF1(cm), (0.75 + 2.0 / 3.0) / 2.0, kTol);
    EXPECT_NEAR(raid::BalancedAccuracy(cm), 0.75, kTol);
}

TEST(Classification, ThreeClassF1AndBalancedAccuracy) {
    // Confusion rows (truth) x columns (prediction):
    //   0: [1 1 0]   1: [0 2 0]   2: [1 1 1]
    // F1_0 = 2/(2+1+1) = 0.5, F1_1 = 4/(4+2+0) = 2/3, F1_2 = 2/(2+0+2) = 0.5
    // recalls 1/2, 1, 1/3.
    const auto cm = Cm({0, 0, 1, 1, 2, 2, 2}, {0, 1, 1, 1, 2, 0, 1}, 3);
    EXPECT_NEAR(raid::MacroF1(cm), (0.5 + 2.0 / 3.0 + 0.5) / 3.0, kTol);
    EXPECT_NEAR(raid::BalancedAccuracy(cm), (0.5 + 1.0 + 1.0 / 3.0) / 3.0, kTol);
}

TEST(Classification, ClassNeverPredicted) {
    // Class 2 is never predicted: recall 0, F1 0 (tp = fp = 0, fn = 2).
    // F1_0 = F1_1 = 2*2/(4+1+0) = 0.8.
    const auto cm = Cm({0, 0, 1, 1, 2, 2}, {0, 0, 1, 1, 1, 0}, 3);
    EXPECT_NEAR(raid::BalancedAccuracy(cm), 2.0 / 3.0, kTol);
    EXPECT_NEAR(raid::MacroF1(cm), (0.8 + 0.8 + 0.0) / 3.0, kTol);
}

TEST(Classification, ClassAbsentFromTruthAndPredictions) {
    // Class 2 has tp + fp + fn = 0: it counts as F1 = 0 in the macro mean
    // (documented convention) and is skipped by BAcc (no support).
    const auto cm = Cm({0, 1, 1}, {0, 1, 1}, 3);
    EXPECT_NEAR(raid::MacroF1(cm), 2.0 / 3.0, kTol);
    EXPECT_NEAR(raid::BalancedAccuracy(cm), 1.0, kTol);
}

TEST(Classification, PerfectAndConstantPredictors) {
    const auto perfect = Cm({0, 1, 2, 2}, {0, 1, 2, 2}, 3);
    EXPECT_NEAR(raid::MacroF1(perfect), 1.0, kTol);
    EXPECT_NEAR(raid::BalancedAccuracy(perfect), 1.0, kTol);
    // Always predicting class 0: BAcc is exactly chance.
    const auto constant = Cm({0, 0, 1, 2, 2, 2}, {0, 0, 0, 0, 0, 0}, 3);
    EXPECT_NEAR(raid::BalancedAccuracy(constant), 1.0 / 3.0, kTol);
}

TEST(Classification, BadLabelsAreRejected) {
    const std::vector<int32_t> t = {0, 3}, p = {0, 1};
    EXPECT_THROW(raid::Confusion(t.data(), p.data(), 2, 3), raid::InvalidArgument);
    EXPECT_THROW(raid::Confusion(t.data(), p.data(), 2, 1), raid::InvalidArgument);
}

TEST(Classification, AucMannWhitney) {
    // Positives 0.35, 0.8 against negatives 0.1, 0.4: 3 of 4 pairs ordered.
    EXPECT_NEAR(Auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75, kTol);
}

TEST(Classification, AucTiesCountHalf) {
    EXPECT_NEAR(Auc({0.5, 0.5}, {0, 1}), 0.5, kTol);
    // Pairs: 0.5>0.2 (1), 0.5=0.5 (1/2), 0.9 > both (2): 3.5 / 4.
    EXPECT_NEAR(Auc({0.2, 0.5, 0.5, 0.9}, {0, 0, 1, 1}), 0.875, kTol);
    // All scores equal: every pair is a tie.
    EXPECT_NEAR(Auc({1, 1, 1, 1, 1}, {0, 1, 1, 0, 1}), 0.5, kTol);
}

TEST(Classification, AucPerfectInvertedAndUndefined) {
    EXPECT_NEAR(Auc({0.1, 0.2, 0.8, 0.9}, {0, 0, 1, 1}), 1.0, kTol);
    EXPECT_NEAR(Auc({0.9, 0.8, 0.2, 0.1}, {0, 0, 1, 1}), 0.0, kTol);
    EXPECT_TRUE(std::isnan(Auc({0.1, 0.2}, {1, 1})));
    EXPECT_THROW(Auc({0.1, NAN}, {0, 1}), raid::DataError);
}

TEST(Classification, BinaryAucUsesTheSecondColumn) {
    // Column 1 holds P(class 1); column 0 would give the inverse ranking.
    const std::vector<double> proba = {0.9, 0.1, 0.6, 0.4, 0.65, 0.35, 0.2, 0.8};
    const std::vector<int32_t> truth = {0, 0, 1, 1};
    // P(class 1) = {0.1, 0.4, 0.35, 0.8}: 0.75 as above.
    EXPECT_NEAR(raid::MulticlassAuc(proba.data(), truth.data(), 4, 2), 0.75, kTol);
}

TEST(Classification, OneVsRestAuc) {
    // Rows: P(0), P(1), P(2).
    //   class 0 scores {0.6, 0.2, 0.3, 0.6}, positive row 0: 1 + 1 + 1/2 of 3
    //   class 1 scores {0.3, 0.5, 0.3, 0.2}, positive row 1: 3 of 3
    //   class 2 scores {0.1, 0.3, 0.4, 0.2}, positives rows 2, 3: 2 + 1 of 4
    const std::vector<double> proba = {0.6, 0.3, 0.1, 0.2, 0.5, 0.3, 0.3, 0.3, 0.4, 0.6, 0.2, 0.2};
    const std::vector<int32_t> truth = {0, 1, 2, 2};
    const double expected = (2.5 / 3.0 + 1.0 + 0.75) / 3.0;
    EXPECT_NEAR(raid::MulticlassAuc(proba.data(), truth.data(), 4, 3), expected, kTol);
}

TEST(Classification, OneVsRestSkipsClassesWithoutPositives) {
    // Class 2 never occurs: the mean is over classes 0 and 1 (both perfect).
    const std::vector<double> proba = {0.8, 0.1, 0.1, 0.1, 0.8, 0.1};
    const std::vector<int32_t> truth = {0, 1};
    EXPECT_NEAR(raid::MulticlassAuc(proba.data(), truth.data(), 2, 3), 1.0, kTol);
}

TEST(Classification, ArgMaxTakesTheFirstOnTies) {
    const double row[] = {0.25, 0.5, 0.5};
    EXPECT_EQ(raid::ArgMax(row, 3), 1);
    const double half[] = {0.5, 0.5};
    EXPECT_EQ(raid::ArgMax(half, 2), 0);
}

TEST(Classification, MeanAndSampleStd) {
    EXPECT_NEAR(raid::Mean({1, 2, 3, 4}), 2.5, kTol);
    EXPECT_NEAR(raid::SampleStd({1, 2, 3, 4}), std::sqrt(5.0 / 3.0), kTol);
    EXPECT_EQ(raid::SampleStd({7}), 0.0);
    EXPECT_EQ(raid::Mean({}), 0.0);
}

}  // namespace

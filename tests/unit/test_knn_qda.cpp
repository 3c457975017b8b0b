// test_knn_qda.cpp: the kNN and QDA attackers.  Neighbours and shares
// computed by hand, Gaussian discriminants against their closed forms, the
// leakage that motivates them (which logistic regression cannot see), and
// the audit through the C ABI with all four attackers: order, determinism,
// cancellation and the memory budget.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <numeric>
#include <string>
#include <vector>

#include "capi/raid_capi.h"
#include "guard_fixture.h"
#include "core/attack/audit.h"
#include "core/attack/knn.h"
#include "core/attack/qda.h"
#include "core/attack/rbf.h"
#include "core/common.h"
#include "core/eval/classification.h"

namespace {

constexpr double kPi = 3.14159265358979323846;

// A one-feature matrix of the given values.
raid::RowMatrixF Column(std::initializer_list<float> values) {
    raid::RowMatrixF m(static_cast<Eigen::Index>(values.size()), 1);
    Eigen::Index i = 0;
    for (float v : values) m(i++, 0) = v;
    return m;
}

// kNN with k neighbours fitted on (x, labels).
raid::KnnClassifier FitKnn(const raid::RowMatrixF& x, const std::vector<int32_t>& labels,
                           int32_t classes, int32_t k) {
    raid::KnnOptions o;
    o.k = k;
    raid::KnnClassifier knn;
    knn.Fit(x, labels.data(), classes, o);
    return knn;
}

/* ------------------------------------------------------------------- kNN */

TEST(Knn, OneDimensionalNeighboursAndSharesByHand) {
    // Training points 0, 1, 2, 5, 6, 9 of classes 0, 0, 1, 1, 1, 0; k = 3.
    const raid::KnnClassifier knn = FitKnn(Column({0, 1, 2, 5, 6, 9}), {0, 0, 1, 1, 1, 0}, 2, 3);
    EXPECT_EQ(knn.k(), 3);
    // 1.2: distances 1.2 0.2 0.8 3.8 4.8 7.8 -> rows 1, 2, 0 (classes 0, 1, 0)
    // 5.4: distances 5.4 4.4 3.4 0.4 0.6 3.6 -> rows 3, 4, 2 (classes 1, 1, 1)
    // 7.6: distances 7.6 6.6 5.6 2.6 1.6 1.4 -> rows 5, 4, 3 (classes 0, 1, 1)
    const raid::RowMatrixF test = Column({1.2f, 5.4f, 7.6f});
    const auto nn = knn.Neighbors(test);
    const int64_t expected[3][3] = {{1, 2, 0}, {3, 4, 2}, {5, 4, 3}};
    for (int r = 0; r < 3; ++r)
        for (int j = 0; j < 3; ++j) EXPECT_EQ(nn(r, j), expected[r][j]) << r << " " << j;
    const raid::RowMatrixD p = knn.PredictProba(test);
    ASSERT_EQ(p.rows(), 3);
    ASSERT_EQ(p.cols(), 2);
    // Shares are counts / k exactly, as scikit-learn's predict_proba.
    EXPECT_EQ(p(0, 0), 2.0 / 3.0);
    EXPECT_EQ(p(0, 1), 1.0 / 3.0);
    EXPECT_EQ(p(1, 0), 0.0);
    EXPECT_EQ(p(1, 1), 1.0);
    EXPECT_EQ(p(2, 0), 1.0 / 3.0);
    EXPECT_EQ(p(2, 1), 2.0 / 3.0);
}

TEST(Knn, ThreeClassesByHand) {
    // Points on a line: class 2 around 10, class 1 around 5, class 0 around 0.
    const raid::KnnClassifier knn =
        FitKnn(Column({0, 1, 4, 5, 6, 10, 11}), {0, 0, 1, 1, 1, 2, 2}, 3, 4);
    // 8: distances 8 7 4 3 2 2 3 -> 4 (2), 5 (2, tie with 4: lower row first),
    // then 3 (3) and 6 (3, tie: row 3 first) -> classes 1, 2, 1, 2.
    const raid::RowMatrixF test = Column({8.0f});
    const auto nn = knn.Neighbors(test);
    EXPECT_EQ(nn(0, 0), 4);
    EXPECT_EQ(nn(0, 1), 5);
    EXPECT_EQ(nn(0, 2), 3);
    EXPECT_EQ(nn(0, 3), 6);
    const raid::RowMatrixD p = knn.PredictProba(test);
    EXPECT_EQ(p(0, 0), 0.0);
    EXPECT_EQ(p(0, 1), 0.5);
    EXPECT_EQ(p(0, 2), 0.5);
    // A tie in votes predicts the lowest class, as numpy's argmax.
    EXPECT_EQ(raid::ArgMax(p.row(0).data(), 3), 1);
}

TEST(Knn, TiesInDistanceGoToTheLowerTrainingIndex) {
    // 0 is at distance 1 from -1 and 1, and 2 from -2 and 2.
    raid::KnnClassifier knn = FitKnn(Column({-1, 1, -2, 2}), {1, 0, 0, 1}, 2, 1);
    const raid::RowMatrixF zero = Column({0.0f});
    EXPECT_EQ(knn.Neighbors(zero)(0, 0), 0);
    EXPECT_EQ(knn.PredictProba(zero)(0, 1), 1.0);
    // The same points listed the other way round: the other neighbour wins.
    knn = FitKnn(Column({2, -2, 1, -1}), {1, 0, 0, 1}, 2, 1);
    EXPECT_EQ(knn.Neighbors(zero)(0, 0), 2);
    EXPECT_EQ(knn.PredictProba(zero)(0, 0), 1.0);
    // k = 3: rows 0 and 1, then the tie between 2 and 3 goes to row 2.
    knn = FitKnn(Column({-1, 1, -2, 2}), {1, 0, 0, 1}, 2, 3);
    const auto nn = knn.Neighbors(zero);
    EXPECT_EQ(nn(0, 0), 0);
    EXPECT_EQ(nn(0, 1), 1);
    EXPECT_EQ(nn(0, 2), 2);
    EXPECT_EQ(knn.PredictProba(zero)(0, 0), 2.0 / 3.0);
    // A tie away from the origin (3 is 2 from 1 and from 5).
    knn = FitKnn(Column({1, 5}), {0, 1}, 2, 1);
    EXPECT_EQ(knn.PredictProba(Column({3.0f}))(0, 0), 1.0);
    knn = FitKnn(Column({5, 1}), {1, 0}, 2, 1);
    EXPECT_EQ(knn.PredictProba(Column({3.0f}))(0, 1), 1.0);
}

TEST(Knn, KLargerThanTheTrainingSetUsesEveryone) {
    const raid::KnnClassifier knn = FitKnn(Column({0, 3, 4, 8}), {0, 1, 1, 1}, 2, 10);
    EXPECT_EQ(knn.k(), 4);
    const raid::RowMatrixF test = Column({5.0f, -100.0f});
    const auto nn = knn.Neighbors(test);
    ASSERT_EQ(nn.cols(), 4);
    // 5: distances 5 2 1 3 -> 2, 1, 3, 0.
    EXPECT_EQ(nn(0, 0), 2);
    EXPECT_EQ(nn(0, 1), 1);
    EXPECT_EQ(nn(0, 2), 3);
    EXPECT_EQ(nn(0, 3), 0);
    const raid::RowMatrixD p = knn.PredictProba(test);
    for (int r = 0; r < 2; ++r) {
        EXPECT_EQ(p(r, 0), 0.25);
        EXPECT_EQ(p(r, 1), 0.75);
    }
}

TEST(Knn, BlocksAgreeWithADirectSearch) {
    // 5000 training rows: blocks of KnnBlockRows(5000) < 700 test rows.
    const int64_t n = 5000, n_test = 700;
    const int32_t d = 8, k = 15;
    ASSERT_LT(raid::KnnBlockRows(n), n_test);
    raid::Rng rng(11);
    raid::RowMatrixF x(n, d), t(n_test, d);
    std::vector<int32_t> labels(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        labels[i] = static_cast<int32_t>(rng.Below(3));
        for (int32_t j = 0; j < d; ++j) x(i, j) = static_cast<float>(rng.Normal());
    }
    for (int64_t i = 0; i < n_test; ++i)
        for (int32_t j = 0; j < d; ++j) t(i, j) = static_cast<float>(rng.Normal());
    const raid::KnnClassifier knn = FitKnn(x, labels, 3, k);
    const auto nn = knn.Neighbors(t);
    const raid::RowMatrixD p = knn.PredictProba(t);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::vector<double> dist(static_cast<size_t>(n));
    for (int64_t r = 0; r < n_test; ++r) {
        for (int64_t i = 0; i < n; ++i) {
            double s = 0.0;
            for (int32_t j = 0; j < d; ++j) {
                const double diff = static_cast<double>(t(r, j)) - x(i, j);
                s += diff * diff;
            }
            dist[i] = s;
        }
        std::iota(order.begin(), order.end(), int64_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return dist[a] < dist[b]; });
        double counts[3] = {0, 0, 0};
        for (int32_t j = 0; j < k; ++j) {
            ASSERT_EQ(nn(r, j), order[j]) << "row " << r << " neighbour " << j;
            counts[labels[order[j]]] += 1.0;
        }
        for (int c = 0; c < 3; ++c) EXPECT_EQ(p(r, c), counts[c] / k);
    }
}

TEST(Knn, BadArgumentsAreRejected) {
    raid::KnnClassifier knn;
    raid::KnnOptions o;
    o.k = 0;
    const std::vector<int32_t> labels = {0, 1};
    EXPECT_THROW(knn.Fit(Column({0, 1}), labels.data(), 2, o), raid::InvalidArgument);
    o.k = 1;
    EXPECT_THROW(knn.Fit(raid::RowMatrixF(0, 1), labels.data(), 2, o), raid::DataError);
    knn.Fit(Column({0, 1}), labels.data(), 2, o);
    EXPECT_THROW(knn.PredictProba(raid::RowMatrixF::Zero(1, 2)), raid::InvalidArgument);
}

/* ------------------------------------------------------------------- QDA */

// QDA with regularisation r fitted on (x, labels).
raid::Qda FitQda(const raid::RowMatrixF& x, const std::vector<int32_t>& labels, int32_t classes,
                 double r) {
    raid::QdaOptions o;
    o.reg = r;
    raid::Qda qda;
    qda.Fit(x, labels.data(), classes, o);
    return qda;
}

TEST(Qda, OneDimensionalLogOddsAgainstTheClosedForm) {
    // Class 0: -1, 0, 1 (mean 0, variance 1); class 1: 2, 4, 6, 8 (mean 5,
    // variance 20/3, ddof 1).  Priors 3/7 and 4/7.
    const raid::RowMatrixF x = Column({-1, 0, 1, 2, 4, 6, 8});
    const std::vector<int32_t> labels = {0, 0, 0, 1, 1, 1, 1};
    const raid::RowMatrixF test = Column({-2.0f, 0.5f, 3.0f, 7.0f});
    for (double r : {0.0, 0.3, 1.0}) {
        const raid::Qda qda = FitQda(x, labels, 2, r);
        // Sigma_c = (1 - r) var_c + r.
        const double s0 = (1.0 - r) * 1.0 + r, s1 = (1.0 - r) * 20.0 / 3.0 + r;
        EXPECT_NEAR(qda.mean(0)[0], 0.0, 1e-15);
        EXPECT_NEAR(qda.mean(1)[0], 5.0, 1e-15);
        EXPECT_NEAR(qda.scalings(0)[0], s0, 1e-14) << r;
        EXPECT_NEAR(qda.scalings(1)[0], s1, 1e-14) << r;
        EXPECT_NEAR(qda.log_prior(1), std::log(4.0 / 7.0), 1e-15);
        const raid::RowMatrixD g = qda.DecisionFunction(test);
        const raid::RowMatrixD p = qda.PredictProba(test);
        for (Eigen::Index i = 0; i < test.rows(); ++i) {
            const double v = test(i, 0);
            const double g0 = -0.5 * (std::log(s0) + v * v / s0) + std::log(3.0 / 7.0);
            const double g1 = -0.5 * (std::log(s1) + (v - 5) * (v - 5) / s1) + std::log(4.0 / 7.0);
            EXPECT_NEAR(g(i, 0), g0, 1e-12) << r << " " << v;
            EXPECT_NEAR(g(i, 1), g1, 1e-12) << r << " " << v;
            EXPECT_NEAR(p(i, 1), 1.0 / (1.0 + std::exp(g0 - g1)), 1e-12) << r << " " << v;
            EXPECT_NEAR(p(i, 0) + p(i, 1), 1.0, 1e-15);
            // Reg 1: both covariances are the identity and the log-odds are
            // linear, 5 x - 12.5 + log(4/3).
            if (r == 1.0) {
                EXPECT_NEAR(g1 - g0, 5.0 * v - 12.5 + std::log(4.0 / 3.0), 1e-12);
            }
        }
    }
}

TEST(Qda, RegBlendsACorrelatedCovarianceTowardTheIdentity) {
    // A 2-D class with correlated features; the other class is a shifted copy.
    const float pts[5][2] = {{0, 0}, {2, 1}, {4, 5}, {6, 2}, {3, 7}};
    raid::RowMatrixF x(10, 2);
    std::vector<int32_t> labels;
    for (int i = 0; i < 10; ++i) {
        x(i, 0) = pts[i % 5][0] + (i >= 5 ? 1.0f : 0.0f);
        x(i, 1) = pts[i % 5][1] * (i >= 5 ? 2.0f : 1.0f);
        labels.push_back(i >= 5 ? 1 : 0);
    }
    raid::RowMatrixF t(3, 2);
    t << 1.0f, 1.0f, 3.5f, 6.0f, -2.0f, 4.0f;
    for (double r : {0.0, 0.25, 0.9}) {
        const raid::Qda qda = FitQda(x, labels, 2, r);
        const raid::RowMatrixD g = qda.DecisionFunction(t);
        for (int c = 0; c < 2; ++c) {
            // Sample covariance by hand, blended: [[a, b], [b, e]].
            double m0 = 0, m1 = 0;
            for (int i = 0; i < 5; ++i) {
                m0 += x(5 * c + i, 0) / 5.0;
                m1 += x(5 * c + i, 1) / 5.0;
            }
            double a = 0, b = 0, e = 0;
            for (int i = 0; i < 5; ++i) {
                const double u = x(5 * c + i, 0) - m0, v = x(5 * c + i, 1) - m1;
                a += u * u / 4.0;
                b += u * v / 4.0;
                e += v * v / 4.0;
            }
            a = (1 - r) * a + r;
            b = (1 - r) * b;
            e = (1 - r) * e + r;
            const double det = a * e - b * b;
            // Eigenvalues of a 2 x 2 symmetric matrix.
            const double half_trace = 0.5 * (a + e);
            const double root = std::sqrt(half_trace * half_trace - det);
            EXPECT_NEAR(qda.scalings(c)[0], half_trace - root, 1e-12) << r << " " << c;
            EXPECT_NEAR(qda.scalings(c)[1], half_trace + root, 1e-12) << r << " " << c;
            for (int i = 0; i < 3; ++i) {
                const double u = t(i, 0) - m0, v = t(i, 1) - m1;
                const double maha = (e * u * u - 2 * b * u * v + a * v * v) / det;
                const double expected = -0.5 * (std::log(det) + maha) + std::log(0.5);
                EXPECT_NEAR(g(i, c), expected, 1e-10) << r << " " << c << " " << i;
            }
        }
    }
}

TEST(Qda, SingularCovarianceWithoutRegStaysFinite) {
    // The second feature copies the first: each class covariance is singular.
    raid::Rng rng(5);
    raid::RowMatrixF x(40, 2);
    std::vector<int32_t> labels;
    for (int i = 0; i < 40; ++i) {
        const float v = static_cast<float>(rng.Normal() + (i % 2) * 2.0);
        x(i, 0) = v;
        x(i, 1) = v;
        labels.push_back(i % 2);
    }
    raid::Qda qda = FitQda(x, labels, 2, 0.0);
    EXPECT_EQ(qda.summary().floored_classes, 2);
    EXPECT_EQ(qda.summary().floored_values, 2);
    const raid::RowMatrixD p = qda.PredictProba(x);
    EXPECT_TRUE(p.allFinite());
    for (Eigen::Index i = 0; i < p.rows(); ++i) EXPECT_NEAR(p.row(i).sum(), 1.0, 1e-12);
    // Regularised, nothing needs the floor.
    qda = FitQda(x, labels, 2, 0.1);
    EXPECT_EQ(qda.summary().floored_classes, 0);
    EXPECT_NEAR(qda.scalings(0)[0], 0.1, 1e-12);  // the collinear direction
}

TEST(Qda, BadArgumentsAreRejected) {
    const raid::RowMatrixF x = Column({0, 1, 2, 3, 4});
    raid::Qda qda;
    raid::QdaOptions o;
    const std::vector<int32_t> one_in_class_1 = {0, 0, 0, 0, 1};
    try {
        qda.Fit(x, one_in_class_1.data(), 2, o);
        FAIL() << "expected DataError";
    } catch (const raid::DataError& e) {
        EXPECT_STREQ(e.what(),
                     "the QDA attacker needs at least 2 training users per class, class 1 has 1");
    }
    const std::vector<int32_t> labels = {0, 0, 1, 1, 1};
    for (double r : {-0.1, 1.1, std::nan("")}) {
        o.reg = r;
        EXPECT_THROW(qda.Fit(x, labels.data(), 2, o), raid::InvalidArgument) << r;
    }
}

/* ----------------------------------------- the leakage they are built for */

// Users with features, ids 1..n and labels alternating 0, 1.
struct Users {
    int64_t n = 0;
    int32_t dim = 0;
    std::vector<float> x;
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
};

// Runs an audit with the given attackers (threads 2, 5 folds, defaults).
std::vector<raid::AttackResult> Audit(const Users& u, int32_t attackers, double qda_reg = 0.1) {
    raid::AuditOptions o;
    o.threads = 2;
    o.attackers = attackers;
    o.qda_reg = qda_reg;
    raid::Audit audit(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, 2, o);
    audit.Run();
    return audit.Results();
}

// Class 0 ~ N(0, I), class 1 ~ N(0, diag(s^2, 1/s^2)): the same means.
Users EqualMeansDifferentCovariances(int64_t n, double s, uint64_t seed) {
    Users u;
    u.n = n;
    u.dim = 2;
    raid::Rng rng(seed);
    for (int64_t i = 0; i < n; ++i) {
        const int32_t c = static_cast<int32_t>(i % 2);
        u.ids.push_back(i + 1);
        u.labels.push_back(c);
        u.x.push_back(static_cast<float>(rng.Normal() * (c ? s : 1.0)));
        u.x.push_back(static_cast<float>(rng.Normal() * (c ? 1.0 / s : 1.0)));
    }
    return u;
}

TEST(AttackLeakage, EqualMeansDifferentCovariancesAreFoundByQda) {
    // Both classes have determinant 1, so the Bayes rule is class 1 iff
    // |x| > s |y|, and each class's recall is 2 atan(s) / pi: 0.844 for s = 4.
    // (With s = 2, i.e. diag(4, 0.25), it would be only 0.705.)
    const double s = 4.0;
    const double bayes = 2.0 * std::atan(s) / kPi;
    const Users u = EqualMeansDifferentCovariances(4000, s, 2024);
    const auto r = Audit(u, raid::kAttackerLogistic | raid::kAttackerQda);
    ASSERT_EQ(r.size(), 2u);
    ASSERT_EQ(r[1].attacker, raid::kAttackerQda);
    EXPECT_LT(r[0].balanced_accuracy, 0.6);
    EXPECT_NEAR(r[0].auc, 0.5, 0.05);
    EXPECT_GT(r[1].balanced_accuracy, 0.8);
    EXPECT_GT(r[1].auc, 0.85);
    // Without shrinkage QDA is the Bayes rule, up to estimation error.
    const auto plain = Audit(u, raid::kAttackerQda, 0.0);
    EXPECT_NEAR(plain[0].balanced_accuracy, bayes, 0.02);
    EXPECT_GE(plain[0].balanced_accuracy, r[1].balanced_accuracy - 0.005);
}

TEST(AttackLeakage, XorClustersAreFoundByKnn) {
    // Class 0 at +-3 e1, class 1 at +-3 e2 (unit noise): equal means, no
    // linear separation.
    Users u;
    u.n = 3000;
    u.dim = 2;
    raid::Rng rng(77);
    for (int64_t i = 0; i < u.n; ++i) {
        const int32_t c = static_cast<int32_t>(i % 2);
        const double sign = rng.Uniform() < 0.5 ? -1.0 : 1.0;
        u.ids.push_back(i + 1);
        u.labels.push_back(c);
        u.x.push_back(static_cast<float>((c == 0 ? 3.0 * sign : 0.0) + rng.Normal()));
        u.x.push_back(static_cast<float>((c == 1 ? 3.0 * sign : 0.0) + rng.Normal()));
    }
    const auto r = Audit(u, raid::kAttackerLogistic | raid::kAttackerKnn);
    ASSERT_EQ(r.size(), 2u);
    ASSERT_EQ(r[1].attacker, raid::kAttackerKnn);
    EXPECT_LT(r[0].balanced_accuracy, 0.6);
    EXPECT_GT(r[1].balanced_accuracy, 0.9);
    EXPECT_GT(r[1].auc, 0.95);
    for (int f = 0; f < r[1].folds; ++f) EXPECT_EQ(r[1].fold[f].iterations, 0);
}

/* ------------------------------------------------------ the RBF attacker */

// A ring around a disc (radius 1 vs 2.5, noise 0.3): equal means, no linear
// separation; the RBF kernel separates it almost perfectly, and so does
// kNN, while logistic regression stays at chance.
TEST(AttackLeakage, RingAroundADiscIsFoundByTheRbfAttacker) {
    Users u;
    u.n = 2000;
    u.dim = 2;
    raid::Rng rng(31);
    for (int64_t i = 0; i < u.n; ++i) {
        const int32_t c = static_cast<int32_t>(i % 2);
        const double angle = 2.0 * kPi * rng.Uniform();
        const double radius = (c ? 2.5 : 1.0) + 0.3 * rng.Normal();
        u.ids.push_back(i + 1);
        u.labels.push_back(c);
        u.x.push_back(static_cast<float>(radius * std::cos(angle)));
        u.x.push_back(static_cast<float>(radius * std::sin(angle)));
    }
    const auto r = Audit(u, raid::kAttackerLogistic | raid::kAttackerRbf);
    ASSERT_EQ(r.size(), 2u);
    ASSERT_EQ(r[1].attacker, raid::kAttackerRbf);
    EXPECT_STREQ(raid::AttackerName(raid::kAttackerRbf), "rbf");
    EXPECT_LT(r[0].balanced_accuracy, 0.6);
    EXPECT_GT(r[1].balanced_accuracy, 0.95);
    EXPECT_GT(r[1].auc, 0.98);
    for (int f = 0; f < r[1].folds; ++f) EXPECT_GT(r[1].fold[f].iterations, 0);
    // the same seed gives the same features: identical results at 1 thread
    raid::AuditOptions o;
    o.threads = 1;
    o.attackers = raid::kAttackerRbf;
    raid::Audit again(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, 2, o);
    again.Run();
    EXPECT_EQ(again.Results()[0].balanced_accuracy, r[1].balanced_accuracy);
}

// gamma follows scikit-learn's "scale": 1 / (d * variance of every entry).
TEST(Rbf, GammaIsScikitLearnsScale) {
    raid::RowMatrixF x(4, 2);
    x << 0, 0, 2, 0, 0, 2, 2, 2;  // entries 0,0,2,0,0,2,2,2: mean 1, variance 1
    const int32_t labels[4] = {0, 1, 0, 1};
    raid::RbfClassifier rbf;
    raid::RbfOptions o;
    o.features = 64;
    rbf.Fit(x, labels, 2, o, 5);
    EXPECT_DOUBLE_EQ(rbf.gamma(), 0.5);
    const raid::RowMatrixD p = rbf.PredictProba(x);
    ASSERT_EQ(p.rows(), 4);
    for (int r = 0; r < 4; ++r) EXPECT_NEAR(p.row(r).sum(), 1.0, 1e-9);
    o.features = 8;
    EXPECT_THROW(rbf.Fit(x, labels, 2, o, 5), raid::InvalidArgument);
    raid::AuditOptions a;
    a.rbf_features = 20000;
    EXPECT_THROW(a.Validate(), raid::InvalidArgument);
    a.rbf_features = 1024;
    a.rbf_c = 0.0;
    EXPECT_THROW(a.Validate(), raid::InvalidArgument);
    a.rbf_c = 1.0;
    a.attackers = raid::kEveryAttacker;
    EXPECT_NO_THROW(a.Validate());
    a.attackers = 32;
    EXPECT_THROW(a.Validate(), raid::InvalidArgument);
}

/* ------------------------------------------------ the audit via the C ABI */

class AuditKnnQda : public raid_test::GuardedTest {
  protected:
    // Two classes (1 in 3 users is class 1, shifted by `shift` on every axis).
    static Users Shifted(int64_t n, int32_t dim, double shift, uint64_t seed) {
        Users u;
        u.n = n;
        u.dim = dim;
        raid::Rng rng(seed);
        for (int64_t i = 0; i < n; ++i) {
            const int32_t c = i % 3 == 0 ? 1 : 0;
            u.labels.push_back(c);
            u.ids.push_back(10 * i + 3);
            for (int32_t j = 0; j < dim; ++j)
                u.x.push_back(static_cast<float>(rng.Normal() + (c ? shift : 0.0)));
        }
        return u;
    }

    static raid_audit* Create(const Users& u, const raid_audit_options& o, raid_error* err) {
        return raid_audit_create(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, 2, &o, err);
    }
};

// Runs an audit to the end through the C ABI and returns its results.
std::vector<raid_attack_result> RunC(const Users& u, const raid_audit_options& o) {
    raid_error err;
    raid_audit* a =
        raid_audit_create(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, 2, &o, &err);
    EXPECT_NE(a, nullptr) << err.message;
    if (a == nullptr) return {};
    int done = 0;
    while (!done) EXPECT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_OK) << err.message;
    std::vector<raid_attack_result> out(RAID_MAX_ATTACKERS);
    int32_t n = 0;
    EXPECT_EQ(raid_audit_get_results(a, out.data(), RAID_MAX_ATTACKERS, &n, &err), RAID_OK);
    out.resize(static_cast<size_t>(n));
    raid_audit_free(a);
    return out;
}

TEST_F(AuditKnnQda, FourResultsInOrderAndBitIdenticalAtOneAndTwoThreads) {
    const Users u = Shifted(400, 8, 0.8, 3);
    raid_audit_options o;
    raid_audit_options_default(&o);
    o.folds = 4;
    o.mlp_hidden = 32;
    o.mlp_batch = 32;
    o.threads = 1;
    const auto one = RunC(u, o);
    o.threads = 2;
    const auto two = RunC(u, o);
    ASSERT_EQ(one.size(), 4u);
    ASSERT_EQ(two.size(), 4u);
    const int32_t order[] = {RAID_ATTACKER_MLP, RAID_ATTACKER_LOGISTIC, RAID_ATTACKER_KNN,
                             RAID_ATTACKER_QDA};
    for (size_t k = 0; k < 4; ++k) {
        const raid_attack_result& a = one[k];
        const raid_attack_result& b = two[k];
        EXPECT_EQ(a.attacker, order[k]);
        EXPECT_EQ(b.attacker, order[k]);
        // Everything but the wall time is bit-identical.
        EXPECT_EQ(a.f1, b.f1) << k;
        EXPECT_EQ(a.f1_std, b.f1_std) << k;
        EXPECT_EQ(a.balanced_accuracy, b.balanced_accuracy) << k;
        EXPECT_EQ(a.auc, b.auc) << k;
        EXPECT_EQ(a.auc_std, b.auc_std) << k;
        ASSERT_EQ(a.folds, b.folds) << k;
        for (int f = 0; f < a.folds; ++f) {
            EXPECT_EQ(a.fold[f].f1, b.fold[f].f1) << k;
            EXPECT_EQ(a.fold[f].auc, b.fold[f].auc) << k;
            EXPECT_EQ(a.fold[f].balanced_accuracy, b.fold[f].balanced_accuracy) << k;
            EXPECT_EQ(a.fold[f].iterations, b.fold[f].iterations) << k;
        }
        // Shift 0.8 on 8 axes (Bayes BAcc 0.87): every attacker finds it.
        EXPECT_GT(a.balanced_accuracy, 0.7) << k;
        EXPECT_GT(a.auc, 0.75) << k;
        if (a.attacker == RAID_ATTACKER_KNN || a.attacker == RAID_ATTACKER_QDA) {
            for (int f = 0; f < o.folds; ++f) EXPECT_EQ(a.fold[f].iterations, 0);
        }
    }
    // knn_k and qda_reg reach the attackers.
    o.knn_k = 1;
    o.qda_reg = 1.0;
    const auto other = RunC(u, o);
    ASSERT_EQ(other.size(), 4u);
    EXPECT_EQ(other[0].auc, one[0].auc);  // the MLP is unchanged
    EXPECT_NE(other[2].auc, one[2].auc);
    EXPECT_NE(other[3].auc, one[3].auc);
}

TEST_F(AuditKnnQda, KnnAndQdaTasksAreCancellable) {
    // 12000 users x 4 dims (4000 of class 1), 3 folds, one task per step: a
    // kNN task scores 4000 test users against about 5333 balanced training
    // users in blocks of KnnBlockRows(5333) = 196 rows, i.e. 21 blocks.
    const Users u = Shifted(12000, 4, 0.5, 9);
    for (int32_t attacker : {RAID_ATTACKER_KNN, RAID_ATTACKER_QDA}) {
        raid_audit_options o;
        raid_audit_options_default(&o);
        o.attackers = attacker;
        o.folds = 3;
        o.threads = 1;
        raid_error err;
        // Polls of one whole task.
        raid_audit* a = Create(u, o, &err);
        ASSERT_NE(a, nullptr) << err.message;
        StopAfter(-1);
        int done = 0;
        ASSERT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_OK) << err.message;
        const int64_t n_polls = polls();
        raid_audit_free(a);
        if (attacker == RAID_ATTACKER_KNN)
            EXPECT_GE(n_polls, 4000 / raid::KnnBlockRows(5400)) << "one poll per block";
        else
            EXPECT_GE(n_polls, 4) << "one poll per class when fitting and when scoring";
        // A stop request at any of them ends the task there.
        for (int64_t stop : {int64_t{0}, n_polls / 2, n_polls - 1}) {
            Reset();
            a = Create(u, o, &err);
            ASSERT_NE(a, nullptr);
            StopAfter(stop);
            EXPECT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_INTERRUPTED)
                << attacker << " " << stop;
            EXPECT_STREQ(err.message, "audit cancelled");
            EXPECT_EQ(polls(), stop + 1) << "no poll after the request";
            EXPECT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_INTERRUPTED);
            raid_audit_free(a);
        }
        Reset();
    }
}

TEST_F(AuditKnnQda, TheBudgetCountsKnnAndQda) {
    const Users u = Shifted(3000, 16, 0.5, 4);
    const int64_t n_test = 3000 / 5;
    for (int32_t attacker : {RAID_ATTACKER_KNN, RAID_ATTACKER_QDA}) {
        raid_audit_options o;
        raid_audit_options_default(&o);
        o.attackers = attacker;
        o.threads = 1;
        raid::AuditOptions core;
        core.attackers = attacker;
        const double base = raid::AuditBaseBytes(3000, 16, 5);
        const double task = raid::AuditTaskBytes(3000, 16, 2, core);
        // The task's estimate is the fold's copy plus the attacker's own.
        const double own = attacker == RAID_ATTACKER_KNN
                               ? raid::KnnPredictBytes(3000, n_test, 16, 2)
                               : raid::QdaFitBytes(3000, n_test, 16, 2);
        EXPECT_DOUBLE_EQ(task, 4.0 * 3000 * 16 + 16.0 * 3000 + 8.0 * 3000 * 2 + own);
        const uint64_t limit = static_cast<uint64_t>(base + task) - 1;
        raid_set_memory_limit(limit);
        raid_error err;
        EXPECT_EQ(Create(u, o, &err), nullptr);
        EXPECT_EQ(err.code, RAID_OUT_OF_MEMORY);
        EXPECT_EQ(std::string(err.message), "the audit needs an estimated " +
                                                raid::FormatBytes(base + task) +
                                                " of memory, more than the limit of " +
                                                raid::FormatBytes(static_cast<double>(limit)));
        raid_set_memory_limit(static_cast<uint64_t>(base + task) + 1);
        raid_audit* a = Create(u, o, &err);
        ASSERT_NE(a, nullptr) << err.message;
        raid_audit_free(a);
        Reset();
    }
    // kNN holds a block of test x training distances; QDA a d x d matrix per class.
    EXPECT_GE(raid::KnnPredictBytes(8000, 2000, 64, 2), 8.0 * raid::KnnBlockRows(8000) * 8000);
    EXPECT_GE(raid::QdaFitBytes(1000, 250, 512, 3), 8.0 * 3 * 512 * 512);
}

}  // namespace

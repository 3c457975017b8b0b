// test_attack.cpp: fold plans, L-BFGS, logistic regression, the MLP and full audits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/attack/audit.h"
#include "core/attack/crossval.h"
#include "core/attack/lbfgs.h"
#include "core/attack/logistic.h"
#include "core/attack/mlp.h"
#include "core/common.h"

namespace {

// Users with features, ids and labels.
struct Users {
    int64_t n = 0;
    int32_t dim = 0;
    int32_t classes = 0;
    std::vector<float> x;
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
};

// Gaussian blobs: class c ~ N(mu_c, I) in dim dimensions, with class means
// `separation` apart (mu_c = separation / sqrt(2) * e_c, so every pair of
// means is exactly `separation` apart).  Labels cycle 0, 1, ..; ids are
// scattered.
Users Blobs(int64_t n, int32_t dim, int32_t classes, double separation, uint64_t seed) {
    Users u;
    u.n = n;
    u.dim = dim;
    u.classes = classes;
    u.x.resize(static_cast<size_t>(n * dim));
    raid::Rng rng(seed);
    for (int64_t i = 0; i < n; ++i) {
        const int32_t c = static_cast<int32_t>(i % classes);
        u.labels.push_back(c);
        u.ids.push_back(1000 + 7919 * i);
        for (int32_t j = 0; j < dim; ++j) {
            const double mean = j == c ? separation / std::sqrt(2.0) : 0.0;
            u.x[i * dim + j] = static_cast<float>(mean + rng.Normal());
        }
    }
    return u;
}

// The same users with their labels shuffled (no signal left).
Users PermuteLabels(Users u, uint64_t seed) {
    raid::Rng rng(seed);
    for (size_t i = u.labels.size() - 1; i > 0; --i)
        std::swap(u.labels[i], u.labels[rng.Below(i + 1)]);
    return u;
}

// The same users in a shuffled row order.
Users PermuteRows(const Users& u, uint64_t seed) {
    std::vector<int64_t> order(static_cast<size_t>(u.n));
    std::iota(order.begin(), order.end(), int64_t{0});
    raid::Rng rng(seed);
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);
    Users p = u;
    for (int64_t r = 0; r < u.n; ++r) {
        const int64_t s = order[r];
        p.ids[r] = u.ids[s];
        p.labels[r] = u.labels[s];
        std::copy(u.x.begin() + s * u.dim, u.x.begin() + (s + 1) * u.dim, p.x.begin() + r * u.dim);
    }
    return p;
}

// Runs a full audit.
std::vector<raid::AttackResult> RunAudit(const Users& u, const raid::AuditOptions& o) {
    raid::Audit audit(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, u.classes, o);
    audit.Run();
    return audit.Results();
}

// Ids and labels of an uneven 3-class population (50, 33, 20 users).
void UnevenPopulation(std::vector<int64_t>* ids, std::vector<int32_t>* labels) {
    const int sizes[] = {50, 33, 20};
    int64_t id = 17;
    for (int32_t c = 0; c < 3; ++c)
        for (int k = 0; k < sizes[c]; ++k) {
            ids->push_back(id);
            labels->push_back(c);
            id += 1 + (id * 31) % 97;  // irregular gaps
        }
}

/* ------------------------------------------------------------- fold plan */

TEST(FoldPlan, StratifiedAndEveryUserTestedOnce) {
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
    UnevenPopulation(&ids, &labels);
    const int64_t n = static_cast<int64_t>(ids.size());
    const raid::FoldPlan plan = raid::MakeFoldPlan(ids.data(), labels.data(), n, 3, 5, 42, true);
    ASSERT_EQ(plan.folds, 5);
    // Per class, fold sizes differ by at most one.
    for (int32_t c = 0; c < 3; ++c) {
        std::vector<int> per_fold(5, 0);
        for (int64_t i = 0; i < n; ++i)
            if (labels[i] == c) ++per_fold[plan.fold_of[i]];
        const auto mm = std::minmax_element(per_fold.begin(), per_fold.end());
        EXPECT_LE(*mm.second - *mm.first, 1) << "class " << c;
    }
    // Test folds partition the users and agree with fold_of.
    std::vector<int> tested(static_cast<size_t>(n), 0);
    for (int32_t f = 0; f < 5; ++f)
        for (int64_t i : plan.test[f]) {
            ++tested[i];
            EXPECT_EQ(plan.fold_of[i], f);
        }
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(tested[i], 1);
}

TEST(FoldPlan, BalancedTrainingSetsHaveEqualClasses) {
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
    UnevenPopulation(&ids, &labels);
    const int64_t n = static_cast<int64_t>(ids.size());
    const raid::FoldPlan plan = raid::MakeFoldPlan(ids.data(), labels.data(), n, 3, 5, 42, true);
    for (int32_t f = 0; f < 5; ++f) {
        std::vector<int64_t> count(3, 0), available(3, 0);
        for (int64_t i : plan.train[f]) {
            EXPECT_NE(plan.fold_of[i], f) << "a test user is in the training set";
            ++count[labels[i]];
        }
        for (int64_t i = 0; i < n; ++i)
            if (plan.fold_of[i] != f) ++available[labels[i]];
        EXPECT_EQ(count[0], count[1]);
        EXPECT_EQ(count[1], count[2]);
        EXPECT_EQ(count[2], *std::min_element(available.begin(), available.end()));
        // Listed by ascending id.
        for (size_t r = 1; r < plan.train[f].size(); ++r)
            EXPECT_LT(ids[plan.train[f][r - 1]], ids[plan.train[f][r]]);
    }
    // Without balancing the training set is the complement of the test fold.
    const raid::FoldPlan all = raid::MakeFoldPlan(ids.data(), labels.data(), n, 3, 5, 42, false);
    for (int32_t f = 0; f < 5; ++f)
        EXPECT_EQ(static_cast<int64_t>(all.train[f].size() + all.test[f].size()), n);
}

TEST(FoldPlan, DependsOnlyOnSeedAndId) {
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
    UnevenPopulation(&ids, &labels);
    const int64_t n = static_cast<int64_t>(ids.size());
    const raid::FoldPlan plan = raid::MakeFoldPlan(ids.data(), labels.data(), n, 3, 4, 7, true);
    // Reverse and rotate the rows.
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) order[r] = (n - 1 - r + 13) % n;
    std::vector<int64_t> ids2;
    std::vector<int32_t> labels2;
    for (int64_t s : order) {
        ids2.push_back(ids[s]);
        labels2.push_back(labels[s]);
    }
    const raid::FoldPlan plan2 = raid::MakeFoldPlan(ids2.data(), labels2.data(), n, 3, 4, 7, true);
    std::map<int64_t, int32_t> fold_by_id;
    std::map<std::pair<int32_t, int64_t>, bool> train_by_id;
    for (int64_t i = 0; i < n; ++i) fold_by_id[ids[i]] = plan.fold_of[i];
    for (int32_t f = 0; f < 4; ++f)
        for (int64_t i : plan.train[f]) train_by_id[{f, ids[i]}] = true;
    for (int64_t r = 0; r < n; ++r) EXPECT_EQ(plan2.fold_of[r], fold_by_id[ids2[r]]);
    for (int32_t f = 0; f < 4; ++f) {
        ASSERT_EQ(plan2.train[f].size(), plan.train[f].size());
        for (int64_t r : plan2.train[f]) EXPECT_TRUE(train_by_id.count({f, ids2[r]}));
    }
    // Another seed deals differently.
    const raid::FoldPlan other = raid::MakeFoldPlan(ids.data(), labels.data(), n, 3, 4, 8, true);
    EXPECT_NE(other.fold_of, plan.fold_of);
}

TEST(FoldPlan, FoldIsTheHashPositionModK) {
    // The documented rule, recomputed independently for one class.
    std::vector<int64_t> ids = {5, 9, 12, 40, 41, 77, 100};
    std::vector<int32_t> labels = {0, 0, 0, 0, 1, 1, 1};
    const raid::FoldPlan plan = raid::MakeFoldPlan(ids.data(), labels.data(), 7, 2, 3, 99, true);
    std::vector<std::pair<uint64_t, int64_t>> keyed;
    for (int i = 0; i < 4; ++i)
        keyed.push_back({raid::Key(99, raid::kTagFold, static_cast<uint64_t>(ids[i])), i});
    std::sort(keyed.begin(), keyed.end());
    for (size_t p = 0; p < keyed.size(); ++p)
        EXPECT_EQ(plan.fold_of[keyed[p].second], static_cast<int32_t>(p % 3));
}

TEST(FoldPlan, SmallClassIsAnErrorNamingIt) {
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
    for (int i = 0; i < 20; ++i) {
        ids.push_back(i);
        labels.push_back(i < 17 ? (i % 2) : 2);  // class 2 has 3 users
    }
    try {
        raid::MakeFoldPlan(ids.data(), labels.data(), 20, 3, 5, 42, true);
        FAIL() << "expected InvalidArgument";
    } catch (const raid::InvalidArgument& e) {
        EXPECT_STREQ(e.what(), "class 2 has 3 users, fewer than the 5 folds");
    }
    labels[0] = 3;
    EXPECT_THROW(raid::MakeFoldPlan(ids.data(), labels.data(), 20, 3, 3, 42, true),
                 raid::InvalidArgument);
    EXPECT_THROW(raid::MakeFoldPlan(ids.data(), labels.data(), 20, 1, 3, 42, true),
                 raid::InvalidArgument);
    labels[0] = 0;
    ids[1] = ids[0];
    EXPECT_THROW(raid::MakeFoldPlan(ids.data(), labels.data(), 20, 3, 3, 42, true),
                 raid::DataError);
}

TEST(FoldPlan, StandardisationUsesTrainingUsersOnly) {
    // Column 0 varies, column 1 is constant.
    const std::vector<float> x = {1, 5, 2, 5, 3, 5, 4, 5, 100, 5};
    raid::RowMatrixF train, test;
    raid::GatherStandardized(x.data(), 2, {0, 1, 2, 3}, {4}, &train, &test);
    // Training mean 2.5, population std sqrt(1.25).
    const double sd = std::sqrt(1.25);
    EXPECT_NEAR(train(0, 0), (1 - 2.5) / sd, 1e-6);
    EXPECT_NEAR(train(3, 0), (4 - 2.5) / sd, 1e-6);
    EXPECT_NEAR(test(0, 0), (100 - 2.5) / sd, 1e-4);
    EXPECT_EQ(train(0, 1), 0.0f);  // constant: centred, scale 1
    EXPECT_EQ(test(0, 1), 0.0f);
}

TEST(FoldPlan, HoldoutIsStratified) {
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
    for (int i = 0; i < 430; ++i) {
        ids.push_back(3 * i);
        labels.push_back(i < 300 ? 0 : 1);
    }
    const auto holdout = raid::StratifiedHoldout(ids.data(), labels.data(), 430, 2, 0.1, 5);
    int64_t held[2] = {0, 0};
    for (int i = 0; i < 430; ++i) held[labels[i]] += holdout[i];
    EXPECT_EQ(held[0], 30);
    EXPECT_EQ(held[1], 13);  // ceil(0.1 * 130)
}

/* ----------------------------------------------------------------- L-BFGS */

TEST(Lbfgs, QuadraticReachesTheExactMinimiser) {
    const int p = 12;
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(p, p);
    Eigen::VectorXd b(p);
    for (int i = 0; i < p; ++i) {
        a(i, i) = 1.0 + i;  // condition number 12
        if (i + 1 < p) a(i, i + 1) = a(i + 1, i) = 0.3;
        b(i) = std::sin(1.0 + i);
    }
    const Eigen::VectorXd exact = a.ldlt().solve(b);
    // f = 0.5 x'Ax - b'x + const, written around its minimiser so that f is
    // 0 there and its rounding error does not hide the last decreases.
    auto f = [&](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
        const Eigen::VectorXd e = x - exact;
        *g = a * e;
        return 0.5 * e.dot(a * e);
    };
    Eigen::VectorXd x = Eigen::VectorXd::Zero(p);
    raid::LbfgsOptions o;
    o.gradient_tolerance = 1e-10;
    o.function_tolerance = 0.0;
    const raid::LbfgsSummary s = raid::MinimizeLbfgs(f, &x, o);
    EXPECT_EQ(s.termination, raid::LbfgsTermination::kGradient);
    EXPECT_LT((x - exact).cwiseAbs().maxCoeff(), 1e-9);
    EXPECT_LT(s.iterations, 60);
}

TEST(Lbfgs, RosenbrockConvergesToOneOne) {
    auto f = [](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
        const double a = 1.0 - x(0), b = x(1) - x(0) * x(0);
        (*g)(0) = -2.0 * a - 400.0 * x(0) * b;
        (*g)(1) = 200.0 * b;
        return a * a + 100.0 * b * b;
    };
    Eigen::VectorXd x(2);
    x << -1.2, 1.0;
    raid::LbfgsOptions o;
    o.gradient_tolerance = 1e-9;
    o.function_tolerance = 0.0;
    const raid::LbfgsSummary s = raid::MinimizeLbfgs(f, &x, o);
    EXPECT_EQ(s.termination, raid::LbfgsTermination::kGradient);
    EXPECT_NEAR(x(0), 1.0, 1e-6);
    EXPECT_NEAR(x(1), 1.0, 1e-6);
    EXPECT_LT(s.iterations, 100);
}

TEST(Lbfgs, NonFiniteStartIsReportedNotThrown) {
    auto f = [](const Eigen::VectorXd&, Eigen::VectorXd* g) {
        g->setZero();
        return std::nan("");
    };
    Eigen::VectorXd x = Eigen::VectorXd::Ones(3);
    EXPECT_EQ(raid::MinimizeLbfgs(f, &x).termination, raid::LbfgsTermination::kNonFinite);
}

/* ------------------------------------------------------ logistic regression */

// Checks the analytic gradient of the logistic objective by central differences.
void CheckLogisticGradient(int32_t classes) {
    const Users u = Blobs(30, 5, classes, 1.0, 3);
    const raid::RowMatrixF x = raid::ConstRowMapF(u.x.data(), u.n, u.dim);
    const raid::LogisticObjective objective(x, u.labels.data(), classes, 0.7);
    raid::Rng rng(11);
    Eigen::VectorXd theta(objective.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k) theta(k) = rng.Normal();
    Eigen::VectorXd g(objective.size()), unused(objective.size());
    objective(theta, &g);
    const double h = 1e-6;
    for (Eigen::Index k = 0; k < theta.size(); ++k) {
        Eigen::VectorXd plus = theta, minus = theta;
        plus(k) += h;
        minus(k) -= h;
        const double numeric = (objective(plus, &unused) - objective(minus, &unused)) / (2 * h);
        EXPECT_NEAR(g(k), numeric, 1e-7 * std::max(1.0, std::fabs(numeric)))
            << "parameter " << k << ", " << classes << " classes";
    }
}

TEST(Logistic, GradientMatchesFiniteDifferencesBinary) { CheckLogisticGradient(2); }

TEST(Logistic, GradientMatchesFiniteDifferencesMultinomial) { CheckLogisticGradient(3); }

TEST(Logistic, SolutionIsStationaryAndProbabilitiesSumToOne) {
    const Users u = Blobs(300, 8, 3, 2.0, 4);
    const raid::RowMatrixF x = raid::ConstRowMapF(u.x.data(), u.n, u.dim);
    raid::LogisticRegression lr;
    raid::LogisticOptions o;
    lr.Fit(x, u.labels.data(), 3, o);
    EXPECT_EQ(lr.summary().termination, raid::LbfgsTermination::kGradient);
    EXPECT_LE(lr.summary().gradient_norm, o.tol);
    const raid::RowMatrixD p = lr.PredictProba(x);
    for (Eigen::Index i = 0; i < p.rows(); ++i) EXPECT_NEAR(p.row(i).sum(), 1.0, 1e-12);
}

/* -------------------------------------------------------------------- MLP */

TEST(Mlp, EarlyStoppingKeepsTheBestEpoch) {
    const Users u = Blobs(1000, 16, 2, 3.0, 5);
    const raid::RowMatrixF x = raid::ConstRowMapF(u.x.data(), u.n, u.dim);
    raid::Mlp mlp;
    raid::MlpOptions o;
    mlp.Fit(x, u.labels.data(), u.ids.data(), 2, o, 42);
    const raid::MlpSummary& s = mlp.summary();
    EXPECT_EQ(s.validation_samples, 100);
    EXPECT_EQ(s.train_samples, 900);
    EXPECT_LT(s.epochs, o.max_epochs);  // stopped early
    // Holdout accuracy moves in steps of 1/100 > tol, so every new best
    // resets the count: training stops patience + 1 epochs after the best.
    EXPECT_EQ(s.epochs, s.best_epoch + o.patience + 1);
    EXPECT_GT(s.best_validation_accuracy, 0.9);
    // Same seed: bit-identical predictions.
    raid::Mlp again;
    again.Fit(x, u.labels.data(), u.ids.data(), 2, o, 42);
    EXPECT_EQ(mlp.PredictProba(x), again.PredictProba(x));
}

/* ------------------------------------------------------------ full audits */

// Options of the test audits: defaults, 2 threads.
raid::AuditOptions TestOptions() {
    raid::AuditOptions o;
    o.threads = 2;
    return o;
}

TEST(Audit, SeparableBlobsAreFound) {
    for (int32_t classes : {2, 3}) {
        const Users u = Blobs(2000, 64, classes, 6.0, 100 + classes);
        const auto results = RunAudit(u, TestOptions());
        ASSERT_EQ(results.size(), 4u);
        EXPECT_EQ(results[0].attacker, raid::kAttackerMlp);
        EXPECT_EQ(results[1].attacker, raid::kAttackerLogistic);
        EXPECT_EQ(results[2].attacker, raid::kAttackerKnn);
        EXPECT_EQ(results[3].attacker, raid::kAttackerQda);
        for (const auto& r : results) {
            // kNN's distances are dominated by the 62 or 63 noise axes, so it
            // separates less sharply than the models that weigh the axes.
            const double floor = r.attacker == raid::kAttackerKnn ? 0.9 : 0.95;
            EXPECT_GE(r.balanced_accuracy, floor)
                << raid::AttackerName(r.attacker) << " " << classes;
            EXPECT_GE(r.f1, floor) << raid::AttackerName(r.attacker);
            EXPECT_GE(r.auc, 0.98) << raid::AttackerName(r.attacker);
            EXPECT_DOUBLE_EQ(r.chance, 1.0 / classes);
            EXPECT_EQ(r.users, 2000);
            EXPECT_EQ(r.folds, 5);
            ASSERT_EQ(r.folds, 5);
            int64_t tested = 0;
            for (const auto& f : r.fold) tested += f.test_users;
            EXPECT_EQ(tested, 2000);
        }
    }
}

TEST(Audit, PermutedLabelsStayNearChance) {
    for (int32_t classes : {2, 3}) {
        const Users u = PermuteLabels(Blobs(2000, 64, classes, 6.0, 200 + classes), 9);
        const auto results = RunAudit(u, TestOptions());
        for (const auto& r : results) {
            EXPECT_NEAR(r.balanced_accuracy, 1.0 / classes, 0.05)
                << raid::AttackerName(r.attacker) << " " << classes;
            EXPECT_NEAR(r.auc, 0.5, 0.05) << raid::AttackerName(r.attacker);
        }
    }
}

// Expects two audits' results to be identical.
void ExpectSameResults(const std::vector<raid::AttackResult>& a,
                       const std::vector<raid::AttackResult>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) {
        EXPECT_EQ(a[k].f1, b[k].f1);
        EXPECT_EQ(a[k].balanced_accuracy, b[k].balanced_accuracy);
        EXPECT_EQ(a[k].auc, b[k].auc);
        ASSERT_EQ(a[k].folds, b[k].folds);
        for (int f = 0; f < a[k].folds; ++f) {
            EXPECT_EQ(a[k].fold[f].iterations, b[k].fold[f].iterations);
            EXPECT_EQ(a[k].fold[f].auc, b[k].fold[f].auc);
        }
    }
}

TEST(Audit, SameResultsForAnyThreadCountAndRowOrder) {
    const Users u = Blobs(600, 16, 2, 1.0, 300);
    raid::AuditOptions o = TestOptions();
    o.threads = 1;
    const auto one = RunAudit(u, o);
    o.threads = 2;
    const auto two = RunAudit(u, o);
    ExpectSameResults(one, two);
    ExpectSameResults(one, RunAudit(PermuteRows(u, 77), o));
    // A different seed gives different folds and initial weights.
    o.seed = 43;
    EXPECT_NE(RunAudit(u, o)[0].fold[0].auc, one[0].fold[0].auc);
}

TEST(Audit, StepsRunOneTaskPerThread) {
    const Users u = Blobs(200, 8, 2, 2.0, 400);
    raid::AuditOptions o;
    o.threads = 2;
    o.folds = 3;
    raid::Audit audit(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, u.classes, o);
    EXPECT_THROW(audit.Results(), raid::InvalidArgument);
    std::vector<double> fractions;
    double fraction = 0.0;
    while (!audit.Step(&fraction)) fractions.push_back(fraction);
    fractions.push_back(fraction);
    // 12 tasks (4 attackers x 3 folds), 2 per step.
    ASSERT_EQ(fractions.size(), 6u);
    EXPECT_NEAR(fractions[0], 2.0 / 12.0, 1e-12);
    EXPECT_NEAR(fractions[5], 1.0, 1e-12);
    EXPECT_TRUE(audit.Step(&fraction));  // nothing left: stays done
    o.attackers = raid::kAttackerLogistic;
    raid::Audit lr_only(u.x.data(), u.ids.data(), u.labels.data(), u.n, u.dim, u.classes, o);
    lr_only.Run();
    const auto r = lr_only.Results();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].attacker, raid::kAttackerLogistic);
}

TEST(Audit, BadInputsAreRejected) {
    Users u = Blobs(50, 4, 2, 2.0, 500);
    raid::AuditOptions o;
    auto make = [&](int32_t classes, int32_t dim) {
        raid::Audit a(u.x.data(), u.ids.data(), u.labels.data(), u.n, dim, classes, o);
    };
    EXPECT_THROW(make(1, 4), raid::InvalidArgument);
    EXPECT_THROW(make(2, 0), raid::InvalidArgument);
    o.folds = 1;
    EXPECT_THROW(make(2, 4), raid::InvalidArgument);
    o.folds = 5;
    u.x[7] = INFINITY;
    try {
        make(2, 4);
        FAIL() << "expected DataError";
    } catch (const raid::DataError& e) {
        EXPECT_STREQ(e.what(),
                     ("feature 3 of user " + std::to_string(u.ids[1]) + " is not finite").c_str());
    }
}

}  // namespace

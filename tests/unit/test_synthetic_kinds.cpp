// test_synthetic_kinds.cpp: the synthetic generator's signal kinds, checked on
// the users' interaction profiles (the only thing raid trains on): the mean
// kind moves the classes' mean profiles, the covariance kind only their
// spread, the nonlinear kind only their cluster structure.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "capi/raid_capi.h"
#include "core/common.h"
#include "core/data/synthetic.h"

namespace {

using raid::kSignalCovariance;
using raid::kSignalMean;
using raid::kSignalNonlinear;

// 4000 users x 400 items x ~40 interactions of one kind.
raid::SyntheticData Generate(int32_t kind, double signal, uint64_t seed, int32_t classes = 2,
                             int32_t threads = 0) {
    raid::SyntheticOptions o;
    o.n_users = 4000;
    o.n_items = 400;
    o.interactions_per_user = 40;
    o.classes = classes;
    o.signal = signal;
    o.signal_kind = kind;
    o.seed = seed;
    o.threads = threads;
    return raid::GenerateSynthetic(o);
}

// Users' 0/1 interaction profiles (users x items).
Eigen::MatrixXd Profiles(const raid::SyntheticData& s, int64_t n_items) {
    Eigen::MatrixXd x = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(s.classes.size()), n_items);
    for (size_t p = 0; p < s.users.size(); ++p) x(s.users[p] - 1, s.items[p] - 1) = 1.0;
    return x;
}

// Labels 0/1 from a hash of the user, independent of the generator.
std::vector<int> RandomLabels(size_t n, uint64_t salt) {
    std::vector<int> labels(n);
    for (size_t u = 0; u < n; ++u) labels[u] = static_cast<int>(raid::Key(salt, u) & 1);
    return labels;
}

// Class a -> 0, class b -> 1, other classes -> -1 (ignored).
std::vector<int> PairLabels(const raid::SyntheticData& s, int a, int b) {
    std::vector<int> labels(s.classes.size(), -1);
    for (size_t u = 0; u < labels.size(); ++u) {
        if (s.classes[u] == a) labels[u] = 0;
        if (s.classes[u] == b) labels[u] = 1;
    }
    return labels;
}

// Total variation between the item distributions of groups 0 and 1: how far
// apart the groups' MEAN profiles are.
double MeanProfileGap(const Eigen::MatrixXd& x, const std::vector<int>& labels) {
    Eigen::VectorXd f[2] = {Eigen::VectorXd::Zero(x.cols()), Eigen::VectorXd::Zero(x.cols())};
    for (Eigen::Index u = 0; u < x.rows(); ++u) {
        if (labels[u] >= 0) f[labels[u]] += x.row(u).transpose();
    }
    return 0.5 * (f[0] / f[0].sum() - f[1] / f[1].sum()).cwiseAbs().sum();
}

// Mean gap of random labels, averaged over four labelings.
double RandomGap(const Eigen::MatrixXd& x) {
    double sum = 0;
    for (uint64_t salt = 1; salt <= 4; ++salt)
        sum += MeanProfileGap(x, RandomLabels(static_cast<size_t>(x.rows()), 1000 + salt));
    return sum / 4;
}

// Spread ratio: the top-5 principal directions of half of group 0's profiles
// (centred on all users), then the variance along them of the other half of
// group 0 over that of group 1.  About 1 when the groups spread alike.
double SpreadRatio(const Eigen::MatrixXd& x, const std::vector<int>& labels) {
    const Eigen::RowVectorXd centre = x.colwise().mean();
    std::vector<Eigen::Index> fit, held, other;
    for (Eigen::Index u = 0; u < x.rows(); ++u) {
        if (labels[u] == 1) other.push_back(u);
        if (labels[u] == 0)
            ((raid::Key(7, static_cast<uint64_t>(u)) & 1) != 0 ? fit : held).push_back(u);
    }
    auto covariance = [&](const std::vector<Eigen::Index>& rows) {
        Eigen::MatrixXd y(static_cast<Eigen::Index>(rows.size()), x.cols());
        for (size_t k = 0; k < rows.size(); ++k)
            y.row(static_cast<Eigen::Index>(k)) = x.row(rows[k]) - centre;
        return Eigen::MatrixXd(y.transpose() * y / static_cast<double>(rows.size()));
    };
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(covariance(fit));
    const Eigen::MatrixXd v = eigen.eigenvectors().rightCols(5);
    return (v.transpose() * covariance(held) * v).trace() /
           (v.transpose() * covariance(other) * v).trace();
}

// Share of same-label users among the 10 nearest neighbours (by Jaccard
// similarity of item sets) of the first 600 users: a nonlinear statistic.
double NeighbourAgreement(const Eigen::MatrixXd& x, const std::vector<int>& labels) {
    const Eigen::Index probes = 600;
    const int k = 10;
    const Eigen::MatrixXd shared = x.topRows(probes) * x.transpose();
    const Eigen::VectorXd size = x.rowwise().sum();
    double agree = 0;
    std::vector<std::pair<double, Eigen::Index>> sim;
    for (Eigen::Index u = 0; u < probes; ++u) {
        sim.clear();
        for (Eigen::Index w = 0; w < x.rows(); ++w) {
            if (w == u) continue;
            sim.emplace_back(-shared(u, w) / (size[u] + size[w] - shared(u, w)), w);
        }
        std::partial_sort(sim.begin(), sim.begin() + k, sim.end());
        for (int t = 0; t < k; ++t) agree += labels[sim[t].second] == labels[u] ? 1.0 : 0.0;
    }
    return agree / static_cast<double>(probes * k);
}

// Chi-square statistic of homogeneity between two count vectors.
double ChiSquare(const std::vector<double>& a, const std::vector<double>& b) {
    double chi = 0;
    for (size_t j = 0; j < a.size(); ++j) {
        if (a[j] + b[j] > 0) chi += (a[j] - b[j]) * (a[j] - b[j]) / (a[j] + b[j]);
    }
    return chi;
}

// Interaction counts per item of the users of class c.
std::vector<double> ClassItemCounts(const raid::SyntheticData& s, int64_t n_items, int c) {
    std::vector<double> counts(static_cast<size_t>(n_items), 0.0);
    for (size_t p = 0; p < s.users.size(); ++p) {
        if (s.classes[s.users[p] - 1] == c) counts[s.items[p] - 1] += 1.0;
    }
    return counts;
}

std::vector<int> Labels(const raid::SyntheticData& s) {
    return std::vector<int>(s.classes.begin(), s.classes.end());
}

TEST(SyntheticKinds, IdenticalForAnyThreadCount) {
    for (int32_t kind : {kSignalMean, kSignalCovariance, kSignalNonlinear}) {
        for (int32_t classes : {2, 5, 40}) {
            raid::SyntheticOptions o;
            o.n_users = 500;
            o.n_items = 300;
            o.interactions_per_user = 20;
            o.classes = classes;
            o.signal = 1.5;
            o.signal_kind = kind;
            o.threads = 1;
            const auto a = raid::GenerateSynthetic(o);
            o.threads = 2;
            const auto b = raid::GenerateSynthetic(o);
            EXPECT_EQ(a.users, b.users) << "kind " << kind << " classes " << classes;
            EXPECT_EQ(a.items, b.items) << "kind " << kind << " classes " << classes;
            EXPECT_EQ(a.classes, b.classes) << "kind " << kind << " classes " << classes;
            if (kind != kSignalMean) {
                o.signal_kind = kSignalMean;
                EXPECT_NE(raid::GenerateSynthetic(o).items, a.items) << "kind " << kind;
            }
        }
    }
}

TEST(SyntheticKinds, NoSignalMakesTheKindsAlike) {
    // Without signal the kinds differ only in how item factors are shaped
    // (lengths kept), so the class-item counts agree with the mean kind's
    // within sampling noise (chi-square with 399 degrees of freedom: mean
    // 399, sd 28), and classes are as alike as random halves.
    const auto base = Generate(kSignalMean, 0.0, 11);
    for (int32_t kind : {kSignalCovariance, kSignalNonlinear}) {
        const auto s = Generate(kind, 0.0, 11);
        EXPECT_EQ(s.classes, base.classes);
        EXPECT_EQ(s.users, base.users) << "the same users with the same counts";
        for (int c = 0; c < 2; ++c) {
            const double chi = ChiSquare(ClassItemCounts(s, 400, c), ClassItemCounts(base, 400, c));
            EXPECT_LT(chi, 399 + 4 * 28) << "kind " << kind << " class " << c;
        }
    }
    for (int32_t kind : {kSignalMean, kSignalCovariance, kSignalNonlinear}) {
        const auto s = Generate(kind, 0.0, 12);
        const Eigen::MatrixXd x = Profiles(s, 400);
        EXPECT_LT(MeanProfileGap(x, Labels(s)), 1.3 * RandomGap(x)) << "kind " << kind;
        EXPECT_NEAR(NeighbourAgreement(x, Labels(s)), 0.5, 0.04) << "kind " << kind;
    }
}

TEST(SyntheticKinds, OnlyTheMeanKindMovesClassMeans) {
    // Mean gap of the true classes over that of random labels, three seeds.
    struct Kind {
        int32_t kind;
        double signal;
    };
    for (const Kind k :
         {Kind{kSignalMean, 1.0}, Kind{kSignalCovariance, 2.0}, Kind{kSignalNonlinear, 1.5}}) {
        double mean_ratio = 0;
        for (uint64_t seed = 1; seed <= 3; ++seed) {
            const auto s = Generate(k.kind, k.signal, seed);
            const Eigen::MatrixXd x = Profiles(s, 400);
            const double ratio = MeanProfileGap(x, Labels(s)) / RandomGap(x);
            if (k.kind == kSignalMean) {
                EXPECT_GT(ratio, 5.0) << "seed " << seed;
            } else {
                EXPECT_LT(ratio, 1.35) << "kind " << k.kind << " seed " << seed;
            }
            mean_ratio += ratio / 3;
        }
        if (k.kind != kSignalMean) {
            EXPECT_LT(mean_ratio, 1.2) << "kind " << k.kind;
        }
    }
}

TEST(SyntheticKinds, MoreClassesKeepMeansEqual) {
    // Four classes: every pair of classes, against random labels.
    for (int32_t kind : {kSignalCovariance, kSignalNonlinear}) {
        const auto s = Generate(kind, 1.5, 21, 4);
        const Eigen::MatrixXd x = Profiles(s, 400);
        // A pair of classes has half as many users as a random half: the
        // noise floor of its gap is about sqrt(2) times larger.
        const double floor = std::sqrt(2.0) * RandomGap(x);
        for (int a = 0; a < 4; ++a) {
            for (int b = a + 1; b < 4; ++b)
                EXPECT_LT(MeanProfileGap(x, PairLabels(s, a, b)), 1.35 * floor)
                    << "kind " << kind << " classes " << a << ", " << b;
        }
        // ... while the classes are still told apart by their neighbours
        // (chance: 1/4).
        EXPECT_GT(NeighbourAgreement(x, Labels(s)), 0.35) << "kind " << kind;
    }
}

TEST(SyntheticKinds, CovarianceKindChangesSpread) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        const auto s = Generate(kSignalCovariance, 2.0, seed);
        const Eigen::MatrixXd x = Profiles(s, 400);
        EXPECT_GT(SpreadRatio(x, Labels(s)), 1.5) << "seed " << seed;
        const double random = SpreadRatio(x, RandomLabels(s.classes.size(), seed));
        EXPECT_GT(random, 0.85) << "seed " << seed;
        EXPECT_LT(random, 1.15) << "seed " << seed;
    }
}

TEST(SyntheticKinds, NonlinearKindClustersUsers) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        const auto s = Generate(kSignalNonlinear, 1.5, seed);
        const Eigen::MatrixXd x = Profiles(s, 400);
        EXPECT_GT(NeighbourAgreement(x, Labels(s)), 0.7) << "seed " << seed;
        EXPECT_NEAR(NeighbourAgreement(x, RandomLabels(s.classes.size(), seed)), 0.5, 0.04)
            << "seed " << seed;
    }
}

TEST(SyntheticKinds, CApiOption) {
    raid_synthetic_options o;
    raid_synthetic_options_default(&o);
    EXPECT_EQ(o.signal_kind, RAID_SIGNAL_MEAN);
    raid_error err;
    o.signal_kind = 3;
    EXPECT_EQ(raid_synthetic_options_validate(&o, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"signal_kind\" must be between 0 and 2, got 3");
    o.signal_kind = RAID_SIGNAL_NONLINEAR;
    o.n_users = 300;
    o.n_items = 120;
    o.interactions_per_user = 20;
    ASSERT_EQ(raid_synthetic_options_validate(&o, &err), RAID_OK) << err.message;
    raid_synthetic* s = raid_synthetic_generate(&o, &err);
    ASSERT_NE(s, nullptr) << err.message;
    // The same data as the core with the same options.
    raid::SyntheticOptions c;
    c.n_users = 300;
    c.n_items = 120;
    c.interactions_per_user = 20;
    c.signal_kind = kSignalNonlinear;
    const auto expected = raid::GenerateSynthetic(c);
    ASSERT_EQ(raid_synthetic_n_interactions(s), static_cast<int64_t>(expected.items.size()));
    EXPECT_TRUE(std::equal(expected.items.begin(), expected.items.end(),
                           raid_synthetic_interaction_items(s)));
    raid_synthetic_free(s);
}

}  // namespace

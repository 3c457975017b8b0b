// test_synthetic.cpp: the synthetic generator: determinism, shape, attribute signal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/common.h"
#include "core/data/synthetic.h"
#include "test_util.h"

namespace {

// The message of the exception thrown by o.Validate(), or "".
template <typename E>
std::string ValidationMessage(const raid::SyntheticOptions& o) {
    try {
        o.Validate();
    } catch (const E& e) {
        return e.what();
    }
    return "";
}

// Item frequency distribution (sums to 1) over the users selected by keep(u).
template <typename Keep>
std::vector<double> ItemDistribution(const raid::SyntheticData& s, int64_t n_items, Keep keep) {
    std::vector<double> freq(static_cast<size_t>(n_items), 0.0);
    double total = 0;
    for (size_t p = 0; p < s.users.size(); ++p) {
        if (!keep(s.users[p] - 1)) continue;
        freq[s.items[p] - 1] += 1.0;
        total += 1.0;
    }
    for (double& f : freq) f /= total;
    return freq;
}

// Total variation distance between two distributions.
double TotalVariation(const std::vector<double>& a, const std::vector<double>& b) {
    double d = 0;
    for (size_t k = 0; k < a.size(); ++k) d += std::fabs(a[k] - b[k]);
    return d / 2;
}

// TV between the classes' item distributions and TV between two random halves of class 0.
std::pair<double, double> ClassAndHalfDistances(double signal) {
    raid::SyntheticOptions o;
    o.n_users = 4000;
    o.n_items = 400;
    o.interactions_per_user = 40;
    o.signal = signal;
    const auto s = raid::GenerateSynthetic(o);
    auto cls = [&](int c) { return [&s, c](int64_t u) { return s.classes[u] == c; }; };
    const double between = TotalVariation(ItemDistribution(s, o.n_items, cls(0)),
                                          ItemDistribution(s, o.n_items, cls(1)));
    // Halves of class 0 by a hash of the user (independent of the generator's keys).
    auto half = [&](uint64_t h) {
        return [&s, h](int64_t u) {
            return s.classes[u] == 0 && (raid::Key(999, static_cast<uint64_t>(u)) & 1) == h;
        };
    };
    const double within = TotalVariation(ItemDistribution(s, o.n_items, half(0)),
                                         ItemDistribution(s, o.n_items, half(1)));
    return {between, within};
}

TEST(Synthetic, IdenticalForAnyThreadCount) {
    const auto a = raid_test::SmallSynthetic(700, 300, 25, 5, 1);
    const auto b = raid_test::SmallSynthetic(700, 300, 25, 5, 2);
    EXPECT_EQ(a.users, b.users);
    EXPECT_EQ(a.items, b.items);
    EXPECT_EQ(a.classes, b.classes);
    const auto c = raid_test::SmallSynthetic(700, 300, 25, 6, 2);
    EXPECT_NE(a.items, c.items);
}

TEST(Synthetic, ShapeAndCounts) {
    const int64_t nu = 2000, ni = 500;
    const int32_t per_user = 40;
    const auto s = raid_test::SmallSynthetic(nu, ni, per_user);
    ASSERT_EQ(s.classes.size(), static_cast<size_t>(nu));
    ASSERT_EQ(s.users.size(), s.items.size());
    const double mean = static_cast<double>(s.users.size()) / nu;
    EXPECT_NEAR(mean, per_user, 0.1 * per_user);
    // Sorted by (user, item) with distinct items, ids in range, everyone present.
    std::vector<int64_t> count(static_cast<size_t>(nu), 0);
    for (size_t p = 0; p < s.users.size(); ++p) {
        ASSERT_GE(s.users[p], 1);
        ASSERT_LE(s.users[p], nu);
        ASSERT_GE(s.items[p], 1);
        ASSERT_LE(s.items[p], ni);
        if (p > 0) {
            ASSERT_TRUE(s.users[p - 1] < s.users[p] ||
                        (s.users[p - 1] == s.users[p] && s.items[p - 1] < s.items[p]))
                << "not sorted / duplicate at " << p;
        }
        ++count[s.users[p] - 1];
    }
    const auto [lo, hi] = std::minmax_element(count.begin(), count.end());
    EXPECT_GE(*lo, 5);
    EXPECT_LE(*hi, ni - 1);
    EXPECT_GT(*hi - *lo, 20) << "counts should vary between users";
}

TEST(Synthetic, ClassesAreRoughlyBalanced) {
    raid::SyntheticOptions o;
    o.n_users = 8000;
    o.n_items = 50;
    o.interactions_per_user = 5;
    o.classes = 4;
    const auto s = raid::GenerateSynthetic(o);
    std::vector<int> count(4, 0);
    for (int32_t c : s.classes) {
        ASSERT_GE(c, 0);
        ASSERT_LT(c, 4);
        ++count[c];
    }
    for (int c : count) EXPECT_NEAR(c, 2000, 200);  // ~5 standard deviations
}

TEST(Synthetic, AttributeShapesPreferences) {
    const auto [between, within] = ClassAndHalfDistances(1.0);
    EXPECT_GT(between, 3.0 * within) << "between " << between << " within " << within;
}

TEST(Synthetic, NoSignalMeansNoClassDifference) {
    const auto [between, within] = ClassAndHalfDistances(0.0);
    EXPECT_LT(between, 1.5 * within) << "between " << between << " within " << within;
}

// A hash of every interaction and class (any change of the data changes it).
uint64_t DataHash(const raid::SyntheticData& s) {
    uint64_t h = 0x6d65616eULL;
    for (size_t p = 0; p < s.users.size(); ++p)
        h = raid::Key(h, static_cast<uint64_t>(s.users[p]), static_cast<uint64_t>(s.items[p]));
    for (int32_t c : s.classes) h = raid::Key(h, static_cast<uint64_t>(c));
    return h;
}

TEST(Synthetic, MeanKindIsUnchanged) {
    // Hashes of the generator's output before signal kinds existed: the mean
    // kind (the default) must keep every existing seed's data bit for bit.
    struct Case {
        int64_t users, items;
        int32_t per_user, classes;
        double signal;
        uint64_t seed;
        size_t pairs;
        uint64_t hash;
        int64_t first_items[6];
    };
    const Case cases[] = {
        {700, 300, 25, 2, 1.0, 5, 17449, 0x28b157ba936efc82ULL, {2, 15, 56, 58, 73, 75}},
        {1000, 500, 50, 2, 1.0, 42, 50744, 0x5be3a1c94db17be5ULL, {5, 10, 12, 15, 21, 27}},
        {500, 200, 20, 5, 2.5, 7, 9807, 0xf04592dfbd5c690aULL, {1, 10, 66, 72, 79, 84}},
    };
    for (const Case& c : cases) {
        raid::SyntheticOptions o;
        o.n_users = c.users;
        o.n_items = c.items;
        o.interactions_per_user = c.per_user;
        o.classes = c.classes;
        o.signal = c.signal;
        o.seed = c.seed;
        o.threads = 2;
        EXPECT_EQ(o.signal_kind, raid::kSignalMean);
        const auto s = raid::GenerateSynthetic(o);
        ASSERT_EQ(s.users.size(), c.pairs) << "seed " << c.seed;
        EXPECT_EQ(DataHash(s), c.hash) << "seed " << c.seed;
        for (int k = 0; k < 6; ++k) {
            EXPECT_EQ(s.users[k], 1);
            EXPECT_EQ(s.items[k], c.first_items[k]) << "seed " << c.seed << " pair " << k;
        }
    }
}

TEST(Synthetic, SmallestShapes) {
    // Two items, one interaction each: every user has exactly one item.
    raid::SyntheticOptions o;
    o.n_users = 2;
    o.n_items = 2;
    o.interactions_per_user = 1;
    const auto s = raid::GenerateSynthetic(o);
    EXPECT_EQ(s.users, (std::vector<int64_t>{1, 2}));
}

TEST(SyntheticOptions, ValidateNamesTheBadField) {
    using raid::InvalidArgument;
    raid::SyntheticOptions o;
    EXPECT_NO_THROW(o.Validate());
    o.n_users = 1;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"n_users\" must be between 2 and 10000000, got 1");
    o = raid::SyntheticOptions();
    o.n_items = 20000000;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"n_items\" must be between 2 and 10000000, got 20000000");
    o = raid::SyntheticOptions();
    o.interactions_per_user = 500;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"interactions_per_user\" must be between 1 and 499, got 500");
    o = raid::SyntheticOptions();
    o.classes = 65;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"classes\" must be between 2 and 64, got 65");
    o = raid::SyntheticOptions();
    o.signal = -1;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"signal\" must be between 0 and 100, got -1");
    o = raid::SyntheticOptions();
    o.signal_kind = 5;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"signal_kind\" must be between 0 and 2, got 5");
    o.signal_kind = -1;
    EXPECT_EQ(ValidationMessage<InvalidArgument>(o),
              "option \"signal_kind\" must be between 0 and 2, got -1");
    for (int32_t kind : {raid::kSignalMean, raid::kSignalCovariance, raid::kSignalNonlinear}) {
        o.signal_kind = kind;
        EXPECT_NO_THROW(o.Validate());
    }
    o = raid::SyntheticOptions();
    o.n_users = 10000000;
    o.n_items = 1000;
    o.interactions_per_user = 51;
    EXPECT_EQ(ValidationMessage<raid::LimitExceeded>(o),
              "synthetic data would have 510000000 interactions (n_users * "
              "interactions_per_user); the limit is 500000000");
}

}  // namespace

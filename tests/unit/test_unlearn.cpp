// test_unlearn.cpp: the 'unlearn' baseline (core/posthoc/unlearn.h): the MMD
// and its gradient against finite differences, and the optimisation's
// documented effects.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/common.h"
#include "core/linalg.h"
#include "core/posthoc/unlearn.h"

namespace {

// n users in two classes, class 1 shifted by `shift` in every dimension; a
// few users without a class.
struct Data {
    std::vector<float> users, items;
    std::vector<int32_t> cls;
};

Data Shifted(int64_t n, int32_t dim, double shift, uint64_t seed) {
    Data d;
    raid::Rng rng(seed);
    for (int64_t u = 0; u < n; ++u) {
        d.cls.push_back(u % 20 == 19 ? -1 : static_cast<int32_t>(u % 2));
        for (int32_t k = 0; k < dim; ++k)
            d.users.push_back(static_cast<float>(rng.Normal() + (d.cls.back() == 1 ? shift : 0.0)));
    }
    for (int64_t i = 0; i < 50 * dim; ++i) d.items.push_back(static_cast<float>(rng.Normal()));
    return d;
}

TEST(Unlearn, MmdGradientMatchesFiniteDifferences) {
    raid::Rng rng(3);
    raid::RowMatrixD x(5, 3), y(4, 3);
    for (int i = 0; i < 15; ++i) x(i / 3, i % 3) = rng.Normal();
    for (int i = 0; i < 12; ++i) y(i / 3, i % 3) = rng.Normal() + 0.5;
    raid::RowMatrixD gx, gy;
    raid::Mmd2(x, y, 1.3, &gx, &gy);
    const double h = 1e-6;
    for (int i = 0; i < 5; ++i)
        for (int k = 0; k < 3; ++k) {
            raid::RowMatrixD p = x, m = x;
            p(i, k) += h;
            m(i, k) -= h;
            const double fd = (raid::Mmd2(p, y, 1.3, nullptr, nullptr) - raid::Mmd2(m, y, 1.3, nullptr, nullptr)) / (2 * h);
            EXPECT_NEAR(gx(i, k), fd, 1e-7);
        }
    for (int i = 0; i < 4; ++i)
        for (int k = 0; k < 3; ++k) {
            raid::RowMatrixD p = y, m = y;
            p(i, k) += h;
            m(i, k) -= h;
            const double fd = (raid::Mmd2(x, p, 1.3, nullptr, nullptr) - raid::Mmd2(x, m, 1.3, nullptr, nullptr)) / (2 * h);
            EXPECT_NEAR(gy(i, k), fd, 1e-7);
        }
}

TEST(Unlearn, MmdIsZeroForEqualSetsAndGrowsWithTheShift) {
    raid::Rng rng(5);
    raid::RowMatrixD x(30, 2);
    for (int i = 0; i < 60; ++i) x(i / 2, i % 2) = rng.Normal();
    EXPECT_NEAR(raid::Mmd2(x, x, 1.0, nullptr, nullptr), 0.0, 1e-12);
    raid::RowMatrixD near = x.array() + 0.2, far = x.array() + 1.0;
    const double a = raid::Mmd2(x, near, 1.0, nullptr, nullptr), b = raid::Mmd2(x, far, 1.0, nullptr, nullptr);
    EXPECT_GT(a, 0.0);
    EXPECT_GT(b, a);
}

TEST(Unlearn, ReducesTheClassesMmd) {
    Data d = Shifted(800, 4, 1.0, 7);
    const double s = raid::MedianDistance(d.users.data(), 800, 4, 1);
    const double before = raid::ClassMmd2(d.users.data(), 800, 4, d.cls, 2, s);
    std::vector<float> moved = d.users;
    raid::UnlearnOptions o;
    const auto sum = raid::Unlearn(moved.data(), 800, 4, d.items.data(), 50, d.cls, 2, o);
    const double after = raid::ClassMmd2(moved.data(), 800, 4, d.cls, 2, s);
    EXPECT_LT(after, 0.3 * before) << "before " << before << " after " << after;
    EXPECT_EQ(sum.iterations, o.steps);
    EXPECT_GT(sum.mean_shift, 0.0);
    for (int64_t u = 0; u < 800; ++u)  // users without a class stay
        if (d.cls[u] < 0) {
            for (int32_t k = 0; k < 4; ++k) EXPECT_EQ(moved[u * 4 + k], d.users[u * 4 + k]);
        }
}

TEST(Unlearn, TheWeightKeepsUsersCloserToTheirScores) {
    Data d = Shifted(600, 4, 1.0, 9);
    raid::UnlearnOptions loose, tight;
    loose.weight = 0.01;
    tight.weight = 10.0;
    std::vector<float> a = d.users, b = d.users;
    const auto sa = raid::Unlearn(a.data(), 600, 4, d.items.data(), 50, d.cls, 2, loose);
    const auto sb = raid::Unlearn(b.data(), 600, 4, d.items.data(), 50, d.cls, 2, tight);
    EXPECT_LT(sb.mean_shift, sa.mean_shift);
}

TEST(Unlearn, SeededAndDeterministic) {
    Data d = Shifted(300, 3, 0.5, 11);
    std::vector<float> a = d.users, b = d.users, c = d.users;
    raid::UnlearnOptions o;
    o.steps = 20;
    o.batch = 32;  // fewer than a class's users: the seed decides the draws
    raid::Unlearn(a.data(), 300, 3, d.items.data(), 50, d.cls, 2, o);
    raid::Unlearn(b.data(), 300, 3, d.items.data(), 50, d.cls, 2, o);
    o.seed = 43;
    raid::Unlearn(c.data(), 300, 3, d.items.data(), 50, d.cls, 2, o);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
}

TEST(Unlearn, RejectsBadInput) {
    Data d = Shifted(40, 2, 0.5, 1);
    raid::UnlearnOptions o;
    EXPECT_THROW(raid::Unlearn(d.users.data(), 40, 2, d.items.data(), 50, d.cls, 1, o), raid::InvalidArgument);
    std::vector<int32_t> one(40, 0);
    EXPECT_THROW(raid::Unlearn(d.users.data(), 40, 2, d.items.data(), 50, one, 2, o), raid::InvalidArgument);
    o.lr = 0;
    EXPECT_THROW(raid::Unlearn(d.users.data(), 40, 2, d.items.data(), 50, d.cls, 2, o), raid::InvalidArgument);
}

}  // namespace

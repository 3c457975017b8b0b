// test_ot.cpp: Sinkhorn, barycenter and defense loss against closed forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/common.h"
#include "core/ot/barycenter.h"
#include "core/ot/defense.h"
#include "core/ot/sinkhorn.h"

namespace {

using raid::RowMatrixD;
using raid::VectorD;

// n x d standard normal points from a seed.
RowMatrixD Cloud(int64_t n, int64_t d, uint64_t seed) {
    raid::Rng rng(seed);
    RowMatrixD X(n, d);
    for (int64_t i = 0; i < X.size(); ++i) X.data()[i] = rng.Normal();
    return X;
}

raid::SinkhornOptions Opts(double eps, int iters = 100000, double tol = 1e-9) {
    raid::SinkhornOptions o;
    o.epsilon = eps;
    o.max_iters = iters;
    o.tol = tol;
    return o;
}

TEST(Sinkhorn, MarginalsWithinTolerance) {
    const RowMatrixD X = Cloud(30, 3, 1), Z = Cloud(20, 3, 2);
    const RowMatrixD C = raid::SquaredDistances(X, Z);
    VectorD a = VectorD::LinSpaced(30, 1.0, 2.0);
    a /= a.sum();
    const VectorD b;  // uniform
    raid::SinkhornPotentials pot;
    const auto s = raid::Sinkhorn(C, a, b, Opts(0.1 * raid::MedianCost(C), 10000, 1e-8), &pot);
    ASSERT_TRUE(s.converged);
    const RowMatrixD T = raid::TransportPlan(C, a, b, pot, 0.1 * raid::MedianCost(C));
    EXPECT_LE((T.rowwise().sum() - a).lpNorm<1>(), 1e-7);
    EXPECT_LE((T.colwise().sum().transpose() - VectorD::Constant(20, 1.0 / 20)).lpNorm<1>(), 1e-6);
    EXPECT_NEAR(s.cost, (T.array() * C.array()).sum(), 1e-10);
}

TEST(Sinkhorn, NonConvergenceIsReportedNotThrown) {
    const RowMatrixD X = Cloud(30, 3, 1), Z = Cloud(20, 3, 2);
    raid::SinkhornPotentials pot;
    const auto s = raid::SinkhornPoints(X, Z, VectorD(), VectorD(), Opts(1e-3, 2, 1e-12), &pot);
    EXPECT_FALSE(s.converged);
    EXPECT_EQ(s.iterations, 2);
    EXPECT_GT(s.marginal_error, 1e-12);
}

TEST(Sinkhorn, OneDimensionalW2BySorting) {
    const int n = 60;
    RowMatrixD X = Cloud(n, 1, 3), Y = Cloud(n, 1, 4).array() * 2.0 + 1.0;
    std::vector<double> x(X.data(), X.data() + n), y(Y.data(), Y.data() + n);
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    double exact = 0.0;
    for (int i = 0; i < n; ++i) exact += (x[i] - y[i]) * (x[i] - y[i]) / n;
    const RowMatrixD C = raid::SquaredDistances(X, Y);
    raid::SinkhornPotentials pot;
    const auto s = raid::Sinkhorn(C, VectorD(), VectorD(),
                                  Opts(5e-3 * raid::MedianCost(C), 20000, 1e-5), &pot);
    EXPECT_TRUE(s.converged);
    EXPECT_NEAR(s.cost, exact, 0.03 * exact);
    EXPECT_GE(s.cost, exact * (1 - 1e-9));  // no coupling beats the monotone one
}

TEST(Sinkhorn, SmallProblemMatchesBruteForceAssignment) {
    const int n = 6;
    const RowMatrixD X = Cloud(n, 2, 5), Y = Cloud(n, 2, 6);
    const RowMatrixD C = raid::SquaredDistances(X, Y);
    std::vector<int> p(n);
    std::iota(p.begin(), p.end(), 0);
    double best = 1e300;
    do {
        double c = 0.0;
        for (int i = 0; i < n; ++i) c += C(i, p[i]) / n;
        best = std::min(best, c);
    } while (std::next_permutation(p.begin(), p.end()));
    raid::SinkhornPotentials pot;
    const auto s = raid::Sinkhorn(C, VectorD(), VectorD(),
                                  Opts(5e-3 * raid::MedianCost(C), 20000, 1e-7), &pot);
    EXPECT_NEAR(s.cost, best, 0.02 * best);
}

TEST(Sinkhorn, StableWithCostsFarAboveEpsilon) {
    const RowMatrixD X = Cloud(40, 4, 7) * 30.0, Z = Cloud(25, 4, 8) * 30.0;
    const RowMatrixD C = raid::SquaredDistances(X, Z);
    const double eps = C.maxCoeff() / 1e4;
    raid::SinkhornPotentials pot;
    const auto s = raid::Sinkhorn(C, VectorD(), VectorD(), Opts(eps, 2000, 1e-6), &pot);
    EXPECT_TRUE(std::isfinite(s.cost));
    EXPECT_TRUE(std::isfinite(s.marginal_error));
    EXPECT_TRUE(pot.f.allFinite());
    EXPECT_TRUE(pot.g.allFinite());
    EXPECT_TRUE(raid::TransportPlan(C, VectorD(), VectorD(), pot, eps).allFinite());
}

TEST(Sinkhorn, WarmStartNeedsFewerIterations) {
    const RowMatrixD X = Cloud(80, 5, 9), Z = Cloud(40, 5, 10);
    const RowMatrixD C = raid::SquaredDistances(X, Z);
    const auto o = Opts(0.05 * raid::MedianCost(C), 100000, 1e-6);
    raid::SinkhornPotentials pot;
    const auto cold = raid::Sinkhorn(C, VectorD(), VectorD(), o, &pot);
    // A slightly moved problem, warm-started from the previous potentials.
    const RowMatrixD X2 = X + 1e-3 * Cloud(80, 5, 11);
    const RowMatrixD C2 = raid::SquaredDistances(X2, Z);
    raid::SinkhornPotentials cold_pot;
    const auto cold2 = raid::Sinkhorn(C2, VectorD(), VectorD(), o, &cold_pot);
    const auto warm2 = raid::Sinkhorn(C2, VectorD(), VectorD(), o, &pot);
    ASSERT_TRUE(cold.converged && cold2.converged && warm2.converged);
    EXPECT_LT(warm2.iterations, cold2.iterations / 2);
}

TEST(Sinkhorn, SelfSquaredDistancesMatchTheDoubleOnes) {
    const RowMatrixD X = Cloud(50, 64, 13);
    const RowMatrixD C = raid::SelfSquaredDistances(X), D = raid::SquaredDistances(X, X);
    EXPECT_TRUE(C.isApprox(C.transpose(), 0.0));
    EXPECT_EQ(C.diagonal().cwiseAbs().maxCoeff(), 0.0);
    EXPECT_LT((C - D).cwiseAbs().maxCoeff(), 1e-4 * D.maxCoeff());
}

TEST(Sinkhorn, SymmetricSelfTransportMatchesTheGeneralSolver) {
    const RowMatrixD X = Cloud(60, 4, 12);
    const RowMatrixD C = raid::SquaredDistances(X, X);
    for (double tau : {0.3, 1.0}) {
        const auto o = Opts(tau * raid::MedianCost(C), 100000, 1e-9);
        raid::SinkhornPotentials general, sym;
        ASSERT_TRUE(raid::Sinkhorn(C, VectorD(), VectorD(), o, &general).converged);
        const auto s = raid::SinkhornSymmetric(C, o, &sym);
        ASSERT_TRUE(s.converged);
        // Potentials are unique up to f + k, g - k; the symmetric pair has k
        // fixed by f = g, so compare f + g and the plans' marginals.
        for (int64_t i = 0; i < X.rows(); ++i) {
            EXPECT_NEAR(sym.f[i], sym.g[i], 0.0);
            EXPECT_NEAR(sym.f[i] + sym.g[0], general.f[i] + general.g[0], 1e-6 * o.epsilon);
        }
        const RowMatrixD T = raid::TransportPlan(C, VectorD(), VectorD(), sym, o.epsilon);
        EXPECT_NEAR((T.rowwise().sum().array() - 1.0 / 60).abs().sum(), 0.0, 1e-7);
        EXPECT_NEAR((T.colwise().sum().array() - 1.0 / 60).abs().sum(), 0.0, 1e-7);
    }
    // Converges from a cold start for narrow blurs too (where the undamped
    // update would oscillate).
    for (double tau : {0.01, 0.05, 0.3, 1.0, 10.0}) {
        raid::SinkhornPotentials cold;
        const auto s =
            raid::SinkhornSymmetric(C, Opts(tau * raid::MedianCost(C), 100000, 1e-6), &cold);
        EXPECT_TRUE(s.converged) << "tau " << tau;
    }
}

TEST(Sinkhorn, ValidateNamesTheField) {
    raid::SinkhornOptions o;
    o.max_iters = 0;
    try {
        o.Validate();
        FAIL();
    } catch (const raid::InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("max_iters"), std::string::npos);
    }
    raid::SinkhornOptions t;
    t.tol = 0.0;
    EXPECT_THROW(t.Validate(), raid::InvalidArgument);
}

TEST(Barycenter, TwoTranslatedCopiesMeetHalfway) {
    const RowMatrixD X = Cloud(40, 2, 12);
    RowMatrixD Y = X;
    Y.col(0).array() += 4.0;
    raid::BarycenterOptions o;
    o.m = 40;
    o.tau = 0.01;
    o.max_iters = 20;
    o.tol = 1e-5;
    o.sinkhorn_iters = 20000;
    o.sinkhorn_tol = 1e-5;
    raid::BarycenterState st;
    raid::Barycenter({X, Y}, {}, o, &st);
    RowMatrixD mid = X;
    mid.col(0).array() += 2.0;
    EXPECT_NEAR(st.Z.col(0).mean(), 2.0 + X.col(0).mean(), 1e-3);
    // W2 between the support and the midway translation, small against the shift.
    const double w2 = raid::SinkhornW2(st.Z, mid, 1e-2, 20000, 1e-5, 1);
    EXPECT_LT(w2, 0.3);  // against a shift of 2
}

TEST(Barycenter, IdenticalCloudsGiveTheCloud) {
    const RowMatrixD X = Cloud(30, 3, 13);
    raid::BarycenterOptions o;
    o.m = 30;
    o.tau = 0.01;
    o.max_iters = 20;
    o.tol = 1e-5;
    o.sinkhorn_iters = 20000;
    o.sinkhorn_tol = 1e-5;
    raid::BarycenterState st;
    const auto s = raid::Barycenter({X, X, X}, {}, o, &st);
    EXPECT_GT(s.sinkhorn_calls, 2);
    // Support points drawn twice from the pooled copies stay merged under a
    // sharp coupling, so the support matches the cloud only up to that.
    EXPECT_LT((st.Z.colwise().mean() - X.colwise().mean()).norm(), 0.05);
    EXPECT_LT(raid::SinkhornW2(st.Z, X, 1e-2, 20000, 1e-5, 1), 0.5);
    EXPECT_GT(raid::SinkhornW2(st.Z, X.array() + 1.0, 1e-2, 20000, 1e-5, 1), 1.5);
}

TEST(Defense, GradientMatchesFiniteDifferences) {
    const RowMatrixD X = Cloud(7, 3, 14), Z = Cloud(5, 3, 15);
    const RowMatrixD C = raid::SquaredDistances(X, Z);
    raid::SinkhornPotentials pot;
    raid::Sinkhorn(C, VectorD(), VectorD(), Opts(0.5), &pot);
    const RowMatrixD T = raid::TransportPlan(C, VectorD(), VectorD(), pot, 0.5);
    RowMatrixD grad = RowMatrixD::Zero(7, 3);
    raid::DefenseLoss(X, T, Z, &grad);
    const double h = 1e-6;
    for (int i = 0; i < 7; ++i)
        for (int k = 0; k < 3; ++k) {
            RowMatrixD Xp = X, Xm = X;
            Xp(i, k) += h;
            Xm(i, k) -= h;
            const double fd = (raid::DefenseLoss(Xp, T, Z) - raid::DefenseLoss(Xm, T, Z)) / (2 * h);
            EXPECT_NEAR(grad(i, k), fd, 1e-6);
        }
}

TEST(Defense, EntropicMapIsTheBarycentricProjectionOnTheSample) {
    const RowMatrixD X = Cloud(12, 3, 16), Z = Cloud(9, 3, 17);
    const RowMatrixD C = raid::SquaredDistances(X, Z);
    raid::SinkhornPotentials pot;
    raid::Sinkhorn(C, VectorD(), VectorD(), Opts(0.3, 100000, 1e-12), &pot);
    const RowMatrixD T = raid::TransportPlan(C, VectorD(), VectorD(), pot, 0.3);
    const RowMatrixD proj = 12.0 * T * Z;  // diag(1/a) T Z
    std::vector<float> x(X.size()), out(X.size());
    for (int64_t i = 0; i < X.size(); ++i) x[i] = static_cast<float>(X.data()[i]);
    raid::EntropicMap(x.data(), 3, nullptr, 12, Z, VectorD(), pot.g, 0.3, out.data(), 3, 2);
    for (int64_t i = 0; i < X.size(); ++i) EXPECT_NEAR(out[i], proj.data()[i], 1e-4);
}

}  // namespace

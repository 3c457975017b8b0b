// test_posthoc.cpp: the post-hoc baselines (core/posthoc): the class
// alignments 'center' and 'gaussian' against closed forms, and the DP noise
// against its calibration formulas and sampling error.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/common.h"
#include "core/linalg.h"
#include "core/posthoc/align.h"
#include "core/posthoc/dp.h"

namespace {

using raid::PosthocAlign;
using raid::PosthocAlignMode;

// Sample mean and covariance (divided by n) of the rows of class c.
void Moments(const std::vector<float>& x, int32_t dim, const std::vector<int32_t>& cls, int32_t c,
             Eigen::VectorXd* mean, Eigen::MatrixXd* cov) {
    *mean = Eigen::VectorXd::Zero(dim);
    *cov = Eigen::MatrixXd::Zero(dim, dim);
    double n = 0;
    for (size_t u = 0; u < cls.size(); ++u)
        if (cls[u] == c) {
            n += 1;
            for (int32_t k = 0; k < dim; ++k) (*mean)(k) += x[u * dim + k];
        }
    *mean /= n;
    for (size_t u = 0; u < cls.size(); ++u)
        if (cls[u] == c) {
            Eigen::VectorXd r(dim);
            for (int32_t k = 0; k < dim; ++k) r(k) = x[u * dim + k] - (*mean)(k);
            *cov += r * r.transpose();
        }
    *cov /= n;
}

// Gaussian rows: class c has mean c * shift and covariance L_c L_c^T with a
// random L_c (so the classes' covariances do not commute).
std::vector<float> GaussianClasses(const std::vector<int32_t>& cls, int32_t dim, uint64_t seed) {
    raid::Rng rng(seed);
    std::vector<Eigen::MatrixXd> l(3, Eigen::MatrixXd(dim, dim));
    for (auto& m : l)
        for (int32_t i = 0; i < dim; ++i)
            for (int32_t j = 0; j < dim; ++j) m(i, j) = rng.Normal() + (i == j ? 2.0 : 0.0);
    std::vector<float> x(cls.size() * dim);
    Eigen::VectorXd z(dim);
    for (size_t u = 0; u < cls.size(); ++u) {
        for (int32_t k = 0; k < dim; ++k) z(k) = rng.Normal();
        const int32_t c = cls[u] < 0 ? 0 : cls[u];
        const Eigen::VectorXd y = l[c] * z;
        for (int32_t k = 0; k < dim; ++k) x[u * dim + k] = static_cast<float>(y(k) + 0.7 * c);
    }
    return x;
}

TEST(GaussianBarycenter, CommutingCovariancesMatchTheClosedForm) {
    // diagonal covariances: the barycenter is (sum_c w_c A_c^1/2)^2
    std::vector<Eigen::MatrixXd> covs = {Eigen::Vector3d(1, 4, 0.25).asDiagonal(),
                                         Eigen::Vector3d(9, 16, 1).asDiagonal()};
    int32_t iterations = 0;
    double change = 0;
    const Eigen::MatrixXd s =
        raid::GaussianBarycenterCovariance(covs, {0.25, 0.75}, 100, 1e-14, &iterations, &change);
    const Eigen::Vector3d expected((0.25 * 1 + 0.75 * 3) * (0.25 * 1 + 0.75 * 3),
                                   (0.25 * 2 + 0.75 * 4) * (0.25 * 2 + 0.75 * 4),
                                   (0.25 * 0.5 + 0.75 * 1) * (0.25 * 0.5 + 0.75 * 1));
    EXPECT_LT((s - Eigen::MatrixXd(expected.asDiagonal())).norm(), 1e-10);
    EXPECT_GE(iterations, 1);
}

TEST(GaussianBarycenter, SatisfiesTheFixedPointEquation) {
    // S = sum_c w_c (S^1/2 A_c S^1/2)^1/2 characterises the barycenter
    raid::Rng rng(7);
    std::vector<Eigen::MatrixXd> covs;
    for (int c = 0; c < 3; ++c) {
        Eigen::MatrixXd l(5, 5);
        for (int i = 0; i < 25; ++i) l(i / 5, i % 5) = rng.Normal();
        covs.push_back(l * l.transpose() + Eigen::MatrixXd::Identity(5, 5));
    }
    int32_t iterations = 0;
    double change = 0;
    const Eigen::MatrixXd s =
        raid::GaussianBarycenterCovariance(covs, {0.2, 0.3, 0.5}, 200, 1e-13, &iterations, &change);
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(s);
    const Eigen::MatrixXd root = es.operatorSqrt();
    Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(5, 5);
    const double w[3] = {0.2, 0.3, 0.5};
    for (int c = 0; c < 3; ++c) {
        const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> et(root * covs[c] * root);
        sum += w[c] * et.operatorSqrt();
    }
    EXPECT_LT((sum - s).norm() / s.norm(), 1e-9) << iterations << " iterations";
    EXPECT_LT(iterations, 200);
}

TEST(PosthocAlign, GaussianMapsEachClassOntoTheBarycenterInClosedForm) {
    // two classes in 2-d whose sample covariances are diagonal by
    // construction: (+-a, 0), (0, +-b) about a mean give diag(a^2 / 2, b^2 / 2)
    const std::vector<float> x = {2, 1, 0, 1, 1, 3, 1, -1,        // class 0: mean (1, 1), a 1, b 2
                                  1, 5, -5, 5, -2, 9, -2, 1};     // class 1: mean (-2, 5), a 3, b 4
    const std::vector<int32_t> cls = {0, 0, 0, 0, 1, 1, 1, 1};
    std::vector<float> y = x;
    const auto s = PosthocAlign(y.data(), 2, 8, 2, cls, 2, PosthocAlignMode::kGaussian);
    // barycenter: mean (-0.5, 3); covariance ((sqrt(.5) + sqrt(4.5)) / 2)^2 = 2, ((sqrt 2 + sqrt 8) / 2)^2 = 4.5
    for (int32_t c = 0; c < 2; ++c) {
        Eigen::VectorXd mean;
        Eigen::MatrixXd cov;
        Moments(y, 2, cls, c, &mean, &cov);
        EXPECT_NEAR(mean(0), -0.5, 1e-6);
        EXPECT_NEAR(mean(1), 3.0, 1e-6);
        EXPECT_NEAR(cov(0, 0), 2.0, 1e-6);
        EXPECT_NEAR(cov(1, 1), 4.5, 1e-6);
        EXPECT_NEAR(cov(0, 1), 0.0, 1e-6);
    }
    EXPECT_EQ(s.classes, 2);
    EXPECT_EQ(s.moved_users, 8);
    EXPECT_GT(s.mean_shift, 0.5);
}

TEST(PosthocAlign, GaussianGivesEveryClassTheSameMeanAndCovariance) {
    const int32_t dim = 4;
    std::vector<int32_t> cls;
    for (int u = 0; u < 900; ++u) cls.push_back(u % 10 == 9 ? -1 : u % 3);
    const std::vector<float> x = GaussianClasses(cls, dim, 11);
    std::vector<float> y = x;
    PosthocAlign(y.data(), dim, static_cast<int64_t>(cls.size()), dim, cls, 3, PosthocAlignMode::kGaussian);
    Eigen::VectorXd m0, m;
    Eigen::MatrixXd s0, s;
    Moments(y, dim, cls, 0, &m0, &s0);
    for (int32_t c = 1; c < 3; ++c) {
        Moments(y, dim, cls, c, &m, &s);
        EXPECT_LT((m - m0).norm(), 1e-4);
        EXPECT_LT((s - s0).norm() / s0.norm(), 1e-5);
    }
    for (size_t u = 0; u < cls.size(); ++u)  // users without a class stay
        if (cls[u] < 0) {
            for (int32_t k = 0; k < dim; ++k) EXPECT_EQ(y[u * dim + k], x[u * dim + k]);
        }
}

TEST(PosthocAlign, CenterMovesOnlyTheMeans) {
    const int32_t dim = 3;
    std::vector<int32_t> cls;
    for (int u = 0; u < 300; ++u) cls.push_back(u % 3 == 2 ? 1 : 0);  // 200 and 100 users
    const std::vector<float> x = GaussianClasses(cls, dim, 5);
    std::vector<float> y = x;
    PosthocAlign(y.data(), dim, 300, dim, cls, 2, PosthocAlignMode::kCenter);
    Eigen::VectorXd mx[2], my[2];
    Eigen::MatrixXd sx[2], sy[2];
    for (int32_t c = 0; c < 2; ++c) {
        Moments(x, dim, cls, c, &mx[c], &sx[c]);
        Moments(y, dim, cls, c, &my[c], &sy[c]);
        EXPECT_LT((sy[c] - sx[c]).norm(), 1e-4);  // the spread stays
    }
    const Eigen::VectorXd pooled = (200.0 * mx[0] + 100.0 * mx[1]) / 300.0;
    EXPECT_LT((my[0] - pooled).norm(), 1e-5);
    EXPECT_LT((my[1] - pooled).norm(), 1e-5);
}

TEST(PosthocAlign, ASingularClassKeepsItsResiduals) {
    const int32_t dim = 4;
    std::vector<int32_t> cls;
    for (int u = 0; u < 203; ++u) cls.push_back(u < 200 ? 0 : 1);  // class 1: 3 users <= dim
    const std::vector<float> x = GaussianClasses(cls, dim, 3);
    std::vector<float> y = x;
    PosthocAlign(y.data(), dim, 203, dim, cls, 2, PosthocAlignMode::kGaussian);
    // class 1 only translated: differences between its users unchanged
    for (int32_t k = 0; k < dim; ++k)
        EXPECT_NEAR(y[201 * dim + k] - y[200 * dim + k], x[201 * dim + k] - x[200 * dim + k], 1e-5);
}

TEST(PosthocAlign, RejectsBadInput) {
    std::vector<float> x(8, 1.0f);
    EXPECT_THROW(PosthocAlign(x.data(), 2, 4, 2, {0, 0, 0, 0}, 1, PosthocAlignMode::kCenter),
                 raid::InvalidArgument);
    EXPECT_THROW(PosthocAlign(x.data(), 2, 4, 2, {0, 0, 0, 0}, 2, PosthocAlignMode::kCenter),
                 raid::InvalidArgument);  // class 1 empty
    EXPECT_THROW(PosthocAlign(x.data(), 2, 4, 2, {0, 1, 2, 0}, 2, PosthocAlignMode::kCenter),
                 raid::InvalidArgument);
}

TEST(DpNoise, AnalyticGaussianSigmaMeetsDeltaAndBeatsTheClassicBound) {
    for (double eps : {0.1, 0.5, 1.0, 4.0})
        for (double delta : {1e-3, 1e-5, 1e-8}) {
            const double sigma = raid::AnalyticGaussianSigma(2.0, eps, delta);
            EXPECT_NEAR(raid::AnalyticGaussianDelta(2.0, eps, sigma) / delta, 1.0, 1e-6);
            EXPECT_GT(raid::AnalyticGaussianDelta(2.0, eps, 0.99 * sigma), delta);
            if (eps < 1) {
                EXPECT_LT(sigma, std::sqrt(2 * std::log(1.25 / delta)) * 2.0 / eps);
            }
        }
    // scale invariance: sigma is proportional to the sensitivity
    EXPECT_NEAR(raid::AnalyticGaussianSigma(6.0, 1.0, 1e-5) / raid::AnalyticGaussianSigma(2.0, 1.0, 1e-5),
                3.0, 1e-9);
}

TEST(DpNoise, GaussianNoiseHasTheCalibratedScale) {
    const int64_t n = 20000;
    const int32_t dim = 8;
    std::vector<float> x(n * dim, 0.0f);
    const auto s = raid::DpNoise(x.data(), n, dim, 1.0, 1e-5, 1.0, 3, 2);
    const double sigma = raid::AnalyticGaussianSigma(2.0, 1.0, 1e-5);
    EXPECT_DOUBLE_EQ(s.noise_scale, sigma);
    double sum = 0, sum2 = 0;
    for (float v : x) {
        sum += v;
        sum2 += static_cast<double>(v) * v;
    }
    const double N = static_cast<double>(x.size());
    EXPECT_NEAR(sum / N, 0.0, 4 * sigma / std::sqrt(N));
    EXPECT_NEAR(std::sqrt(sum2 / N) / sigma, 1.0, 0.01);  // sampling error ~0.2%
    EXPECT_EQ(s.clipped_users, 0);
}

TEST(DpNoise, LaplaceNoiseHasTheCalibratedScale) {
    const int64_t n = 20000;
    const int32_t dim = 8;
    std::vector<float> x(n * dim, 0.0f);
    const auto s = raid::DpNoise(x.data(), n, dim, 0.5, 0.0, 1.0, 3, 1);
    EXPECT_DOUBLE_EQ(s.noise_scale, 2.0 * 1.0 / 0.5);  // b = 2C / epsilon
    double abs_sum = 0;
    for (float v : x) abs_sum += std::fabs(v);
    EXPECT_NEAR(abs_sum / static_cast<double>(x.size()) / s.noise_scale, 1.0, 0.01);  // E|X| = b
}

TEST(DpNoise, ClipsToTheMedianNormByDefault) {
    // rows of L2 norm 1 .. 5: the median is 3; epsilon huge, so the noise is small
    // (the Gaussian mechanism's sigma falls only as 1 / sqrt(epsilon): ~1e-4 here)
    const int32_t dim = 2;
    std::vector<float> x = {1, 0, 0, 2, 3, 0, 0, 4, 5, 0};
    const auto s = raid::DpNoise(x.data(), 5, dim, 1e9, 1e-5, 0.0, 1, 1);
    EXPECT_DOUBLE_EQ(s.clip, 3.0);
    EXPECT_EQ(s.clipped_users, 2);
    EXPECT_NEAR(x[6 + 1], 3.0, 1e-3);  // (0, 4) -> (0, 3)
    EXPECT_NEAR(x[8], 3.0, 1e-3);      // (5, 0) -> (3, 0)
    EXPECT_NEAR(x[0], 1.0, 1e-3);      // within C: kept
    // L1 for the Laplace mechanism: (3, 4) has L1 norm 7
    std::vector<float> z = {3, 4};
    raid::DpNoise(z.data(), 1, 2, 1e9, 0.0, 3.5, 1, 1);
    EXPECT_NEAR(z[0], 1.5, 1e-6);
    EXPECT_NEAR(z[1], 2.0, 1e-6);
}

TEST(DpNoise, DoesNotDependOnTheThreadCount) {
    std::vector<float> a(5000 * 4), b;
    raid::Rng rng(9);
    for (float& v : a) v = static_cast<float>(rng.Normal());
    b = a;
    raid::DpNoise(a.data(), 5000, 4, 1.0, 1e-5, 0.0, 42, 1);
    raid::DpNoise(b.data(), 5000, 4, 1.0, 1e-5, 0.0, 42, 2);
    EXPECT_EQ(a, b);
}

TEST(DpNoise, RejectsBadParameters) {
    std::vector<float> x(4, 1.0f);
    EXPECT_THROW(raid::DpNoise(x.data(), 2, 2, 0.0, 1e-5, 1.0, 1, 1), raid::InvalidArgument);
    EXPECT_THROW(raid::DpNoise(x.data(), 2, 2, 1.0, 1.0, 1.0, 1, 1), raid::InvalidArgument);
    EXPECT_THROW(raid::DpNoise(x.data(), 2, 2, 1.0, -1e-5, 1.0, 1, 1), raid::InvalidArgument);
}

}  // namespace

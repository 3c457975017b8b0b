// test_adversary.cpp: the adversary of defense => 'adversarial'
// (core/train/adversary.h): it learns the attribute, its input gradients
// match finite differences, and the reversed step makes it worse.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/common.h"
#include "core/train/adversary.h"

namespace {

// n users in 3 classes, class c shifted by c in dimension 0 and by -c in 1.
void Classes(int64_t n, int32_t dim, std::vector<float>* rows, std::vector<int32_t>* cls) {
    raid::Rng rng(5);
    for (int64_t u = 0; u < n; ++u) {
        cls->push_back(u % 10 == 9 ? -1 : static_cast<int32_t>(u % 3));
        const int32_t c = cls->back() < 0 ? 0 : cls->back();
        for (int32_t k = 0; k < dim; ++k)
            rows->push_back(static_cast<float>(0.5 * rng.Normal() + (k == 0 ? c : k == 1 ? -c : 0)));
    }
}

TEST(Adversary, LearnsTheAttribute) {
    std::vector<float> x;
    std::vector<int32_t> cls;
    Classes(900, 4, &x, &cls);
    raid::AdversaryOptions o;
    o.lr = 0.01;
    raid::Adversary adv(4, 3, o);
    const double before = adv.Accuracy(x.data(), 4, cls);
    const double first = adv.Train(x.data(), 4, cls, 1);
    const double later = adv.Train(x.data(), 4, cls, 30);
    EXPECT_LT(later, first);
    EXPECT_GT(adv.Accuracy(x.data(), 4, cls), 0.9) << "before " << before;
}

TEST(Adversary, InputGradientsMatchFiniteDifferences) {
    std::vector<float> x;
    std::vector<int32_t> cls;
    Classes(60, 3, &x, &cls);
    raid::AdversaryOptions o;
    o.hidden = 8;
    raid::Adversary adv(3, 3, o);
    adv.Train(x.data(), 3, cls, 5);
    std::vector<float> grad(x.size());
    adv.InputGradients(x.data(), 3, cls, grad.data());
    // the mean loss is the mean of the users' own losses: d(mean)/dx_u = grad_u / n_labelled
    double labelled = 0;
    for (int32_t c : cls) labelled += c >= 0;
    std::vector<float> dummy(x.size());
    const double h = 1e-2;
    for (int64_t u : {0, 1, 2, 9, 13}) {
        for (int32_t k = 0; k < 3; ++k) {
            std::vector<float> p = x, m = x;
            p[u * 3 + k] += static_cast<float>(h);
            m[u * 3 + k] -= static_cast<float>(h);
            const double fd = (adv.InputGradients(p.data(), 3, cls, dummy.data()) -
                               adv.InputGradients(m.data(), 3, cls, dummy.data())) * labelled / (2 * h);
            if (cls[u] < 0) {
                EXPECT_EQ(grad[u * 3 + k], 0.0f);
                EXPECT_NEAR(fd, 0.0, 1e-6);
            } else {
                EXPECT_NEAR(grad[u * 3 + k], fd, 1e-3 + 1e-2 * std::fabs(fd));
            }
        }
    }
}

TEST(Adversary, TheReversedGradientRaisesItsLossAndTheGradientLowersIt) {
    std::vector<float> x;
    std::vector<int32_t> cls;
    Classes(600, 4, &x, &cls);
    raid::AdversaryOptions o;
    o.lr = 0.01;
    raid::Adversary adv(4, 3, o);
    adv.Train(x.data(), 4, cls, 20);
    std::vector<float> grad(x.size()), scratch(x.size());
    const double loss = adv.InputGradients(x.data(), 4, cls, grad.data());
    std::vector<float> up = x, down = x;
    for (size_t i = 0; i < x.size(); ++i) {
        up[i] += 0.05f * grad[i];    // the users' step: gradient reversal (ascent)
        down[i] -= 0.05f * grad[i];  // the adversary's own direction (descent)
    }
    EXPECT_GT(adv.InputGradients(up.data(), 4, cls, scratch.data()), loss);
    EXPECT_LT(adv.InputGradients(down.data(), 4, cls, scratch.data()), loss);
}

TEST(Adversary, SeededAndRejectsBadInput) {
    std::vector<float> x;
    std::vector<int32_t> cls;
    Classes(90, 2, &x, &cls);
    raid::AdversaryOptions o;
    raid::Adversary a(2, 3, o), b(2, 3, o);
    EXPECT_EQ(a.Train(x.data(), 2, cls, 3), b.Train(x.data(), 2, cls, 3));
    EXPECT_THROW(raid::Adversary(2, 1, o), raid::InvalidArgument);
    o.lr = 0;
    EXPECT_THROW(raid::Adversary(2, 3, o), raid::InvalidArgument);
    std::vector<int32_t> bad = cls;
    bad[0] = 3;
    EXPECT_THROW(a.Train(x.data(), 2, bad, 1), raid::InvalidArgument);
}

}  // namespace

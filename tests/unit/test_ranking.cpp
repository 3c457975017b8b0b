// test_ranking.cpp: NDCG/HR against hand-computed cases, popularity, top-k.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/common.h"
#include "core/data/dataset.h"
#include "core/eval/ranking.h"
#include "test_util.h"

namespace {

using raid_test::MakeDataset;
constexpr double kTol = 1e-12;

// One evaluated user (id 0, items 10 and 20, one held out) plus single-item
// users that only introduce the other items (ids 30, 40, ...), dim = 1, u = 1.
struct OneUser {
    std::unique_ptr<raid::Dataset> data;
    int32_t heldout = -1;  // index of the held-out item
    int32_t trained = -1;  // index of user 0's training item
    std::vector<float> U, V;
};

// Builds OneUser with n_other extra items.
OneUser MakeOneUser(int n_other, uint64_t seed = 42) {
    std::vector<std::pair<int64_t, int64_t>> pairs = {{0, 10}, {0, 20}};
    for (int k = 0; k < n_other; ++k) pairs.push_back({100 + k, 30 + 10 * k});
    OneUser o;
    o.data = MakeDataset(pairs, true, seed);
    o.heldout = o.data->heldout()[0];
    o.trained = o.data->train_indices()[0];
    o.U.assign(o.data->n_users(), 1.0f);
    o.V.assign(o.data->n_items(), 0.0f);
    return o;
}

// Sets the scores of the "other" items (indices 2..) in order.
void SetOthers(OneUser* o, const std::vector<float>& scores) {
    for (size_t k = 0; k < scores.size(); ++k) o->V[2 + k] = scores[k];
}

TEST(ExpectedTieMetrics, ClosedForms) {
    auto m = raid::ExpectedTieMetrics(0, 0);
    EXPECT_NEAR(m.ndcg, 1.0, kTol);
    EXPECT_NEAR(m.hr, 1.0, kTol);
    m = raid::ExpectedTieMetrics(2, 0);
    EXPECT_NEAR(m.ndcg, 0.5, kTol);
    m = raid::ExpectedTieMetrics(10, 0);
    EXPECT_NEAR(m.ndcg, 0.0, kTol);
    EXPECT_NEAR(m.hr, 0.0, kTol);
    m = raid::ExpectedTieMetrics(9, 0);
    EXPECT_NEAR(m.ndcg, 1.0 / std::log2(11.0), kTol);
    EXPECT_NEAR(m.hr, 1.0, kTol);
    // Ranks 1, 2, 3 with probability 1/3 each.
    m = raid::ExpectedTieMetrics(1, 2);
    EXPECT_NEAR(m.ndcg, (1.0 / std::log2(3.0) + 0.5 + 1.0 / std::log2(5.0)) / 3.0, kTol);
    EXPECT_NEAR(m.hr, 1.0, kTol);
    // Ranks 9, 10, 11: only rank 9 is inside the cutoff.
    m = raid::ExpectedTieMetrics(9, 2);
    EXPECT_NEAR(m.ndcg, (1.0 / std::log2(11.0)) / 3.0, kTol);
    EXPECT_NEAR(m.hr, 1.0 / 3.0, kTol);
}

TEST(EvaluateRanking, KnownRankTwo) {
    OneUser o = MakeOneUser(4);
    o.V[o.heldout] = 3.0f;
    o.V[o.trained] = 100.0f;  // excluded: the user trained on it
    SetOthers(&o, {5.0f, 4.0f, 1.0f, 0.0f});
    // Others are items 2..5 but heldout/trained occupy indices 0 and 1.
    ASSERT_LE(o.heldout, 1);
    const auto m = raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 1, 1);
    EXPECT_EQ(m.users, 1);
    EXPECT_NEAR(m.ndcg_at_10, 0.5, kTol);  // rank 2 -> 1 / log2(4)
    EXPECT_NEAR(m.hr_at_10, 1.0, kTol);
}

TEST(EvaluateRanking, TrainingItemsAreExcluded) {
    // If the trained item (score 100) counted, the rank would be 3.
    OneUser o = MakeOneUser(2);
    o.V[o.heldout] = 3.0f;
    o.V[o.trained] = 100.0f;
    SetOthers(&o, {5.0f, 4.0f});
    const auto m = raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 1, 1);
    EXPECT_NEAR(m.ndcg_at_10, 0.5, kTol);
    EXPECT_GT(std::fabs(m.ndcg_at_10 - 1.0 / std::log2(5.0)), 1e-3);
}

TEST(EvaluateRanking, RankBeyondCutoffScoresZero) {
    OneUser o = MakeOneUser(12);
    o.V[o.heldout] = 0.0f;
    SetOthers(&o, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1, -2});
    const auto m = raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 1, 2);
    EXPECT_NEAR(m.ndcg_at_10, 0.0, kTol);
    EXPECT_NEAR(m.hr_at_10, 0.0, kTol);
}

TEST(EvaluateRanking, TiesUseTheExpectedValue) {
    OneUser o = MakeOneUser(4);
    o.V[o.heldout] = 3.0f;
    o.V[o.trained] = 3.0f;  // tied but excluded
    SetOthers(&o, {5.0f, 3.0f, 3.0f, 0.0f});
    const auto m = raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 1, 1);
    // g = 1 better, t = 2 tied: rank uniform on {1, 2, 3}.
    EXPECT_NEAR(m.ndcg_at_10, (1.0 / std::log2(3.0) + 0.5 + 1.0 / std::log2(5.0)) / 3.0, kTol);
    EXPECT_NEAR(m.hr_at_10, 1.0, kTol);
}

TEST(EvaluateRanking, TiesAcrossTheCutoff) {
    OneUser o = MakeOneUser(12);
    o.V[o.heldout] = 0.0f;
    // 9 better, 2 tied, 1 worse.
    SetOthers(&o, {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, -1});
    const auto m = raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 1, 1);
    EXPECT_NEAR(m.ndcg_at_10, (1.0 / std::log2(11.0)) / 3.0, kTol);
    EXPECT_NEAR(m.hr_at_10, 1.0 / 3.0, kTol);
}

TEST(EvaluateRanking, AveragesOverEvaluatedUsersOnly) {
    // Users 0 and 1 each hold out one of their two items; user 2 has one item.
    auto d = MakeDataset({{0, 1}, {0, 2}, {1, 3}, {1, 4}, {2, 5}}, true, 5);
    const int dim = 2;
    std::vector<float> U = {1, 0, 0, 1, 1, 1};
    std::vector<float> V(static_cast<size_t>(d->n_items()) * dim, 0.0f);
    // User 0 scores by coordinate 0, user 1 by coordinate 1.
    auto set = [&](int32_t item, float a, float b) {
        V[item * dim] = a;
        V[item * dim + 1] = b;
    };
    for (int32_t j = 0; j < 5; ++j) set(j, 0.0f, 0.0f);
    // User 0: held-out best among its candidates (rank 0).
    set(d->heldout()[0], 9.0f, 0.0f);
    // User 1: two candidates (items 0/1 or 2, and 4) better than its held-out.
    set(d->heldout()[1], 0.0f, -5.0f);
    const auto m = raid::EvaluateRanking(*d, U.data(), V.data(), dim, 2);
    EXPECT_EQ(m.users, 2);
    // User 1's candidates: all items except its trained one; all score 0 > -5
    // except itself, so g = 3 (5 items - trained - held out).
    const double user1 = 1.0 / std::log2(5.0);
    EXPECT_NEAR(m.ndcg_at_10, (1.0 + user1) / 2.0, kTol);
    EXPECT_NEAR(m.hr_at_10, 1.0, kTol);
}

TEST(EvaluateRanking, MatchesBruteForceAndIsThreadInvariant) {
    auto syn = raid_test::SmallSynthetic(300, 150, 20, 3);
    auto d = raid_test::MakeDataset(syn, true, 3);
    const int dim = 8;
    std::vector<float> U(static_cast<size_t>(d->n_users()) * dim);
    std::vector<float> V(static_cast<size_t>(d->n_items()) * dim);
    raid::Rng rng(17);
    // Coarse values so that ties really happen.
    for (float& x : U) x = static_cast<float>(static_cast<int>(rng.Below(3)));
    for (float& x : V) x = static_cast<float>(static_cast<int>(rng.Below(3)));
    double ndcg = 0, hr = 0;
    int64_t users = 0;
    for (int32_t u = 0; u < d->n_users(); ++u) {
        const int32_t h = d->heldout()[u];
        if (h < 0) continue;
        std::vector<bool> trained(d->n_items(), false);
        for (int64_t p = 0; p < d->train_row_size(u); ++p) trained[d->train_row(u)[p]] = true;
        auto score = [&](int32_t j) {
            double s = 0;
            for (int k = 0; k < dim; ++k) s += double(U[u * dim + k]) * V[j * dim + k];
            return s;
        };
        int64_t g = 0, t = 0;
        for (int32_t j = 0; j < d->n_items(); ++j) {
            if (trained[j] || j == h) continue;
            g += score(j) > score(h);
            t += score(j) == score(h);
        }
        const auto m = raid::ExpectedTieMetrics(g, t);
        ndcg += m.ndcg;
        hr += m.hr;
        ++users;
    }
    const auto a = raid::EvaluateRanking(*d, U.data(), V.data(), dim, 1);
    const auto b = raid::EvaluateRanking(*d, U.data(), V.data(), dim, 2);
    EXPECT_EQ(a.users, users);
    EXPECT_NEAR(a.ndcg_at_10, ndcg / users, 1e-12);
    EXPECT_NEAR(a.hr_at_10, hr / users, 1e-12);
    EXPECT_EQ(a.ndcg_at_10, b.ndcg_at_10);
    EXPECT_EQ(a.hr_at_10, b.hr_at_10);
}

TEST(EvaluateRanking, RejectsNonFiniteEmbeddings) {
    OneUser o = MakeOneUser(2);
    o.V[2] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_THROW(raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 1, 1), raid::DataError);
    EXPECT_THROW(raid::EvaluateRanking(*o.data, o.U.data(), o.V.data(), 0, 1),
                 raid::InvalidArgument);
}

TEST(EvaluatePopularity, HandMadeDataset) {
    // Training popularity: X = 3 (users 1-3), Q = 2 (users 7-8), Y = 2 (users
    // 4-5), Z = 1 (user 6); user 0 has {Y, Z} and holds one of them out.
    const int64_t X = 1, Y = 2, Z = 3, Q = 4;
    std::vector<std::pair<int64_t, int64_t>> pairs = {{0, Y}, {0, Z}, {1, X}, {2, X}, {3, X},
                                                      {4, Y}, {5, Y}, {6, Z}, {7, Q}, {8, Q}};
    bool saw_y = false, saw_z = false;
    for (uint64_t seed = 0; seed < 40; ++seed) {
        auto d = MakeDataset(pairs, true, seed);
        const auto m = raid::EvaluatePopularity(*d, 1);
        EXPECT_EQ(m.users, 1);
        const int64_t held = d->item_ids()[d->heldout()[0]];
        if (held == Y) {
            // Y has 2 (user 0's copy is held out): X = 3 better, Q = 2 tied.
            saw_y = true;
            EXPECT_NEAR(m.ndcg_at_10, (1.0 / std::log2(3.0) + 0.5) / 2.0, kTol);
            EXPECT_NEAR(m.hr_at_10, 1.0, kTol);
        } else {
            // Z has 1: X = 3 and Q = 2 better (Y trained by user 0 is excluded).
            saw_z = true;
            ASSERT_EQ(held, Z);
            EXPECT_NEAR(m.ndcg_at_10, 0.5, kTol);
            EXPECT_NEAR(m.hr_at_10, 1.0, kTol);
        }
    }
    EXPECT_TRUE(saw_y && saw_z);
}

TEST(TopK, HandComputedOrder) {
    const float user[] = {1.0f, 2.0f};
    // Scores: 1, 4, -1, 3, 2.5
    const float items[] = {1, 0, 0, 2, -1, 0, 1, 1, 0.5f, 1};
    const auto r = raid::TopK(user, items, 5, 2, nullptr, 3);
    EXPECT_EQ(r.index, (std::vector<int64_t>{1, 3, 4}));
    EXPECT_EQ(r.score, (std::vector<float>{4.0f, 3.0f, 2.5f}));
}

TEST(TopK, SkipsExcludedRows) {
    const float user[] = {1.0f, 2.0f};
    const float items[] = {1, 0, 0, 2, -1, 0, 1, 1, 0.5f, 1};
    const uint8_t exclude[] = {0, 1, 0, 0, 1};
    const auto r = raid::TopK(user, items, 5, 2, exclude, 2);
    EXPECT_EQ(r.index, (std::vector<int64_t>{3, 0}));
    EXPECT_EQ(r.score, (std::vector<float>{3.0f, 1.0f}));
}

TEST(TopK, TiesGoToTheLowerIndex) {
    const float user[] = {1.0f};
    const float items[] = {1, 2, 2, 1, 2};
    const auto r = raid::TopK(user, items, 5, 1, nullptr, 4);
    EXPECT_EQ(r.index, (std::vector<int64_t>{1, 2, 4, 0}));
}

TEST(TopK, KLargerThanEligibleReturnsAllEligible) {
    const float user[] = {1.0f};
    const float items[] = {3, 1, 2};
    const uint8_t exclude[] = {0, 0, 1};
    const auto r = raid::TopK(user, items, 3, 1, exclude, 10);
    EXPECT_EQ(r.index, (std::vector<int64_t>{0, 1}));
    EXPECT_TRUE(raid::TopK(user, items, 3, 1, nullptr, 0).index.empty());
}

TEST(TopK, RejectsBadArguments) {
    const float user[] = {1.0f};
    const float items[] = {3, std::numeric_limits<float>::infinity()};
    EXPECT_THROW(raid::TopK(user, items, 2, 1, nullptr, 1), raid::DataError);
    const uint8_t exclude[] = {0, 1};
    EXPECT_EQ(raid::TopK(user, items, 2, 1, exclude, 1).index, (std::vector<int64_t>{0}));
    EXPECT_THROW(raid::TopK(user, items, 2, 1, nullptr, -1), raid::InvalidArgument);
    EXPECT_THROW(raid::TopK(user, items, 2, 0, nullptr, 1), raid::InvalidArgument);
    EXPECT_THROW(raid::TopK(nullptr, items, 2, 1, nullptr, 1), raid::InvalidArgument);
}

// TopKBatch gives, user by user, what TopK gives with the same exclusions,
// at one thread and at four, with many ties (values on a coarse grid) and
// users whose eligible items are fewer than k.
TEST(TopKBatch, MatchesTopKUserByUser) {
    const int64_t nu = 300, ni = 157;
    const int32_t dim = 5, k = 12;
    raid::Rng rng(3);
    std::vector<float> U(nu * dim), V(ni * dim);
    for (float& x : U) x = static_cast<float>(std::floor(rng.Uniform() * 4) - 2);
    for (float& x : V) x = static_cast<float>(std::floor(rng.Uniform() * 4) - 2);
    std::vector<int64_t> off{0};
    std::vector<int32_t> rows;
    for (int64_t u = 0; u < nu; ++u) {
        const int64_t n_seen = u % 50 == 7 ? ni - 5 : static_cast<int64_t>(rng.Uniform() * 20);
        std::vector<uint8_t> taken(ni, 0);
        for (int64_t p = 0; p < n_seen; ++p) {
            int32_t j = static_cast<int32_t>(rng.Uniform() * ni) % ni;
            while (taken[j]) j = (j + 1) % ni;
            taken[j] = 1;
            rows.push_back(j);
        }
        off.push_back(static_cast<int64_t>(rows.size()));
    }
    for (int32_t threads : {1, 4}) {
        std::vector<int64_t> idx(nu * k, -1);
        std::vector<float> sc(nu * k);
        std::vector<int32_t> cnt(nu, -1);
        raid::TopKBatch(U.data(), nu, V.data(), ni, dim, off.data(), rows.data(), k, threads,
                        idx.data(), sc.data(), cnt.data());
        for (int64_t u = 0; u < nu; ++u) {
            std::vector<uint8_t> ex(ni, 0);
            for (int64_t p = off[u]; p < off[u + 1]; ++p) ex[rows[p]] = 1;
            const auto r = raid::TopK(&U[u * dim], V.data(), ni, dim, ex.data(), k);
            ASSERT_EQ(cnt[u], static_cast<int32_t>(r.index.size())) << "user " << u;
            for (int32_t j = 0; j < cnt[u]; ++j) {
                EXPECT_EQ(idx[u * k + j], r.index[j]) << "user " << u << " rank " << j;
                EXPECT_EQ(sc[u * k + j], r.score[j]);
            }
        }
        EXPECT_EQ(cnt[7], 5);  // 5 eligible items, k 12
    }
}

TEST(TopKBatch, HandComputedWithoutExclusions) {
    const float users[] = {1.0f, 2.0f, -1.0f, 0.0f};
    const float items[] = {1, 0, 0, 2, -1, 0, 1, 1, 0.5f, 1};  // user 0: 1, 4, -1, 3, 2.5
    int64_t idx[6];
    float sc[6];
    int32_t cnt[2];
    raid::TopKBatch(users, 2, items, 5, 2, nullptr, nullptr, 3, 1, idx, sc, cnt);
    EXPECT_EQ(cnt[0], 3);
    EXPECT_EQ(std::vector<int64_t>(idx, idx + 3), (std::vector<int64_t>{1, 3, 4}));
    EXPECT_EQ(std::vector<float>(sc, sc + 3), (std::vector<float>{4.0f, 3.0f, 2.5f}));
    // user 1 scores -1, 0, 1, -1, -0.5: items 2, 1, then 4
    EXPECT_EQ(std::vector<int64_t>(idx + 3, idx + 6), (std::vector<int64_t>{2, 1, 4}));
}

TEST(TopKBatch, RejectsBadArguments) {
    const float users[] = {1.0f};
    const float items[] = {3, std::numeric_limits<float>::infinity()};
    int64_t idx[1];
    float sc[1];
    int32_t cnt[1];
    EXPECT_THROW(raid::TopKBatch(users, 1, items, 2, 1, nullptr, nullptr, 1, 1, idx, sc, cnt),
                 raid::DataError);
    const int64_t off[] = {0, 1};
    const int32_t bad[] = {2};
    EXPECT_THROW(raid::TopKBatch(users, 1, items, 1, 1, off, bad, 1, 1, idx, sc, cnt),
                 raid::InvalidArgument);
    EXPECT_THROW(raid::TopKBatch(users, 1, items, 1, 1, nullptr, nullptr, -1, 1, idx, sc, cnt),
                 raid::InvalidArgument);
    EXPECT_THROW(raid::TopKBatch(users, 1, items, 1, 0, nullptr, nullptr, 1, 1, idx, sc, cnt),
                 raid::InvalidArgument);
}

}  // namespace

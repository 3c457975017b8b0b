// test_fold_in.cpp: users solved against fixed items.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/common.h"
#include "core/eval/ranking.h"
#include "core/train/fold_in.h"
#include "core/train/mf.h"
#include "test_util.h"

namespace {

const raid::Dataset& Planted() {
    static const auto data =
        raid_test::MakeDataset(raid_test::SmallSynthetic(600, 300, 30, 11), true, 11);
    return *data;
}

// Every user's training rows as the CSR fold-in takes, keyed by row index.
struct Rows {
    std::vector<int64_t> offsets{0};
    std::vector<int32_t> rows;
    std::vector<uint64_t> keys;
};
Rows TrainRows(const raid::Dataset& d) {
    Rows r;
    for (int32_t u = 0; u < static_cast<int32_t>(d.n_users()); ++u) {
        r.rows.insert(r.rows.end(), d.train_row(u), d.train_row(u) + d.train_row_size(u));
        r.offsets.push_back(static_cast<int64_t>(r.rows.size()));
        r.keys.push_back(static_cast<uint64_t>(u));
    }
    return r;
}

// One item along +x, one along -x, one along y: a user who has the first
// ends up scoring it above the others, and above zero.
TEST(FoldIn, HandCaseFavoursTheUsersItem) {
    const float items[] = {1, 0, -1, 0, 0, 1};
    const int64_t off[] = {0, 1};
    const int32_t rows[] = {0};
    const uint64_t keys[] = {7};
    raid::MfOptions o;
    o.dim = 2;
    o.epochs = 50;
    o.negatives = 2;
    o.threads = 1;
    float u[2];
    raid::FoldIn(items, 3, off, rows, keys, 1, o, u);
    EXPECT_GT(u[0], 0.5f);          // score of item 0: u . (1, 0)
    EXPECT_GT(u[0], -u[0]);         // above item 1
    EXPECT_GT(u[0], u[1]);          // above item 2
}

// Folding every user of a trained model back in from scratch, against its
// items, recovers at least 0.9 of its NDCG@10 on the held-out items.
TEST(FoldIn, RecoversTheTrainedUsersQuality) {
    const raid::Dataset& d = Planted();
    raid::MfOptions o;
    o.dim = 16;
    o.epochs = 20;
    o.threads = 2;
    raid::MfTrainer tr(d, o);
    tr.Run();
    const auto trained = raid::EvaluateRanking(d, tr.user_embeddings().data(),
                                               tr.item_embeddings().data(), o.dim, 2);
    const Rows r = TrainRows(d);
    std::vector<float> U(static_cast<size_t>(d.n_users() * o.dim));
    raid::FoldIn(tr.item_embeddings().data(), d.n_items(), r.offsets.data(), r.rows.data(),
                 r.keys.data(), d.n_users(), o, U.data());
    const auto folded = raid::EvaluateRanking(d, U.data(), tr.item_embeddings().data(), o.dim, 2);
    const auto pop = raid::EvaluatePopularity(d, 1);
    EXPECT_GT(trained.ndcg_at_10, 1.5 * pop.ndcg_at_10);
    EXPECT_GE(folded.ndcg_at_10, 0.9 * trained.ndcg_at_10)
        << "folded " << folded.ndcg_at_10 << " trained " << trained.ndcg_at_10;
}

// A user's embedding depends on its key and items only: not on the thread
// count, nor on the other users folded in with it.
TEST(FoldIn, DeterministicPerUser) {
    const raid::Dataset& d = Planted();
    raid::MfOptions o;
    o.dim = 8;
    o.epochs = 3;
    const Rows r = TrainRows(d);
    std::vector<float> items(static_cast<size_t>(d.n_items() * o.dim));
    raid::Rng rng(4);
    for (float& x : items) x = static_cast<float>(0.3 * rng.Normal());
    const int64_t n = d.n_users();
    std::vector<float> one(static_cast<size_t>(n * o.dim)), four(one.size());
    o.threads = 1;
    raid::FoldIn(items.data(), d.n_items(), r.offsets.data(), r.rows.data(), r.keys.data(), n, o,
                 one.data());
    o.threads = 4;
    raid::FoldIn(items.data(), d.n_items(), r.offsets.data(), r.rows.data(), r.keys.data(), n, o,
                 four.data());
    EXPECT_EQ(one, four);
    // user 5 alone
    const int64_t off[] = {0, r.offsets[6] - r.offsets[5]};
    std::vector<float> alone(static_cast<size_t>(o.dim));
    raid::FoldIn(items.data(), d.n_items(), off, r.rows.data() + r.offsets[5], &r.keys[5], 1, o,
                 alone.data());
    EXPECT_EQ(alone, std::vector<float>(one.begin() + 5 * o.dim, one.begin() + 6 * o.dim));
}

TEST(FoldIn, RejectsBadArguments) {
    const float items[] = {1, 0, 0, 1};
    const uint64_t keys[] = {1};
    raid::MfOptions o;
    o.dim = 2;
    float u[2];
    const int64_t empty[] = {0, 0};
    const int32_t rows[] = {1, 0};
    raid_test::ExpectInvalid([&] { raid::FoldIn(items, 2, empty, rows, keys, 1, o, u); }, "has no items");
    const int64_t two[] = {0, 2};
    raid_test::ExpectInvalid([&] { raid::FoldIn(items, 2, two, rows, keys, 1, o, u); }, "ascend");
    const int32_t far[] = {2};
    const int64_t one[] = {0, 1};
    raid_test::ExpectInvalid([&] { raid::FoldIn(items, 2, one, far, keys, 1, o, u); }, "not an item row");
    const float bad[] = {1, 0, 0, std::numeric_limits<float>::quiet_NaN()};
    EXPECT_THROW(raid::FoldIn(bad, 2, one, rows + 1, keys, 1, o, u), raid::DataError);
}

}  // namespace

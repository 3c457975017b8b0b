// test_dataset.cpp: id remapping, duplicates, CSR and the leave-one-out split.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "core/common.h"
#include "core/data/dataset.h"
#include "test_util.h"

namespace {

using raid_test::MakeDataset;
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Items (as ids) of dense user u in the training CSR.
std::vector<int64_t> TrainItemIds(const raid::Dataset& d, int32_t u) {
    std::vector<int64_t> out;
    for (int64_t p = d.train_indptr()[u]; p < d.train_indptr()[u + 1]; ++p)
        out.push_back(d.item_ids()[d.train_indices()[p]]);
    return out;
}

TEST(Dataset, RemapsArbitraryIdsInAscendingOrder) {
    auto d = MakeDataset({{kMax, 7}, {-5, kMin}, {1000000000000LL, kMax}, {-5, 7}, {0, -1}},
                         /*holdout=*/false);
    EXPECT_EQ(d->user_ids(), (std::vector<int64_t>{-5, 0, 1000000000000LL, kMax}));
    EXPECT_EQ(d->item_ids(), (std::vector<int64_t>{kMin, -1, 7, kMax}));
    EXPECT_EQ(TrainItemIds(*d, 0), (std::vector<int64_t>{kMin, 7}));
    EXPECT_EQ(TrainItemIds(*d, 1), (std::vector<int64_t>{-1}));
    EXPECT_EQ(TrainItemIds(*d, 2), (std::vector<int64_t>{kMax}));
    EXPECT_EQ(TrainItemIds(*d, 3), (std::vector<int64_t>{7}));
}

TEST(Dataset, DenseAndSparseIdsGiveTheSameStructure) {
    // Ids 1..n use the lookup-table path, ids spread by 1e12 the binary search.
    std::vector<std::pair<int64_t, int64_t>> dense, sparse;
    for (int64_t u = 1; u <= 50; ++u) {
        for (int64_t k = 0; k < 5; ++k) {
            const int64_t item = (u * 7 + k * 13) % 40 + 1;
            dense.push_back({u, item});
            sparse.push_back({u * 1000000000000LL, item * 1000000000000LL - 3});
        }
    }
    auto a = MakeDataset(dense, true, 9);
    auto b = MakeDataset(sparse, true, 9);
    EXPECT_EQ(a->train_indptr(), b->train_indptr());
    EXPECT_EQ(a->train_indices(), b->train_indices());
    EXPECT_EQ(a->heldout(), b->heldout());
}

TEST(Dataset, CollapsesDuplicates) {
    auto d = MakeDataset({{1, 10}, {1, 10}, {1, 20}, {2, 10}, {1, 10}, {2, 10}}, false);
    EXPECT_EQ(d->n_pairs(), 6);
    EXPECT_EQ(d->n_interactions(), 3);
    EXPECT_EQ(d->n_train(), 3);
    EXPECT_EQ(d->n_users(), 2);
    EXPECT_EQ(d->n_items(), 2);
}

TEST(Dataset, BuildsSortedCsr) {
    auto d = MakeDataset({{3, 30}, {1, 20}, {3, 10}, {1, 10}, {2, 30}, {3, 20}, {1, 30}}, false);
    EXPECT_EQ(d->train_indptr(), (std::vector<int64_t>{0, 3, 4, 7}));
    EXPECT_EQ(d->train_indices(), (std::vector<int32_t>{0, 1, 2, 2, 0, 1, 2}));
    EXPECT_EQ(d->heldout(), (std::vector<int32_t>{-1, -1, -1}));
    EXPECT_EQ(d->n_heldout(), 0);
    EXPECT_EQ(d->ItemTrainCounts(), (std::vector<int64_t>{2, 2, 3}));
}

TEST(Dataset, HoldsOutExactlyOneItemForUsersWithTwoOrMore) {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    // User u has u distinct items (user 1 has one, so nothing is held out).
    for (int64_t u = 1; u <= 30; ++u)
        for (int64_t k = 0; k < u; ++k) pairs.push_back({u, 100 + (u + k) % 35});
    pairs.push_back({5, 100 + (5 + 0) % 35});  // a duplicate must not matter
    auto d = MakeDataset(pairs, true, 123);
    EXPECT_EQ(d->n_heldout(), 29);
    EXPECT_EQ(d->n_train(), d->n_interactions() - 29);
    for (int32_t u = 0; u < d->n_users(); ++u) {
        const int64_t id = d->user_ids()[u];
        std::set<int64_t> expected;
        for (int64_t k = 0; k < id; ++k) expected.insert(100 + (id + k) % 35);
        std::vector<int64_t> train = TrainItemIds(*d, u);
        EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
        std::set<int64_t> got(train.begin(), train.end());
        const int32_t h = d->heldout()[u];
        if (id == 1) {
            EXPECT_EQ(h, -1);
            EXPECT_EQ(got, expected);
        } else {
            ASSERT_GE(h, 0);
            const int64_t hid = d->item_ids()[h];
            EXPECT_EQ(got.count(hid), 0u) << "held-out item still in the training row";
            EXPECT_EQ(expected.count(hid), 1u);
            got.insert(hid);
            EXPECT_EQ(got, expected);
            EXPECT_EQ(train.size() + 1, expected.size());
        }
    }
}

TEST(Dataset, HoldoutIsDeterministicBySeedAndDiffersAcrossSeeds) {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int64_t u = 0; u < 200; ++u)
        for (int64_t k = 0; k < 10; ++k) pairs.push_back({u, k});
    auto a = MakeDataset(pairs, true, 1);
    auto b = MakeDataset(pairs, true, 1);
    auto c = MakeDataset(pairs, true, 2);
    EXPECT_EQ(a->heldout(), b->heldout());
    EXPECT_EQ(a->train_indices(), b->train_indices());
    EXPECT_NE(a->heldout(), c->heldout());
}

TEST(Dataset, HoldoutIsUniformOverTheRow) {
    // 8000 users with the same 4 items: each position should be picked ~2000 times.
    std::vector<std::pair<int64_t, int64_t>> pairs;
    for (int64_t u = 0; u < 8000; ++u)
        for (int64_t k = 0; k < 4; ++k) pairs.push_back({u, k});
    auto d = MakeDataset(pairs, true, 77);
    std::vector<int> counts(4, 0);
    for (int32_t h : d->heldout()) ++counts[h];
    for (int c : counts) {
        EXPECT_GT(c, 1800);  // ~4.9 standard deviations
        EXPECT_LT(c, 2200);
    }
}

TEST(Dataset, HoldoutZeroKeepsEverything) {
    auto d = MakeDataset({{1, 1}, {1, 2}, {1, 3}, {2, 1}, {2, 2}}, false);
    EXPECT_EQ(d->n_heldout(), 0);
    EXPECT_EQ(d->n_train(), 5);
    for (int32_t h : d->heldout()) EXPECT_EQ(h, -1);
}

TEST(Dataset, EmptyInputIsADataError) {
    raid::Dataset d;
    d.Append(nullptr, nullptr, 0);
    try {
        d.Finalize(true, 42);
        FAIL() << "expected DataError";
    } catch (const raid::DataError& e) {
        EXPECT_STREQ(e.what(), "no interactions");
    }
}

TEST(Dataset, MisuseIsAnInvalidArgument) {
    raid::Dataset d;
    EXPECT_THROW(d.Append(nullptr, nullptr, 3), raid::InvalidArgument);
    const int64_t u[] = {1}, i[] = {2};
    d.Append(u, i, 1);
    d.Finalize(true, 1);
    EXPECT_THROW(d.Finalize(true, 1), raid::InvalidArgument);
    EXPECT_THROW(d.Append(u, i, 1), raid::InvalidArgument);
}

}  // namespace

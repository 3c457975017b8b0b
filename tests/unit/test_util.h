// test_util.h: small helpers shared by the unit tests.
#ifndef RAID_TESTS_UNIT_TEST_UTIL_H
#define RAID_TESTS_UNIT_TEST_UTIL_H

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/common.h"
#include "core/data/dataset.h"
#include "core/data/synthetic.h"

namespace raid_test {

// A finalized dataset built from (user id, item id) pairs.
inline std::unique_ptr<raid::Dataset> MakeDataset(
    const std::vector<std::pair<int64_t, int64_t>>& pairs, bool holdout, uint64_t seed = 42) {
    std::vector<int64_t> users, items;
    for (const auto& p : pairs) {
        users.push_back(p.first);
        items.push_back(p.second);
    }
    auto ds = std::make_unique<raid::Dataset>();
    ds->Append(users.data(), items.data(), users.size());
    ds->Finalize(holdout, seed);
    return ds;
}

// A finalized dataset built from synthetic data.
inline std::unique_ptr<raid::Dataset> MakeDataset(const raid::SyntheticData& s, bool holdout,
                                                  uint64_t seed = 42) {
    auto ds = std::make_unique<raid::Dataset>();
    ds->Append(s.users.data(), s.items.data(), s.users.size());
    ds->Finalize(holdout, seed);
    return ds;
}

// Synthetic data of the given shape with default signal and seed.
inline raid::SyntheticData SmallSynthetic(int64_t users, int64_t items, int32_t per_user,
                                          uint64_t seed = 42, int32_t threads = 0) {
    raid::SyntheticOptions o;
    o.n_users = users;
    o.n_items = items;
    o.interactions_per_user = per_user;
    o.seed = seed;
    o.threads = threads;
    return raid::GenerateSynthetic(o);
}

// Expects f() to throw InvalidArgument with a message that contains needle.
template <typename F>
void ExpectInvalid(F&& f, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "no exception, expected one mentioning " << needle;
    } catch (const raid::InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace raid_test

#endif  // RAID_TESTS_UNIT_TEST_UTIL_H

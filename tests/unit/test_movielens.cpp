// test_movielens.cpp: the default MF options on MovieLens 100K beat popularity.
//
// MovieLens may not be redistributed, so the data is never in the repository:
// set RAID_DATA_DIR to the ml-100k directory (the one holding u.data).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/eval/ranking.h"
#include "core/train/mf.h"

namespace {

TEST(MovieLens, DefaultsBeatPopularityTwice) {
    const char* dir = std::getenv("RAID_DATA_DIR");
    const std::string path = std::string(dir != nullptr ? dir : "") + "/u.data";
    std::ifstream in(path);
    if (dir == nullptr || !in) GTEST_SKIP() << "MovieLens 100K not found: set RAID_DATA_DIR";

    // u.data: user \t item \t rating \t timestamp; every rating is an interaction.
    std::vector<int64_t> users, items;
    int64_t user, item, rating, ts;
    while (in >> user >> item >> rating >> ts) {
        users.push_back(user);
        items.push_back(item);
    }
    ASSERT_EQ(users.size(), 100000u);

    const raid::MfOptions options;  // defaults: seed 42, all threads
    raid::Dataset data;
    data.Append(users.data(), items.data(), users.size());
    data.Finalize(true, options.seed);
    ASSERT_EQ(data.n_users(), 943);
    ASSERT_EQ(data.n_items(), 1682);

    raid::MfTrainer trainer(data, options);
    trainer.Run();
    const auto model = raid::EvaluateRanking(data, trainer.user_embeddings().data(),
                                             trainer.item_embeddings().data(), options.dim, 0);
    const auto pop = raid::EvaluatePopularity(data, 0);
    const auto& s = trainer.summary();
    std::printf(
        "[ MovieLens ] NDCG@10 %.4f HR@10 %.4f | popularity NDCG@10 %.4f HR@10 %.4f | "
        "%d epochs, %.3f s/epoch, final loss %.4f\n",
        model.ndcg_at_10, model.hr_at_10, pop.ndcg_at_10, pop.hr_at_10, s.epochs_completed,
        s.total_seconds / s.epochs_completed, s.epoch_loss.back());
    RecordProperty("ndcg_at_10", std::to_string(model.ndcg_at_10));
    RecordProperty("popularity_ndcg_at_10", std::to_string(pop.ndcg_at_10));
    EXPECT_EQ(model.users, 943);
    EXPECT_GE(model.ndcg_at_10, 2.0 * pop.ndcg_at_10);
    EXPECT_GE(model.ndcg_at_10, 0.15);
    EXPECT_GT(model.hr_at_10, pop.hr_at_10);
}

}  // namespace

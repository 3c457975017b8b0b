// test_mf.cpp: the MF trainer: determinism, learning, options, progress, cancel.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/common.h"
#include "core/data/dataset.h"
#include "core/data/synthetic.h"
#include "core/eval/ranking.h"
#include "core/train/mf.h"
#include "test_util.h"

namespace {

// A small planted problem shared by the tests (600 users, 300 items).
const raid::Dataset& Planted() {
    static const auto data =
        raid_test::MakeDataset(raid_test::SmallSynthetic(600, 300, 30, 11), true, 11);
    return *data;
}

// Options for fast tests: small dim, few epochs.
raid::MfOptions Fast(uint64_t seed = 42, int threads = 1) {
    raid::MfOptions o;
    o.dim = 16;
    o.epochs = 3;
    o.seed = seed;
    o.threads = threads;
    o.chunk = 1000;
    return o;
}

// Trains to the end and returns the trainer's embeddings (U then V).
std::vector<float> Train(const raid::MfOptions& o) {
    raid::MfTrainer tr(Planted(), o);
    tr.Run();
    std::vector<float> out(tr.user_embeddings().begin(), tr.user_embeddings().end());
    out.insert(out.end(), tr.item_embeddings().begin(), tr.item_embeddings().end());
    return out;
}

// The message of the InvalidArgument thrown by o.Validate(), or "".
std::string ValidationMessage(const raid::MfOptions& o) {
    try {
        o.Validate();
    } catch (const raid::InvalidArgument& e) {
        return e.what();
    }
    return "";
}

TEST(MfTrainer, OneThreadSameSeedIsBitIdentical) {
    const auto a = Train(Fast(7));
    const auto b = Train(Fast(7));
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(MfTrainer, ThreadCountDoesNotChangeResults) {
    // Block scheduling: each block runs on one thread, so the embeddings and
    // the losses are bit-identical for any thread count.
    raid::MfTrainer one(Planted(), Fast(7, 1));
    raid::MfTrainer two(Planted(), Fast(7, 2));
    raid::MfTrainer three(Planted(), Fast(7, 3));
    one.Run();
    two.Run();
    three.Run();
    for (const raid::MfTrainer* other : {&two, &three}) {
        ASSERT_EQ(one.user_embeddings().size(), other->user_embeddings().size());
        EXPECT_EQ(0, std::memcmp(one.user_embeddings().data(), other->user_embeddings().data(),
                                 one.user_embeddings().size() * sizeof(float)));
        EXPECT_EQ(0, std::memcmp(one.item_embeddings().data(), other->item_embeddings().data(),
                                 one.item_embeddings().size() * sizeof(float)));
        EXPECT_EQ(one.summary().epoch_loss, other->summary().epoch_loss);
        EXPECT_EQ(one.summary().epoch_samples, other->summary().epoch_samples);
    }
}

TEST(MfTrainer, ChunkSizeDoesNotChangeResults) {
    // Two threads and a chunk that cuts the sub-steps at odd places.
    raid::MfOptions small = Fast(7, 2);
    small.chunk = 37;
    raid::MfOptions large = Fast(7, 1);
    large.chunk = std::numeric_limits<int64_t>::max();
    const auto a = Train(small);
    const auto b = Train(large);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(MfTrainer, ChunkSizeDoesNotChangeOneThreadResults) {
    raid::MfOptions small = Fast(7);
    small.chunk = 37;
    raid::MfOptions large = Fast(7);
    large.chunk = std::numeric_limits<int64_t>::max();
    const auto a = Train(small);
    const auto b = Train(large);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(MfTrainer, DifferentSeedsDiffer) {
    const auto a = Train(Fast(7));
    const auto b = Train(Fast(8));
    EXPECT_NE(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(MfTrainer, LossDecreases) {
    raid::MfOptions o = Fast();
    o.epochs = 8;
    raid::MfTrainer tr(Planted(), o);
    tr.Run();
    const auto& loss = tr.summary().epoch_loss;
    ASSERT_EQ(loss.size(), 8u);
    for (double l : loss) EXPECT_TRUE(std::isfinite(l));
    EXPECT_LT(loss.back(), 0.8 * loss.front());
    for (size_t e = 1; e < loss.size(); ++e) EXPECT_LT(loss[e], loss[e - 1] + 1e-3);
}

TEST(MfTrainer, BeatsPopularityOnAPlantedProblem) {
    // The synthetic generator's defaults: 1000 users, 500 items, ~50 each.
    const auto data = raid_test::MakeDataset(raid::GenerateSynthetic({}), true);
    raid::MfOptions o;  // the defaults, with fewer epochs
    o.epochs = 15;
    o.threads = 2;
    raid::MfTrainer tr(*data, o);
    tr.Run();
    const auto model = raid::EvaluateRanking(*data, tr.user_embeddings().data(),
                                             tr.item_embeddings().data(), o.dim, 2);
    const auto pop = raid::EvaluatePopularity(*data, 2);
    EXPECT_EQ(model.users, pop.users);
    EXPECT_GT(model.ndcg_at_10, 2.0 * pop.ndcg_at_10)
        << "model " << model.ndcg_at_10 << " popularity " << pop.ndcg_at_10;
    EXPECT_GT(model.hr_at_10, 1.5 * pop.hr_at_10);
}

TEST(MfTrainer, RandomEmbeddingsDoNotBeatPopularity) {
    // The counterpart of the test above: untrained embeddings are no better.
    raid::MfTrainer tr(Planted(), Fast());
    const auto model = raid::EvaluateRanking(Planted(), tr.user_embeddings().data(),
                                             tr.item_embeddings().data(), 16, 1);
    const auto pop = raid::EvaluatePopularity(Planted(), 1);
    EXPECT_LT(model.ndcg_at_10, pop.ndcg_at_10);
}

TEST(MfOptions, DefaultsAreValid) {
    const raid::MfOptions o;
    EXPECT_NO_THROW(o.Validate());
    EXPECT_EQ(o.dim, 64);
    EXPECT_EQ(o.epochs, 30);
    EXPECT_EQ(o.negatives, 4);
    EXPECT_EQ(o.seed, 42u);
    EXPECT_EQ(o.threads, 0);
    EXPECT_EQ(o.chunk, 65536);
}

TEST(MfOptions, ValidateNamesTheBadField) {
    raid::MfOptions o;
    o.dim = 0;
    EXPECT_EQ(ValidationMessage(o), "option \"dim\" must be between 1 and 1024, got 0");
    o = raid::MfOptions();
    o.dim = 1025;
    EXPECT_EQ(ValidationMessage(o), "option \"dim\" must be between 1 and 1024, got 1025");
    o = raid::MfOptions();
    o.epochs = 0;
    EXPECT_EQ(ValidationMessage(o), "option \"epochs\" must be between 1 and 10000, got 0");
    o = raid::MfOptions();
    o.lr = 0.0;
    EXPECT_EQ(ValidationMessage(o), "option \"lr\" must be greater than 0 and at most 10, got 0");
    o.lr = std::nan("");
    EXPECT_EQ(ValidationMessage(o), "option \"lr\" must be greater than 0 and at most 10, got nan");
    o = raid::MfOptions();
    o.negatives = -1;
    EXPECT_EQ(ValidationMessage(o), "option \"negatives\" must be between 0 and 1000, got -1");
    o = raid::MfOptions();
    o.l2 = -0.5;
    EXPECT_EQ(ValidationMessage(o), "option \"l2\" must be between 0 and 10, got -0.5");
    o = raid::MfOptions();
    o.init_std = 11;
    EXPECT_EQ(ValidationMessage(o),
              "option \"init_std\" must be greater than 0 and at most 10, got 11");
    o = raid::MfOptions();
    o.threads = -2;
    EXPECT_EQ(ValidationMessage(o), "option \"threads\" must be between 0 and 1024, got -2");
    o = raid::MfOptions();
    o.chunk = 0;
    EXPECT_EQ(ValidationMessage(o), "option \"chunk\" must be at least 1, got 0");
}

TEST(MfTrainer, RejectsAnUnfinalizedDataset) {
    raid::Dataset d;
    EXPECT_THROW(raid::MfTrainer(d, Fast()), raid::InvalidArgument);
}

TEST(MfTrainer, ProgressCallbackOncePerEpoch) {
    raid::MfOptions o = Fast();
    o.epochs = 4;
    std::vector<int> epochs;
    raid::MfTrainer tr(Planted(), o);
    tr.Run([&](int32_t epoch, double loss, double seconds) {
        epochs.push_back(epoch);
        EXPECT_TRUE(std::isfinite(loss));
        EXPECT_GT(loss, 0.0);
        EXPECT_GE(seconds, 0.0);
    });
    EXPECT_EQ(epochs, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_TRUE(tr.done());
    EXPECT_EQ(tr.summary().epochs_completed, 4);
}

TEST(MfTrainer, CancelAfterTheFirstChunkThrowsInterrupted) {
    raid::MfOptions o = Fast();
    o.chunk = 100;  // an epoch has ~15000 positives: many chunks
    raid::MfTrainer tr(Planted(), o);
    int checks = 0;
    int progress_calls = 0;
    try {
        tr.Run([&](int32_t, double, double) { ++progress_calls; },
               [&] {
                   ++checks;
                   return true;
               });
        FAIL() << "expected Interrupted";
    } catch (const raid::Interrupted& e) {
        EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos);
    }
    EXPECT_EQ(checks, 1);
    EXPECT_EQ(progress_calls, 0);
    EXPECT_FALSE(tr.done());
}

TEST(MfTrainer, StepReportsProgress) {
    raid::MfOptions o = Fast();
    o.epochs = 2;
    o.chunk = 4000;
    raid::MfTrainer tr(Planted(), o);
    raid::MfProgress p;
    double last = 0.0;
    int steps = 0, finished_epochs = 0;
    while (!tr.Step(&p)) {
        ++steps;
        EXPECT_GT(p.fraction, last);
        EXPECT_LT(p.fraction, 1.0);
        last = p.fraction;
        finished_epochs += p.epoch_finished;
        EXPECT_EQ(p.epochs, 2);
    }
    finished_epochs += p.epoch_finished;
    EXPECT_EQ(finished_epochs, 2);
    EXPECT_EQ(p.epoch, 2);
    EXPECT_EQ(p.fraction, 1.0);
    const int64_t chunks_per_epoch = (Planted().n_train() + 3999) / 4000;
    EXPECT_EQ(steps + 1, 2 * chunks_per_epoch);
    // Stepping a finished trainer is a no-op.
    EXPECT_TRUE(tr.Step(&p));
}

TEST(MfTrainer, NoNegativesForAUserWhoTrainedOnEverything) {
    // User 1 trained on every item: training must still run and stay finite.
    auto d = raid_test::MakeDataset({{1, 1}, {1, 2}, {1, 3}, {2, 1}}, false);
    raid::MfOptions o = Fast();
    o.epochs = 5;
    raid::MfTrainer tr(*d, o);
    tr.Run();
    for (float x : tr.user_embeddings()) EXPECT_TRUE(std::isfinite(x));
    // User 1: 3 positives, no negatives; user 2: 1 positive + 4 negatives.
    EXPECT_EQ(tr.summary().epoch_samples, (std::vector<int64_t>(5, 8)));
}

}  // namespace

namespace {

// Warm start: the given rows are the starting weights, the others keep the
// seeded start; from a trained model's embeddings, 3 epochs get what 3
// epochs from scratch do not.
TEST(MfTrainer, WarmStartUsesTheGivenRows) {
    const raid::Dataset& d = Planted();
    raid::MfOptions o = Fast(7, 2);
    o.epochs = 20;
    raid::MfTrainer full(d, o);
    full.Run();
    const auto full_m = raid::EvaluateRanking(d, full.user_embeddings().data(),
                                              full.item_embeddings().data(), o.dim, 2);
    o.epochs = 3;
    raid::MfTrainer cold(d, o);
    cold.Run();
    const auto cold_m = raid::EvaluateRanking(d, cold.user_embeddings().data(),
                                              cold.item_embeddings().data(), o.dim, 2);
    raid::MfTrainer warm(d, o);
    std::vector<uint8_t> ug(static_cast<size_t>(d.n_users()), 1), ig(static_cast<size_t>(d.n_items()), 1);
    ug[0] = 0;  // user 0 keeps its seeded start
    const std::vector<float> seeded(warm.user_embeddings().begin(), warm.user_embeddings().begin() + o.dim);
    warm.SetInitialEmbeddings(full.user_embeddings().data(), ug.data(), full.item_embeddings().data(),
                              ig.data());
    EXPECT_EQ(std::vector<float>(warm.user_embeddings().begin(), warm.user_embeddings().begin() + o.dim),
              seeded);
    EXPECT_EQ(std::vector<float>(warm.user_embeddings().begin() + o.dim,
                                 warm.user_embeddings().begin() + 2 * o.dim),
              std::vector<float>(full.user_embeddings().begin() + o.dim,
                                 full.user_embeddings().begin() + 2 * o.dim));
    warm.Run();
    const auto warm_m = raid::EvaluateRanking(d, warm.user_embeddings().data(),
                                              warm.item_embeddings().data(), o.dim, 2);
    EXPECT_GE(warm_m.ndcg_at_10, full_m.ndcg_at_10 - 0.02)
        << "warm " << warm_m.ndcg_at_10 << " full " << full_m.ndcg_at_10;
    EXPECT_LT(cold_m.ndcg_at_10, warm_m.ndcg_at_10 - 0.02) << "cold " << cold_m.ndcg_at_10;
    EXPECT_THROW(warm.SetInitialEmbeddings(full.user_embeddings().data(), ug.data(), nullptr, nullptr),
                 raid::InvalidArgument);
}

}  // namespace

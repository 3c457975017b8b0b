// test_guards.cpp: the process-wide interrupt check and memory budget,
// through the C ABI: every long operation stops with RAID_INTERRUPTED once the
// check says so (and polls it inside its long loops, not only between calls),
// refuses with RAID_OUT_OF_MEMORY when its estimate exceeds the budget, and
// runs unchanged with neither.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "capi/raid_capi.h"
#include "core/attack/audit.h"
#include "core/common.h"
#include "guard_fixture.h"

namespace {

class Guards : public raid_test::GuardedTest {
  protected:
    // Synthetic data through the C ABI (threads 2: the parallel paths run).
    static raid_synthetic* Synthetic(int64_t users, int64_t items, int32_t per_user) {
        raid_synthetic_options o;
        raid_synthetic_options_default(&o);
        o.n_users = users;
        o.n_items = items;
        o.interactions_per_user = per_user;
        o.threads = 2;
        raid_error err;
        raid_synthetic* s = raid_synthetic_generate(&o, &err);
        EXPECT_NE(s, nullptr) << err.message;
        return s;
    }

    // A finalized dataset of synthetic interactions (classes in *classes, by dense user).
    static raid_dataset* Dataset(int64_t users, int64_t items, int32_t per_user,
                                 std::vector<int32_t>* classes = nullptr) {
        raid_synthetic* s = Synthetic(users, items, per_user);
        raid_error err;
        raid_dataset* ds = raid_dataset_create(&err);
        EXPECT_EQ(raid_dataset_append(ds, raid_synthetic_interaction_users(s),
                                      raid_synthetic_interaction_items(s),
                                      static_cast<size_t>(raid_synthetic_n_interactions(s)), &err),
                  RAID_OK);
        EXPECT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_OK) << err.message;
        if (classes != nullptr) {
            raid_dataset_info info;
            raid_dataset_get_info(ds, &info, &err);
            const int64_t* ids = raid_dataset_user_ids(ds);
            classes->resize(static_cast<size_t>(info.n_users));
            for (int64_t u = 0; u < info.n_users; ++u)
                (*classes)[u] = raid_synthetic_user_classes(s)[ids[u] - 1];
        }
        raid_synthetic_free(s);
        return ds;
    }

    static raid_mf_options MfOptions(int32_t negatives, int32_t dim, int32_t epochs = 2) {
        raid_mf_options o;
        raid_mf_options_default(&o);
        o.negatives = negatives;
        o.dim = dim;
        o.epochs = epochs;
        o.threads = 2;
        o.chunk = int64_t{1} << 40;  // one step per epoch
        return o;
    }
};

// Random features with a planted class signal (n x dim), ids 1..n, 2 classes.
struct AuditInput {
    std::vector<float> x;
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
};

AuditInput MakeAuditInput(int64_t n, int32_t dim) {
    AuditInput in;
    raid::Rng rng(7);
    for (int64_t i = 0; i < n; ++i) {
        in.ids.push_back(i + 1);
        in.labels.push_back(static_cast<int32_t>(i % 2));
        for (int32_t j = 0; j < dim; ++j)
            in.x.push_back(static_cast<float>(rng.Normal() + (j == 0 ? in.labels.back() : 0)));
    }
    return in;
}

raid_audit_options AuditOptions(int32_t attackers, int32_t threads) {
    raid_audit_options o;
    raid_audit_options_default(&o);
    o.attackers = attackers;
    o.threads = threads;
    o.folds = 3;
    return o;
}

// True if message says "<what> needs an estimated ... of memory, more than the limit of ...".
bool IsBudgetMessage(const char* message, const std::string& what) {
    const std::string m(message);
    return m.rfind(what + " needs an estimated ", 0) == 0 &&
           m.find(" of memory, more than the limit of ") != std::string::npos;
}

TEST_F(Guards, GettersAndMessageFormat) {
    EXPECT_EQ(raid_memory_limit(), 0u);
    raid_set_memory_limit(6ULL << 30);
    EXPECT_EQ(raid_memory_limit(), 6ULL << 30);
    try {
        raid::CheckMemory(12.4 * (1ULL << 30), "training");
        FAIL() << "no exception";
    } catch (const raid::MemoryLimit& e) {
        EXPECT_STREQ(e.what(),
                     "training needs an estimated 12.4 GB of memory, more than the limit of 6.0 GB");
    }
    raid::CheckMemory(6.0 * (1ULL << 30), "training");  // at the limit: fine
    EXPECT_EQ(raid::FormatBytes(512), "512 bytes");
    EXPECT_EQ(raid::FormatBytes(1536), "1.5 kB");
    EXPECT_EQ(raid::FormatBytes(3.0 * (1 << 20)), "3.0 MB");
}

/* ---------------------------------------------------------------- dataset */

TEST_F(Guards, DatasetFinalizeIsCancellable) {
    raid_synthetic* s = Synthetic(4000, 2000, 100);
    const size_t n = static_cast<size_t>(raid_synthetic_n_interactions(s));
    raid_error err;
    raid_dataset* ds = raid_dataset_create(&err);
    ASSERT_EQ(raid_dataset_append(ds, raid_synthetic_interaction_users(s),
                                  raid_synthetic_interaction_items(s), n, &err),
              RAID_OK);
    StopAfter(0);
    EXPECT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "building the dataset cancelled");
    raid_dataset_free(ds);

    // The polls grow with the pairs: one per 2^16 pairs or comparisons at least.
    ds = raid_dataset_create(&err);
    raid_dataset_append(ds, raid_synthetic_interaction_users(s),
                        raid_synthetic_interaction_items(s), n, &err);
    CountPolls();
    ASSERT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_OK);
    EXPECT_GE(polls(), static_cast<int64_t>(n >> 16));
    raid_dataset_free(ds);
    raid_synthetic_free(s);
}

TEST_F(Guards, DatasetAppendAndFinalizeRespectTheBudget) {
    std::vector<int64_t> users(100000), items(100000);
    for (size_t k = 0; k < users.size(); ++k) {
        users[k] = static_cast<int64_t>(k % 1000);
        items[k] = static_cast<int64_t>(k / 1000);
    }
    raid_error err;
    raid_dataset* ds = raid_dataset_create(&err);
    raid_set_memory_limit(1 << 20);  // 1 MB: 100,000 pairs need ~3 MB
    EXPECT_EQ(raid_dataset_append(ds, users.data(), items.data(), users.size(), &err),
              RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "the dataset")) << err.message;
    EXPECT_NE(std::string(err.message).find("limit of 1.0 MB"), std::string::npos);
    raid_set_memory_limit(0);
    ASSERT_EQ(raid_dataset_append(ds, users.data(), items.data(), users.size(), &err), RAID_OK);
    raid_set_memory_limit(2 << 20);  // the buffer fits, finalisation (~3.4 MB) does not
    EXPECT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "building the dataset")) << err.message;
    raid_set_memory_limit(0);
    EXPECT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_OK) << err.message;
    raid_dataset_free(ds);
}

/* --------------------------------------------------------------- training */

TEST_F(Guards, MfStepIsCancellableInsideTheChunk) {
    raid_dataset* ds = Dataset(600, 800, 30);
    const raid_mf_options o = MfOptions(300, 64);
    raid_error err;
    raid_trainer* tr = raid_mf_create(ds, &o, &err);
    ASSERT_NE(tr, nullptr) << err.message;
    StopAfter(5);
    int done = 0;
    EXPECT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "training cancelled");
    EXPECT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_INTERRUPTED);  // stays unusable
    raid_mf_free(tr);
    raid_dataset_free(ds);
}

TEST_F(Guards, MfPollsGrowWithTheWorkOfOneStep) {
    raid_dataset* ds = Dataset(600, 800, 30);
    raid_error err;
    int64_t counts[2];
    const int32_t negatives[2] = {1, 300};
    for (int k = 0; k < 2; ++k) {
        const raid_mf_options o = MfOptions(negatives[k], 64);
        raid_trainer* tr = raid_mf_create(ds, &o, &err);
        ASSERT_NE(tr, nullptr);
        int done = 0;
        ASSERT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_OK);  // warm up the schedule
        CountPolls();
        ASSERT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_OK);  // one step = one epoch
        counts[k] = polls();
        raid_set_interrupt_check(nullptr);
        raid_mf_free(tr);
    }
    // 300 negatives: ~17,000 positives x 602 samples x 64 dims x 2 passes
    // of work, one poll per 2^17: > 10,000 polls, against ~100 with 1.
    EXPECT_GT(counts[1], 1000);
    EXPECT_GT(counts[1], 10 * counts[0]);
    raid_dataset_free(ds);
}

TEST_F(Guards, MfPollingDoesNotChangeResults) {
    raid_dataset* ds = Dataset(300, 400, 20);
    raid_mf_options o = MfOptions(4, 16, 3);
    o.threads = 1;
    raid_error err;
    std::vector<float> first;
    for (int run = 0; run < 2; ++run) {
        if (run == 1) CountPolls();
        raid_trainer* tr = raid_mf_create(ds, &o, &err);
        int done = 0;
        while (!done) ASSERT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_OK);
        raid_dataset_info info;
        raid_dataset_get_info(ds, &info, &err);
        const float* U = raid_mf_user_embeddings(tr);
        std::vector<float> u(U, U + info.n_users * o.dim);
        if (run == 0)
            first = u;
        else
            EXPECT_EQ(std::memcmp(first.data(), u.data(), u.size() * sizeof(float)), 0);
        raid_mf_free(tr);
    }
    EXPECT_GT(polls(), 0);
    raid_dataset_free(ds);
}

TEST_F(Guards, MfCreateRespectsTheBudget) {
    raid_dataset* ds = Dataset(300, 500, 20);
    const raid_mf_options o = MfOptions(4, 256);  // ~800 rows x 2 KB: > 1 MB
    raid_error err;
    raid_set_memory_limit(1 << 20);
    EXPECT_EQ(raid_mf_create(ds, &o, &err), nullptr);
    EXPECT_EQ(err.code, RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "training")) << err.message;
    EXPECT_NE(std::string(err.message).find("more than the limit of 1.0 MB"), std::string::npos);
    raid_set_memory_limit(0);
    raid_trainer* tr = raid_mf_create(ds, &o, &err);
    EXPECT_NE(tr, nullptr) << err.message;
    raid_mf_free(tr);
    raid_dataset_free(ds);
}

/* ---------------------------------------------------------------- defense */

// A trainer with the defense from the first step, Sinkhorn unable to converge.
raid_trainer* DefendedTrainer(raid_dataset* ds, const std::vector<int32_t>& classes,
                              raid_defense_options* d, raid_error* err) {
    raid_mf_options o;
    raid_mf_options_default(&o);
    o.dim = 16;
    o.epochs = 2;
    o.threads = 2;
    raid_trainer* tr = raid_mf_create(ds, &o, err);
    if (tr == nullptr) return nullptr;
    if (raid_mf_set_defense(tr, classes.data(), 2, d, err) != RAID_OK) {
        raid_mf_free(tr);
        return nullptr;
    }
    return tr;
}

raid_defense_options HeavyDefense() {
    raid_defense_options d;
    raid_defense_options_default(&d);
    d.phase1_epochs = 0;
    d.tau = 0.001;
    d.sinkhorn_iters = 1000000;
    d.sinkhorn_tol = 1e-12;
    return d;
}

TEST_F(Guards, DefenseRecomputationIsCancellable) {
    std::vector<int32_t> classes;
    raid_dataset* ds = Dataset(400, 300, 20, &classes);
    raid_defense_options d = HeavyDefense();
    raid_error err;
    raid_trainer* tr = DefendedTrainer(ds, classes, &d, &err);
    ASSERT_NE(tr, nullptr) << err.message;
    // Without polling inside Sinkhorn this step would run 10^6 iterations per solve.
    StopAfter(200);
    int done = 0;
    EXPECT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "training cancelled");
    raid_mf_free(tr);
    raid_dataset_free(ds);
}

TEST_F(Guards, DefensePollsEverySinkhornIteration) {
    std::vector<int32_t> classes;
    raid_dataset* ds = Dataset(400, 300, 20, &classes);
    raid_defense_options d = HeavyDefense();
    d.sinkhorn_iters = 300;
    raid_error err;
    raid_trainer* tr = DefendedTrainer(ds, classes, &d, &err);
    ASSERT_NE(tr, nullptr) << err.message;
    CountPolls();
    int done = 0;
    raid_progress p;
    ASSERT_EQ(raid_mf_step(tr, &p, &done, &err), RAID_OK) << err.message;
    raid_defense_summary s;
    ASSERT_EQ(raid_mf_get_defense_summary(tr, 0, &s, &err), RAID_OK);
    ASSERT_GE(s.recomputations, 1);
    EXPECT_GE(s.sinkhorn_iterations, 300);
    EXPECT_GE(polls(), s.sinkhorn_iterations);
    raid_mf_free(tr);
    raid_dataset_free(ds);
}

TEST_F(Guards, DefenseMemoryGrowsWithTheSquareOfTheClassWithoutSampling) {
    std::vector<int32_t> classes;
    raid_dataset* ds = Dataset(3000, 300, 10, &classes);
    raid_defense_options d;
    raid_defense_options_default(&d);
    raid_error err;
    // sample 0: two classes of ~1,500 users, 12 n_c^2 bytes each: ~54 MB.
    raid_set_memory_limit(16 << 20);
    d.sample = 0;
    EXPECT_EQ(DefendedTrainer(ds, classes, &d, &err), nullptr);
    EXPECT_EQ(err.code, RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "the defense")) << err.message;
    // The default sample of 256 per class fits.
    d.sample = 256;
    raid_trainer* tr = DefendedTrainer(ds, classes, &d, &err);
    EXPECT_NE(tr, nullptr) << err.message;
    raid_mf_free(tr);
    raid_set_memory_limit(0);
    d.sample = 0;
    tr = DefendedTrainer(ds, classes, &d, &err);
    EXPECT_NE(tr, nullptr) << err.message;
    raid_mf_free(tr);
    raid_dataset_free(ds);
}

TEST_F(Guards, TinyTauIsRejectedAndTheBoundWorks) {
    raid_defense_options d;
    raid_defense_options_default(&d);
    raid_error err;
    d.tau = 1e-20;
    EXPECT_EQ(raid_defense_options_validate(&d, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"tau\" must be between 1e-06 and 100, got 1e-20");
    d.tau = 0.0;
    EXPECT_EQ(raid_defense_options_validate(&d, &err), RAID_INVALID_ARGUMENT);
    // At the bound, training runs to the end with finite embeddings.
    d.tau = 1e-6;
    ASSERT_EQ(raid_defense_options_validate(&d, &err), RAID_OK);
    std::vector<int32_t> classes;
    raid_dataset* ds = Dataset(300, 200, 15, &classes);
    d.phase1_epochs = 1;
    d.xi = 1;
    raid_trainer* tr = DefendedTrainer(ds, classes, &d, &err);
    ASSERT_NE(tr, nullptr) << err.message;
    int done = 0;
    while (!done) ASSERT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_OK) << err.message;
    raid_dataset_info info;
    raid_dataset_get_info(ds, &info, &err);
    const float* U = raid_mf_user_embeddings(tr);
    for (int64_t k = 0; k < info.n_users * 16; ++k) ASSERT_TRUE(std::isfinite(U[k]));
    raid_mf_free(tr);
    raid_dataset_free(ds);
}

/* ------------------------------------------------------------------ audit */

TEST_F(Guards, AuditStepIsCancellable) {
    const AuditInput in = MakeAuditInput(3000, 16);
    for (int32_t attacker : {RAID_ATTACKER_MLP, RAID_ATTACKER_LOGISTIC}) {
        const raid_audit_options o = AuditOptions(attacker, 2);
        raid_error err;
        raid_audit* a = raid_audit_create(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16,
                                          2, &o, &err);
        ASSERT_NE(a, nullptr) << err.message;
        StopAfter(3);
        int done = 0;
        EXPECT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_INTERRUPTED) << attacker;
        EXPECT_STREQ(err.message, "audit cancelled");
        EXPECT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_INTERRUPTED);
        raid_audit_free(a);
        Reset();
    }
}

TEST_F(Guards, AuditPollsPerMinibatchAndPerIteration) {
    const AuditInput in = MakeAuditInput(3000, 16);
    raid_error err;
    // MLP: one task (threads 1), 3 epochs of minibatches of 10: ~540 minibatches.
    raid_audit_options o = AuditOptions(RAID_ATTACKER_MLP, 1);
    o.mlp_batch = 10;
    o.mlp_max_epochs = 3;
    raid_audit* a =
        raid_audit_create(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16, 2, &o, &err);
    ASSERT_NE(a, nullptr);
    CountPolls();
    int done = 0;
    ASSERT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_OK);
    EXPECT_GE(polls(), 3 * (2000 * 9 / 10) / 10);
    raid_audit_free(a);
    // Logistic regression: at least one poll per L-BFGS iteration.
    o = AuditOptions(RAID_ATTACKER_LOGISTIC, 1);
    a = raid_audit_create(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16, 2, &o, &err);
    CountPolls();
    done = 0;
    while (!done) ASSERT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_OK);
    raid_attack_result r;
    int32_t count = 0;
    ASSERT_EQ(raid_audit_get_results(a, &r, 1, &count, &err), RAID_OK);
    int64_t iterations = 0;
    for (int f = 0; f < r.folds; ++f) iterations += r.fold[f].iterations;
    EXPECT_GT(iterations, 0);
    EXPECT_GE(polls(), iterations);
    raid_audit_free(a);
}

TEST_F(Guards, AuditRespectsTheBudgetAndCapsItsThreads) {
    const AuditInput in = MakeAuditInput(3000, 16);
    raid_audit_options o = AuditOptions(RAID_ATTACKER_MLP | RAID_ATTACKER_LOGISTIC, 8);
    raid_error err;
    raid_set_memory_limit(1024);
    EXPECT_EQ(raid_audit_create(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16, 2, &o,
                                &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "the audit")) << err.message;

    // A budget for the inputs and 1.5 tasks: the audit runs one task at a time.
    raid::AuditOptions core;
    core.folds = o.folds;
    core.threads = 8;
    const double base = raid::AuditBaseBytes(3000, 16, o.folds);
    const double task = raid::AuditTaskBytes(3000, 16, 2, core);
    raid_set_memory_limit(static_cast<uint64_t>(base + 1.5 * task));
    raid::Audit capped(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16, 2, core);
    EXPECT_EQ(capped.threads(), 1);
    raid_set_memory_limit(static_cast<uint64_t>(base + 3.5 * task));
    raid::Audit three(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16, 2, core);
    EXPECT_EQ(three.threads(), 3);
    // Through the C ABI the capped audit still finishes.
    raid_set_memory_limit(static_cast<uint64_t>(base + 1.5 * task));
    raid_audit* a =
        raid_audit_create(in.x.data(), in.ids.data(), in.labels.data(), 3000, 16, 2, &o, &err);
    ASSERT_NE(a, nullptr) << err.message;
    int done = 0;
    while (!done) ASSERT_EQ(raid_audit_step(a, &done, nullptr, &err), RAID_OK) << err.message;
    raid_audit_free(a);
}

/* ------------------------------------------------------------- evaluation */

TEST_F(Guards, EvaluationIsCancellablePerUser) {
    raid_dataset* ds = Dataset(2000, 500, 20);
    raid_dataset_info info;
    raid_error err;
    raid_dataset_get_info(ds, &info, &err);
    const int32_t dim = 8;
    std::vector<float> U(static_cast<size_t>(info.n_users * dim)),
        V(static_cast<size_t>(info.n_items * dim));
    raid::Rng rng(3);
    for (float& x : U) x = static_cast<float>(rng.Normal());
    for (float& x : V) x = static_cast<float>(rng.Normal());
    raid_eval_result r;
    StopAfter(3);
    EXPECT_EQ(raid_evaluate(ds, U.data(), V.data(), dim, 2, &r, &err), RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "evaluation cancelled");
    StopAfter(0);
    EXPECT_EQ(raid_evaluate_popularity(ds, 2, &r, &err), RAID_INTERRUPTED);
    // One poll per evaluated user at least (and per block).
    CountPolls();
    ASSERT_EQ(raid_evaluate(ds, U.data(), V.data(), dim, 2, &r, &err), RAID_OK);
    EXPECT_GE(polls(), info.n_heldout);
    // Popularity: one poll per 2^16 items ranked.
    CountPolls();
    ASSERT_EQ(raid_evaluate_popularity(ds, 2, &r, &err), RAID_OK);
    EXPECT_GE(polls(), info.n_heldout * info.n_items / 65536);
    EXPECT_GE(polls(), 10);
    raid_dataset_free(ds);
}

TEST_F(Guards, EvaluationRespectsTheBudget) {
    raid_dataset* ds = Dataset(2000, 500, 20);
    raid_dataset_info info;
    raid_error err;
    raid_dataset_get_info(ds, &info, &err);
    const int32_t dim = 8;
    std::vector<float> U(static_cast<size_t>(info.n_users * dim), 0.5f),
        V(static_cast<size_t>(info.n_items * dim), 0.25f);
    raid_eval_result r;
    raid_set_memory_limit(4096);
    EXPECT_EQ(raid_evaluate(ds, U.data(), V.data(), dim, 2, &r, &err), RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "evaluation")) << err.message;
    EXPECT_EQ(raid_evaluate_popularity(ds, 2, &r, &err), RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "evaluation")) << err.message;
    raid_set_memory_limit(0);
    EXPECT_EQ(raid_evaluate(ds, U.data(), V.data(), dim, 2, &r, &err), RAID_OK);
    EXPECT_EQ(raid_evaluate_popularity(ds, 2, &r, &err), RAID_OK);
    raid_dataset_free(ds);
}

/* -------------------------------------------------------------- synthetic */

TEST_F(Guards, SyntheticIsCancellablePerUser) {
    raid_synthetic_options o;
    raid_synthetic_options_default(&o);
    o.n_users = 3000;
    o.n_items = 2000;
    o.threads = 2;
    raid_error err;
    StopAfter(3);
    EXPECT_EQ(raid_synthetic_generate(&o, &err), nullptr);
    EXPECT_EQ(err.code, RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "synthetic data generation cancelled");
    CountPolls();
    raid_synthetic* s = raid_synthetic_generate(&o, &err);
    ASSERT_NE(s, nullptr);
    EXPECT_GE(polls(), o.n_users);
    raid_synthetic_free(s);
}

TEST_F(Guards, SyntheticRespectsTheBudget) {
    raid_synthetic_options o;
    raid_synthetic_options_default(&o);
    o.n_users = 3000;
    o.n_items = 2000;
    raid_error err;
    raid_set_memory_limit(1 << 20);  // 3,000 x 50 pairs alone are 2.4 MB
    EXPECT_EQ(raid_synthetic_generate(&o, &err), nullptr);
    EXPECT_EQ(err.code, RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "synthetic data generation")) << err.message;
    raid_set_memory_limit(0);
    raid_synthetic* s = raid_synthetic_generate(&o, &err);
    EXPECT_NE(s, nullptr);
    raid_synthetic_free(s);
}

/* ------------------------------------------------------------------ top-k */

TEST_F(Guards, TopKIsCancellableAndRespectsTheBudget) {
    const int64_t n = 200000;
    const int32_t dim = 64;  // 2^20 / 64 = 16,384 rows per block: 13 blocks
    std::vector<float> items(static_cast<size_t>(n * dim)), user(dim, 1.0f);
    raid::Rng rng(5);
    for (float& x : items) x = static_cast<float>(rng.Uniform());
    int64_t index[10];
    float score[10];
    int32_t n_out = 0;
    raid_error err;
    StopAfter(2);
    EXPECT_EQ(raid_topk(user.data(), items.data(), n, dim, nullptr, 10, index, score, &n_out, &err),
              RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "top-k cancelled");
    CountPolls();
    ASSERT_EQ(raid_topk(user.data(), items.data(), n, dim, nullptr, 10, index, score, &n_out, &err),
              RAID_OK);
    EXPECT_GE(polls(), n / 16384);
    EXPECT_EQ(n_out, 10);
    raid_set_memory_limit(1 << 20);  // 200,000 items x 12 bytes: 2.3 MB
    EXPECT_EQ(raid_topk(user.data(), items.data(), n, dim, nullptr, 10, index, score, &n_out, &err),
              RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "top-k")) << err.message;
}

TEST_F(Guards, TopKBatchIsCancellableAndRespectsTheBudget) {
    const int64_t nu = 2000, ni = 20000;
    const int32_t dim = 16, k = 10;  // 2^21 / 20,000 = 104 users per block: 20 blocks
    std::vector<float> users(nu * dim), items(ni * dim);
    raid::Rng rng(6);
    for (float& x : users) x = static_cast<float>(rng.Uniform());
    for (float& x : items) x = static_cast<float>(rng.Uniform());
    std::vector<int64_t> idx(nu * k);
    std::vector<float> sc(nu * k);
    std::vector<int32_t> cnt(nu);
    raid_error err;
    StopAfter(2);
    EXPECT_EQ(raid_topk_batch(users.data(), nu, items.data(), ni, dim, nullptr, nullptr, k, 2,
                              idx.data(), sc.data(), cnt.data(), &err),
              RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "top-k cancelled");
    CountPolls();
    ASSERT_EQ(raid_topk_batch(users.data(), nu, items.data(), ni, dim, nullptr, nullptr, k, 2,
                              idx.data(), sc.data(), cnt.data(), &err),
              RAID_OK);
    EXPECT_GE(polls(), 20);
    EXPECT_EQ(cnt[nu - 1], k);
    raid_set_memory_limit(1 << 20);  // a block's scores alone: 104 x 20,000 x 4 bytes
    EXPECT_EQ(raid_topk_batch(users.data(), nu, items.data(), ni, dim, nullptr, nullptr, k, 2,
                              idx.data(), sc.data(), cnt.data(), &err),
              RAID_OUT_OF_MEMORY);
    EXPECT_TRUE(IsBudgetMessage(err.message, "top-k")) << err.message;
}

TEST_F(Guards, FoldInPollsWithinOneLongUser) {
    const int64_t ni = 5000;
    const int32_t dim = 16;
    std::vector<float> items(ni * dim, 0.01f);
    std::vector<int32_t> rows(ni);
    for (int32_t j = 0; j < ni; ++j) rows[j] = j;
    const int64_t off[] = {0, ni};
    const uint64_t keys[] = {1};
    raid_mf_options o;
    raid_mf_options_default(&o);
    o.dim = dim;
    o.epochs = 50;
    o.threads = 1;
    std::vector<float> out(dim);
    raid_error err;
    StopAfter(3);  // one poll before the user, then one per pass: stops in its third pass
    EXPECT_EQ(raid_fold_in(items.data(), ni, off, rows.data(), keys, 1, &o, out.data(), &err),
              RAID_INTERRUPTED);
    EXPECT_STREQ(err.message, "fold-in cancelled");
}

}  // namespace

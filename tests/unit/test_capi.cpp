// test_capi.cpp: the C ABI maps every failure to a status code and message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "capi/raid_capi.h"

namespace {

// A raid_error pre-filled with garbage, to check that calls really set it.
raid_error Dirty() {
    raid_error err;
    err.code = RAID_INTERNAL;
    std::memset(err.message, 'x', sizeof(err.message));
    return err;
}

// Synthetic data of this shape through the C ABI (default signal and seed).
raid_synthetic* SmallSynthetic(int64_t users, int64_t items, int32_t per_user, raid_error* err) {
    raid_synthetic_options so;
    raid_synthetic_options_default(&so);
    so.n_users = users;
    so.n_items = items;
    so.interactions_per_user = per_user;
    return raid_synthetic_generate(&so, err);
}

TEST(CApi, ErrorClear) {
    raid_error err = Dirty();
    raid_error_clear(&err);
    EXPECT_EQ(err.code, RAID_OK);
    EXPECT_STREQ(err.message, "");
    raid_error_clear(nullptr);
}

TEST(CApi, InvalidOptionIsReportedWithItsName) {
    raid_mf_options o;
    raid_mf_options_default(&o);
    raid_error err = Dirty();
    EXPECT_EQ(raid_mf_options_validate(&o, &err), RAID_OK);
    EXPECT_EQ(err.code, RAID_OK);
    EXPECT_STREQ(err.message, "");
    o.dim = 0;
    EXPECT_EQ(raid_mf_options_validate(&o, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"dim\" must be between 1 and 1024, got 0");
}

TEST(CApi, DefaultsMatchTheHeader) {
    raid_mf_options o;
    raid_mf_options_default(&o);
    EXPECT_EQ(o.dim, 64);
    EXPECT_EQ(o.epochs, 30);
    EXPECT_EQ(o.negatives, 4);
    EXPECT_EQ(o.seed, 42u);
    EXPECT_EQ(o.threads, 0);
    EXPECT_EQ(o.chunk, 65536);
    EXPECT_GT(o.lr, 0.0);
    EXPECT_GT(o.init_std, 0.0);
    raid_synthetic_options s;
    raid_synthetic_options_default(&s);
    EXPECT_EQ(s.n_users, 1000);
    EXPECT_EQ(s.n_items, 500);
    EXPECT_EQ(s.interactions_per_user, 50);
    EXPECT_EQ(s.classes, 2);
    EXPECT_EQ(s.signal, 1.0);
    EXPECT_EQ(s.seed, 42u);
}

TEST(CApi, EmptyDatasetIsADataError) {
    raid_error err = Dirty();
    raid_dataset* ds = raid_dataset_create(&err);
    ASSERT_NE(ds, nullptr);
    EXPECT_EQ(err.code, RAID_OK);
    EXPECT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_DATA_ERROR);
    EXPECT_STREQ(err.message, "no interactions");
    // Accessors of an unfinalized dataset return NULL instead of throwing.
    EXPECT_EQ(raid_dataset_user_ids(ds), nullptr);
    EXPECT_EQ(raid_dataset_train_indptr(ds), nullptr);
    raid_dataset_info info;
    EXPECT_EQ(raid_dataset_get_info(ds, &info, &err), RAID_INVALID_ARGUMENT);
    raid_mf_options o;
    raid_mf_options_default(&o);
    EXPECT_EQ(raid_mf_create(ds, &o, &err), nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "dataset is not finalized");
    raid_dataset_free(ds);
}

TEST(CApi, NullArgumentsAreInvalidNotCrashes) {
    raid_error err = Dirty();
    EXPECT_EQ(raid_dataset_append(nullptr, nullptr, nullptr, 1, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "dataset must not be null");
    EXPECT_EQ(raid_dataset_finalize(nullptr, 1, 1, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_mf_options_validate(nullptr, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_mf_create(nullptr, nullptr, &err), nullptr);
    EXPECT_EQ(raid_mf_step(nullptr, nullptr, nullptr, &err), RAID_INVALID_ARGUMENT);
    raid_eval_result r;
    EXPECT_EQ(raid_evaluate(nullptr, nullptr, nullptr, 4, 1, &r, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_evaluate_popularity(nullptr, 1, &r, &err), RAID_INVALID_ARGUMENT);
    int32_t n = -1;
    EXPECT_EQ(raid_topk(nullptr, nullptr, 3, 2, nullptr, 2, nullptr, nullptr, &n, &err),
              RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_synthetic_generate(nullptr, &err), nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    // A NULL error pointer is tolerated.
    EXPECT_EQ(raid_dataset_finalize(nullptr, 1, 1, nullptr), RAID_INVALID_ARGUMENT);
    // Accessors and frees accept NULL.
    EXPECT_EQ(raid_dataset_user_ids(nullptr), nullptr);
    EXPECT_EQ(raid_dataset_item_ids(nullptr), nullptr);
    EXPECT_EQ(raid_dataset_train_indices(nullptr), nullptr);
    EXPECT_EQ(raid_mf_user_embeddings(nullptr), nullptr);
    EXPECT_EQ(raid_mf_item_embeddings(nullptr), nullptr);
    EXPECT_EQ(raid_synthetic_n_interactions(nullptr), 0);
    EXPECT_EQ(raid_synthetic_interaction_users(nullptr), nullptr);
    EXPECT_EQ(raid_synthetic_interaction_items(nullptr), nullptr);
    EXPECT_EQ(raid_synthetic_user_classes(nullptr), nullptr);
    raid_dataset_free(nullptr);
    raid_mf_free(nullptr);
    raid_synthetic_free(nullptr);
}

TEST(CApi, SyntheticLimits) {
    raid_synthetic_options o;
    raid_synthetic_options_default(&o);
    raid_error err = Dirty();
    o.classes = 1;
    EXPECT_EQ(raid_synthetic_options_validate(&o, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"classes\" must be between 2 and 64, got 1");
    raid_synthetic_options_default(&o);
    o.n_users = 10000000;
    o.n_items = 10000;
    o.interactions_per_user = 100;
    EXPECT_EQ(raid_synthetic_generate(&o, &err), nullptr);
    EXPECT_EQ(err.code, RAID_LIMIT_EXCEEDED);
}

TEST(CApi, EndToEnd) {
    raid_error err = Dirty();
    raid_synthetic* syn = SmallSynthetic(300, 120, 20, &err);
    ASSERT_NE(syn, nullptr) << err.message;
    const int64_t n = raid_synthetic_n_interactions(syn);
    ASSERT_GT(n, 0);
    EXPECT_NE(raid_synthetic_user_classes(syn), nullptr);

    raid_dataset* ds = raid_dataset_create(&err);
    ASSERT_NE(ds, nullptr);
    // Append in two pieces.
    const int64_t half = n / 2;
    ASSERT_EQ(raid_dataset_append(ds, raid_synthetic_interaction_users(syn),
                                  raid_synthetic_interaction_items(syn), half, &err),
              RAID_OK);
    ASSERT_EQ(raid_dataset_append(ds, raid_synthetic_interaction_users(syn) + half,
                                  raid_synthetic_interaction_items(syn) + half, n - half, &err),
              RAID_OK);
    ASSERT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_OK);
    EXPECT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_INVALID_ARGUMENT);
    raid_dataset_info info;
    ASSERT_EQ(raid_dataset_get_info(ds, &info, &err), RAID_OK);
    EXPECT_EQ(info.n_users, 300);
    EXPECT_EQ(info.n_pairs, n);
    EXPECT_EQ(info.n_interactions, n);
    EXPECT_EQ(info.n_heldout, 300);
    EXPECT_EQ(info.n_train, n - 300);
    EXPECT_EQ(raid_dataset_train_indptr(ds)[info.n_users], info.n_train);
    EXPECT_EQ(raid_dataset_user_ids(ds)[0], 1);

    raid_mf_options o;
    raid_mf_options_default(&o);
    o.dim = 8;
    o.epochs = 2;
    o.chunk = 1000;
    o.threads = 1;
    raid_trainer* tr = raid_mf_create(ds, &o, &err);
    ASSERT_NE(tr, nullptr) << err.message;
    raid_progress p;
    int done = 0, steps = 0, epochs_finished = 0;
    while (!done) {
        ASSERT_EQ(raid_mf_step(tr, &p, &done, &err), RAID_OK) << err.message;
        epochs_finished += p.epoch_finished;
        ++steps;
        ASSERT_LT(steps, 1000);
    }
    EXPECT_EQ(epochs_finished, 2);
    EXPECT_EQ(p.epoch, 2);
    EXPECT_EQ(p.fraction, 1.0);
    EXPECT_GT(p.loss, 0.0);

    // A post-training step replaces the user embeddings: null-align a copy
    // (classes by user parity) and store it.
    {
        const int64_t nu = info.n_users;
        std::vector<float> copy(raid_mf_user_embeddings(tr), raid_mf_user_embeddings(tr) + nu * o.dim);
        std::vector<int32_t> cls(static_cast<size_t>(nu));
        for (int64_t u = 0; u < nu; ++u) cls[u] = static_cast<int32_t>(u % 2);
        raid_null_align_summary s;
        EXPECT_EQ(raid_null_align(copy.data(), nu, o.dim, cls.data(), 2, 7, 5, &s, &err),
                  RAID_INVALID_ARGUMENT);
        EXPECT_STREQ(err.message, "null alignment: unknown mode 5");
        EXPECT_EQ(raid_null_align_memory(nu, o.dim, 2, 5), 0.0);
        EXPECT_GT(raid_null_align_memory(nu, o.dim, 2, RAID_NULL_ALIGN_GAUSSIAN),
                  raid_null_align_memory(nu, o.dim, 2, RAID_NULL_ALIGN_MEAN));
        ASSERT_EQ(raid_null_align(copy.data(), nu, o.dim, cls.data(), 2, 7, RAID_NULL_ALIGN_GAUSSIAN, &s,
                                  &err),
                  RAID_OK)
            << err.message;
        EXPECT_EQ(s.moved_users, nu);
        EXPECT_GT(s.mean_shift, 0.0);
        ASSERT_EQ(raid_mf_set_user_embeddings(tr, copy.data(), &err), RAID_OK) << err.message;
        EXPECT_TRUE(std::equal(copy.begin(), copy.end(), raid_mf_user_embeddings(tr)));
        copy[3] = std::nanf("");
        EXPECT_EQ(raid_mf_set_user_embeddings(tr, copy.data(), &err), RAID_INVALID_ARGUMENT);
        EXPECT_STREQ(err.message, "user embeddings: non-finite value");
        EXPECT_EQ(raid_mf_set_user_embeddings(tr, nullptr, &err), RAID_INVALID_ARGUMENT);
    }

    raid_eval_result r;
    ASSERT_EQ(raid_evaluate(ds, raid_mf_user_embeddings(tr), raid_mf_item_embeddings(tr), o.dim, 1,
                            &r, &err),
              RAID_OK);
    EXPECT_EQ(r.users, 300);
    EXPECT_GE(r.ndcg_at_10, 0.0);
    EXPECT_LE(r.hr_at_10, 1.0);
    ASSERT_EQ(raid_evaluate_popularity(ds, 1, &r, &err), RAID_OK);
    EXPECT_EQ(r.users, 300);

    // Top-k for user 0, excluding its training items.
    std::vector<uint8_t> exclude(static_cast<size_t>(info.n_items), 0);
    const int64_t* indptr = raid_dataset_train_indptr(ds);
    const int32_t* indices = raid_dataset_train_indices(ds);
    for (int64_t q = indptr[0]; q < indptr[1]; ++q) exclude[indices[q]] = 1;
    std::vector<int64_t> idx(10);
    std::vector<float> score(10);
    int32_t n_out = 0;
    ASSERT_EQ(raid_topk(raid_mf_user_embeddings(tr), raid_mf_item_embeddings(tr), info.n_items,
                        o.dim, exclude.data(), 10, idx.data(), score.data(), &n_out, &err),
              RAID_OK);
    EXPECT_EQ(n_out, 10);
    for (int k = 0; k < n_out; ++k) {
        EXPECT_EQ(exclude[idx[k]], 0);
        if (k > 0) {
            EXPECT_GE(score[k - 1], score[k]);
        }
    }
    EXPECT_EQ(raid_topk(raid_mf_user_embeddings(tr), raid_mf_item_embeddings(tr), info.n_items, 0,
                        nullptr, 10, idx.data(), score.data(), &n_out, &err),
              RAID_INVALID_ARGUMENT);

    raid_mf_free(tr);
    raid_dataset_free(ds);
    raid_synthetic_free(syn);
}

}  // namespace

// Several protected attributes through the C ABI: one raid_mf_set_defense per
// attribute, strengths and summaries by index.
TEST(CApi, SeveralAttributes) {
    raid_error err = Dirty();
    raid_synthetic* syn = SmallSynthetic(200, 100, 15, &err);
    ASSERT_NE(syn, nullptr) << err.message;
    raid_dataset* ds = raid_dataset_create(&err);
    ASSERT_EQ(raid_dataset_append(ds, raid_synthetic_interaction_users(syn), raid_synthetic_interaction_items(syn),
                                  raid_synthetic_n_interactions(syn), &err),
              RAID_OK);
    ASSERT_EQ(raid_dataset_finalize(ds, 1, 42, &err), RAID_OK);
    raid_mf_options o;
    raid_mf_options_default(&o);
    o.dim = 8;
    o.epochs = 3;
    o.threads = 1;
    raid_trainer* tr = raid_mf_create(ds, &o, &err);
    ASSERT_NE(tr, nullptr) << err.message;
    raid_defense_options d;
    raid_defense_options_default(&d);
    d.phase1_epochs = 1;
    std::vector<int32_t> first(200), second(200);
    for (int u = 0; u < 200; ++u) {
        first[u] = u % 2;
        second[u] = u % 3 == 0 ? -1 : (u / 3) % 3;
    }
    ASSERT_EQ(raid_mf_set_defense(tr, first.data(), 2, &d, &err), RAID_OK) << err.message;
    EXPECT_EQ(raid_mf_set_defense_eta(tr, 1, 0.5, &err), RAID_INVALID_ARGUMENT);
    EXPECT_NE(std::string(err.message).find("no protected attribute 1"), std::string::npos) << err.message;
    raid_defense_options other = d;
    other.xi = d.xi + 1;
    EXPECT_EQ(raid_mf_set_defense(tr, second.data(), 3, &other, &err), RAID_INVALID_ARGUMENT);
    ASSERT_EQ(raid_mf_set_defense(tr, second.data(), 3, &d, &err), RAID_OK) << err.message;
    ASSERT_EQ(raid_mf_set_defense_eta(tr, 1, 0.5, &err), RAID_OK) << err.message;
    int done = 0;
    while (!done) ASSERT_EQ(raid_mf_step(tr, nullptr, &done, &err), RAID_OK) << err.message;
    raid_defense_summary s0, s1, none;
    ASSERT_EQ(raid_mf_get_defense_summary(tr, 0, &s0, &err), RAID_OK);
    ASSERT_EQ(raid_mf_get_defense_summary(tr, 1, &s1, &err), RAID_OK);
    EXPECT_EQ(raid_mf_get_defense_summary(tr, 2, &none, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_mf_get_defense_summary(tr, -1, &none, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(s0.classes, 2);
    EXPECT_EQ(s1.classes, 3);
    EXPECT_EQ(s0.pulled_users, 200);
    EXPECT_EQ(s1.pulled_users, 200 - 67);  // every third user has no class of the second
    EXPECT_GT(s1.recomputations, 0);
    EXPECT_EQ(s0.phase2_seconds, s1.phase2_seconds);
    raid_mf_free(tr);
    raid_dataset_free(ds);
    raid_synthetic_free(syn);
}

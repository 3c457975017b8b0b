// test_capi_audit.cpp: the audit part of the C ABI (options, errors, folds, results).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "capi/raid_capi.h"
#include "core/common.h"

namespace {

// A raid_error pre-filled with garbage, to check that calls really set it.
raid_error Dirty() {
    raid_error err;
    err.code = RAID_INTERNAL;
    std::memset(err.message, 'x', sizeof(err.message));
    err.message[sizeof(err.message) - 1] = '\0';
    return err;
}

// Two noisy classes in dim dimensions (class 1 shifted along every axis).
struct Data {
    int64_t n = 0;
    int32_t dim = 0;
    std::vector<float> x;
    std::vector<int64_t> ids;
    std::vector<int32_t> labels;
};

Data MakeData(int64_t n, int32_t dim, uint64_t seed = 1) {
    Data d;
    d.n = n;
    d.dim = dim;
    raid::Rng rng(seed);
    for (int64_t i = 0; i < n; ++i) {
        const int32_t c = i % 3 == 0 ? 1 : 0;  // uneven classes: balancing matters
        d.labels.push_back(c);
        d.ids.push_back(10 * i + 3);
        for (int32_t j = 0; j < dim; ++j)
            d.x.push_back(static_cast<float>(rng.Normal() + (c ? 0.8 : 0.0)));
    }
    return d;
}

// Small, fast options.
raid_audit_options FastOptions() {
    raid_audit_options o;
    raid_audit_options_default(&o);
    o.threads = 2;
    o.mlp_hidden = 32;
    o.mlp_batch = 32;  // enough Adam steps per epoch on a few hundred users
    return o;
}

TEST(CApiAudit, DefaultsMatchTheHeader) {
    raid_audit_options o;
    raid_audit_options_default(&o);
    EXPECT_EQ(o.folds, 5);
    EXPECT_EQ(o.seed, 42u);
    EXPECT_EQ(o.threads, 0);
    EXPECT_EQ(o.attackers,
              RAID_ATTACKER_MLP | RAID_ATTACKER_LOGISTIC | RAID_ATTACKER_KNN | RAID_ATTACKER_QDA);
    EXPECT_EQ(o.attackers, RAID_ATTACKERS_ALL);
    EXPECT_EQ(o.balance, 1);
    EXPECT_EQ(o.mlp_hidden, 100);
    EXPECT_EQ(o.mlp_max_epochs, 200);
    EXPECT_EQ(o.mlp_batch, 200);
    EXPECT_EQ(o.mlp_lr, 1e-3);
    EXPECT_EQ(o.mlp_l2, 1e-4);
    EXPECT_EQ(o.mlp_validation, 0.1);
    EXPECT_EQ(o.mlp_patience, 10);
    EXPECT_EQ(o.logistic_c, 1.0);
    EXPECT_EQ(o.logistic_max_iter, 200);
    EXPECT_EQ(o.knn_k, 15);
    EXPECT_EQ(o.qda_reg, 0.1);
    raid_error err = Dirty();
    EXPECT_EQ(raid_audit_options_validate(&o, &err), RAID_OK);
    EXPECT_STREQ(err.message, "");
    raid_audit_options_default(nullptr);
}

TEST(CApiAudit, InvalidOptionsNameTheField) {
    raid_audit_options o;
    raid_audit_options_default(&o);
    raid_error err = Dirty();
    o.folds = 1;
    EXPECT_EQ(raid_audit_options_validate(&o, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"folds\" must be between 2 and 20, got 1");

    struct Case {
        const char* field;
        void (*set)(raid_audit_options*);
        const char* message;
    };
    const Case cases[] = {
        {"folds", [](raid_audit_options* p) { p->folds = 21; },
         "option \"folds\" must be between 2 and 20, got 21"},
        {"threads", [](raid_audit_options* p) { p->threads = -1; },
         "option \"threads\" must be between 0 and 1024, got -1"},
        {"attackers", [](raid_audit_options* p) { p->attackers = 0; },
         "option \"attackers\" must be between 1 and 31, got 0"},
        {"attackers", [](raid_audit_options* p) { p->attackers = 32; },
         "option \"attackers\" must be between 1 and 31, got 32"},
        {"rbf_features", [](raid_audit_options* p) { p->rbf_features = 15; },
         "option \"rbf_features\" must be between 16 and 16384, got 15"},
        {"balance", [](raid_audit_options* p) { p->balance = 2; },
         "option \"balance\" must be between 0 and 1, got 2"},
        {"mlp_hidden", [](raid_audit_options* p) { p->mlp_hidden = 0; },
         "option \"mlp_hidden\" must be between 1 and 4096, got 0"},
        {"mlp_max_epochs", [](raid_audit_options* p) { p->mlp_max_epochs = 100001; },
         "option \"mlp_max_epochs\" must be between 1 and 100000, got 100001"},
        {"mlp_batch", [](raid_audit_options* p) { p->mlp_batch = 0; },
         "option \"mlp_batch\" must be between 1 and 1000000, got 0"},
        {"mlp_lr", [](raid_audit_options* p) { p->mlp_lr = 0.0; },
         "option \"mlp_lr\" must be greater than 0 and at most 1, got 0"},
        {"mlp_lr", [](raid_audit_options* p) { p->mlp_lr = NAN; },
         "option \"mlp_lr\" must be greater than 0 and at most 1, got nan"},
        {"mlp_l2", [](raid_audit_options* p) { p->mlp_l2 = -1.0; },
         "option \"mlp_l2\" must be between 0 and 100, got -1"},
        {"mlp_validation", [](raid_audit_options* p) { p->mlp_validation = 0.6; },
         "option \"mlp_validation\" must be greater than 0 and at most 0.5, got 0.6"},
        {"mlp_patience", [](raid_audit_options* p) { p->mlp_patience = 0; },
         "option \"mlp_patience\" must be between 1 and 10000, got 0"},
        {"logistic_c", [](raid_audit_options* p) { p->logistic_c = 2e6; },
         "option \"logistic_c\" must be greater than 0 and at most 1e+06, got 2e+06"},
        {"logistic_max_iter", [](raid_audit_options* p) { p->logistic_max_iter = 0; },
         "option \"logistic_max_iter\" must be between 1 and 100000, got 0"},
        {"knn_k", [](raid_audit_options* p) { p->knn_k = 0; },
         "option \"knn_k\" must be between 1 and 1000, got 0"},
        {"knn_k", [](raid_audit_options* p) { p->knn_k = 1001; },
         "option \"knn_k\" must be between 1 and 1000, got 1001"},
        {"qda_reg", [](raid_audit_options* p) { p->qda_reg = -0.5; },
         "option \"qda_reg\" must be between 0 and 1, got -0.5"},
        {"qda_reg", [](raid_audit_options* p) { p->qda_reg = 1.5; },
         "option \"qda_reg\" must be between 0 and 1, got 1.5"},
        {"qda_reg", [](raid_audit_options* p) { p->qda_reg = NAN; },
         "option \"qda_reg\" must be between 0 and 1, got nan"},
    };
    for (const Case& c : cases) {
        raid_audit_options bad;
        raid_audit_options_default(&bad);
        c.set(&bad);
        err = Dirty();
        EXPECT_EQ(raid_audit_options_validate(&bad, &err), RAID_INVALID_ARGUMENT) << c.field;
        EXPECT_STREQ(err.message, c.message) << c.field;
        // raid_audit_create validates them too, before looking at the data.
        err = Dirty();
        EXPECT_EQ(raid_audit_create(nullptr, nullptr, nullptr, 0, 1, 2, &bad, &err), nullptr);
        EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT) << c.field;
        EXPECT_STREQ(err.message, c.message) << c.field;
    }
    EXPECT_EQ(raid_audit_options_validate(nullptr, &err), RAID_INVALID_ARGUMENT);
}

TEST(CApiAudit, BadDataIsReportedNotThrown) {
    Data d = MakeData(40, 3);
    raid_audit_options o = FastOptions();
    raid_error err = Dirty();
    // A class smaller than the folds, named by its index.
    std::vector<int32_t> labels(40, 0);
    labels[5] = labels[6] = labels[7] = 1;
    EXPECT_EQ(raid_audit_create(d.x.data(), d.ids.data(), labels.data(), d.n, d.dim, 2, &o, &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "class 1 has 3 users, fewer than the 5 folds");
    // A label outside 0..classes-1; fewer than 2 classes.
    labels[5] = 2;
    EXPECT_EQ(raid_audit_create(d.x.data(), d.ids.data(), labels.data(), d.n, d.dim, 2, &o, &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_audit_create(d.x.data(), d.ids.data(), d.labels.data(), d.n, d.dim, 1, &o, &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    // Non-finite features.
    d.x[4] = NAN;
    EXPECT_EQ(raid_audit_create(d.x.data(), d.ids.data(), d.labels.data(), d.n, d.dim, 2, &o, &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_DATA_ERROR);
    EXPECT_STREQ(err.message, "feature 1 of user 13 is not finite");
    // Too many values (checked before the arrays are read).
    EXPECT_EQ(raid_audit_create(d.x.data(), d.ids.data(), d.labels.data(), int64_t{1} << 40, 64, 2,
                                &o, &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_LIMIT_EXCEEDED);
    // Null pointers.
    EXPECT_EQ(raid_audit_create(nullptr, d.ids.data(), d.labels.data(), d.n, d.dim, 2, &o, &err),
              nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    EXPECT_EQ(
        raid_audit_create(d.x.data(), d.ids.data(), d.labels.data(), d.n, d.dim, 2, nullptr, &err),
        nullptr);
    EXPECT_EQ(err.code, RAID_INVALID_ARGUMENT);
    // Null audits.
    int done = 0;
    double fraction = 0.0;
    int32_t n_results = 0;
    raid_attack_result r[2];
    EXPECT_EQ(raid_audit_step(nullptr, &done, &fraction, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_audit_get_results(nullptr, r, 2, &n_results, &err), RAID_INVALID_ARGUMENT);
    EXPECT_EQ(raid_audit_get_folds(nullptr, nullptr, nullptr, &err), RAID_INVALID_ARGUMENT);
    raid_audit_free(nullptr);
}

TEST(CApiAudit, FullRunAgreesWithItsFolds) {
    const Data d = MakeData(300, 8);
    raid_audit_options o = FastOptions();
    o.folds = 4;
    raid_error err = Dirty();
    raid_audit* audit =
        raid_audit_create(d.x.data(), d.ids.data(), d.labels.data(), d.n, d.dim, 2, &o, &err);
    ASSERT_NE(audit, nullptr) << err.message;
    EXPECT_EQ(err.code, RAID_OK);

    raid_attack_result results[RAID_MAX_ATTACKERS];
    int32_t n_results = -1;
    EXPECT_EQ(raid_audit_get_results(audit, results, RAID_MAX_ATTACKERS, &n_results, &err),
              RAID_INVALID_ARGUMENT);
    EXPECT_EQ(n_results, 0);

    int done = 0, steps = 0;
    double fraction = -1.0, last = 0.0;
    // Each step starts at the task it names: the attackers in order, folds
    // 0..3 each, two tasks per step.
    const char* const order[] = {"mlp", "logistic", "knn", "qda"};
    while (!done) {
        const char* name = nullptr;
        int32_t fold = -1;
        ASSERT_EQ(raid_audit_next_task(audit, &name, &fold, &err), RAID_OK) << err.message;
        ASSERT_NE(name, nullptr);
        EXPECT_STREQ(name, order[(2 * steps) / 4]);
        EXPECT_EQ(fold, (2 * steps) % 4);
        ASSERT_EQ(raid_audit_step(audit, &done, &fraction, &err), RAID_OK) << err.message;
        EXPECT_GT(fraction, last);
        last = fraction;
        ASSERT_LT(++steps, 100);
    }
    EXPECT_EQ(steps, 8);  // 16 tasks (4 attackers x 4 folds), 2 per step
    EXPECT_DOUBLE_EQ(fraction, 1.0);
    {
        const char* name = "unset";
        int32_t fold = -1;
        ASSERT_EQ(raid_audit_next_task(audit, &name, &fold, &err), RAID_OK);
        EXPECT_EQ(name, nullptr);  // nothing left to run
        EXPECT_EQ(raid_audit_next_task(audit, nullptr, &fold, &err), RAID_INVALID_ARGUMENT);
    }

    // Room for fewer results than attackers is an error (a glue with room for 2 fails here).
    EXPECT_EQ(raid_audit_get_results(audit, results, 2, &n_results, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "\"max_results\" must be at least 4, got 2");
    EXPECT_EQ(raid_audit_get_results(audit, results, 3, &n_results, &err), RAID_INVALID_ARGUMENT);
    ASSERT_EQ(raid_audit_get_results(audit, results, RAID_MAX_ATTACKERS, &n_results, &err),
              RAID_OK);
    ASSERT_EQ(n_results, 4);
    EXPECT_EQ(results[0].attacker, RAID_ATTACKER_MLP);
    EXPECT_EQ(results[1].attacker, RAID_ATTACKER_LOGISTIC);
    EXPECT_EQ(results[2].attacker, RAID_ATTACKER_KNN);
    EXPECT_EQ(results[3].attacker, RAID_ATTACKER_QDA);

    std::vector<int32_t> fold_of(static_cast<size_t>(d.n), -1);
    std::vector<uint8_t> in_train(static_cast<size_t>(o.folds * d.n), 7);
    ASSERT_EQ(raid_audit_get_folds(audit, fold_of.data(), in_train.data(), &err), RAID_OK);
    for (int k = 0; k < n_results; ++k) {
        const raid_attack_result& r = results[k];
        EXPECT_EQ(r.classes, 2);
        EXPECT_EQ(r.users, d.n);
        EXPECT_EQ(r.folds, o.folds);
        EXPECT_DOUBLE_EQ(r.chance, 0.5);
        EXPECT_GT(r.seconds, 0.0);
        // A real signal (shift 0.8 on 8 axes, Bayes BAcc 0.87): every attacker beats chance.
        EXPECT_GT(r.balanced_accuracy, 0.7);
        EXPECT_GT(r.auc, 0.75);
        for (int f = 0; f < o.folds; ++f) {
            int64_t test = 0, train = 0, train_class1 = 0;
            for (int64_t i = 0; i < d.n; ++i) {
                test += fold_of[i] == f;
                const uint8_t t = in_train[f * d.n + i];
                ASSERT_LE(t, 1);
                if (t) {
                    EXPECT_NE(fold_of[i], f);
                    ++train;
                    train_class1 += d.labels[i];
                }
            }
            EXPECT_EQ(r.fold[f].test_users, test);
            EXPECT_EQ(r.fold[f].train_users, train);
            EXPECT_EQ(2 * train_class1, train);  // balanced
            // kNN and QDA have no iterations.
            if (r.attacker == RAID_ATTACKER_KNN || r.attacker == RAID_ATTACKER_QDA)
                EXPECT_EQ(r.fold[f].iterations, 0);
            else
                EXPECT_GT(r.fold[f].iterations, 0);
            EXPECT_GE(r.fold[f].balanced_accuracy, 0.0);
            EXPECT_LE(r.fold[f].auc, 1.0);
        }
        for (int f = o.folds; f < RAID_MAX_FOLDS; ++f) {
            EXPECT_EQ(r.fold[f].test_users, 0);
            EXPECT_EQ(r.fold[f].f1, 0.0);
        }
        // The means are the means of the folds.
        double mean = 0.0;
        for (int f = 0; f < o.folds; ++f) mean += r.fold[f].balanced_accuracy;
        EXPECT_NEAR(r.balanced_accuracy, mean / o.folds, 1e-12);
    }
    raid_audit_free(audit);
}

}  // namespace

// raid_capi.cpp: the C ABI of raid_capi.h over the C++ core.
//
// Vocabulary:
//   guard     every status-returning function runs its body inside Guard(),
//             which catches every exception and turns it into a status code
//             plus a NUL-terminated message in the caller's raid_error:
//               raid::InvalidArgument -> RAID_INVALID_ARGUMENT
//               raid::DataError       -> RAID_DATA_ERROR
//               raid::LimitExceeded   -> RAID_LIMIT_EXCEEDED
//               raid::MemoryLimit     -> RAID_OUT_OF_MEMORY (estimate over budget)
//               std::bad_alloc        -> RAID_OUT_OF_MEMORY
//               raid::Interrupted     -> RAID_INTERRUPTED
//               anything else         -> RAID_INTERNAL
//   accessor  a function returning a pointer into an object; it never throws
//             and returns NULL for a NULL or unusable object
//
// Pattern after faiss's c_api (catch at the boundary, code + message out).
#include "raid_capi.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../core/attack/audit.h"
#include "../core/common.h"
#include "../core/data/dataset.h"
#include "../core/data/synthetic.h"
#include "../core/eval/ranking.h"
#include "../core/options.h"
#include "../core/ot/null_align.h"
#include "../core/posthoc/align.h"
#include "../core/posthoc/dp.h"
#include "../core/posthoc/unlearn.h"
#include "../core/train/fold_in.h"
#include "../core/train/mf.h"

struct raid_dataset {
    raid::Dataset impl;
};

struct raid_trainer {
    std::unique_ptr<raid::MfTrainer> impl;
};

struct raid_synthetic {
    raid::SyntheticData impl;
};

namespace {

// Stores a code and "prefix message" in err (which may be NULL); returns the code.
raid_status SetError(raid_error* err, raid_status code, const char* message,
                     const char* prefix = "") noexcept {
    if (err != nullptr) {
        err->code = code;
        std::snprintf(err->message, RAID_ERROR_MESSAGE_SIZE, "%s%s", prefix,
                      message != nullptr ? message : "");
    }
    return code;
}

// Runs body, mapping every exception to a status code and message.
template <typename Body>
raid_status Guard(raid_error* err, Body&& body) noexcept {
    try {
        body();
        return SetError(err, RAID_OK, "");
    } catch (const raid::InvalidArgument& e) {
        return SetError(err, RAID_INVALID_ARGUMENT, e.what());
    } catch (const raid::DataError& e) {
        return SetError(err, RAID_DATA_ERROR, e.what());
    } catch (const raid::LimitExceeded& e) {
        return SetError(err, RAID_LIMIT_EXCEEDED, e.what());
    } catch (const raid::Interrupted& e) {
        return SetError(err, RAID_INTERRUPTED, e.what());
    } catch (const raid::MemoryLimit& e) {
        return SetError(err, RAID_OUT_OF_MEMORY, e.what());
    } catch (const std::bad_alloc&) {
        return SetError(err, RAID_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return SetError(err, RAID_INTERNAL, e.what(), "internal error: ");
    } catch (...) {
        return SetError(err, RAID_INTERNAL, "internal error: unknown exception");
    }
}

// Throws InvalidArgument if p is NULL.
void Require(const void* p, const char* what) {
    if (p == nullptr) throw raid::InvalidArgument(std::string(what) + " must not be null");
}

// Validates options through their core class (ranges plus any cross-field checks).
void ValidateGroup(const raid_mf_options& o) { raid::MfOptions(o).Validate(); }
void ValidateGroup(const raid_defense_options& o) { raid::DefenseOptions(o).Validate(); }
void ValidateGroup(const raid_audit_options& o) { raid::AuditOptions(o).Validate(); }
void ValidateGroup(const raid_synthetic_options& o) { raid::SyntheticOptions(o).Validate(); }

// Throws InvalidArgument unless the dataset exists and is finalized.
const raid::Dataset& FinalizedDataset(const raid_dataset* ds) {
    Require(ds, "dataset");
    if (!ds->impl.finalized()) throw raid::InvalidArgument("dataset is not finalized");
    return ds->impl;
}

// The C signal kinds are the core's, value for value.
static_assert(int{RAID_SIGNAL_MEAN} == int{raid::kSignalMean} &&
                  int{RAID_SIGNAL_COVARIANCE} == int{raid::kSignalCovariance} &&
                  int{RAID_SIGNAL_NONLINEAR} == int{raid::kSignalNonlinear},
              "raid_signal_kind must match raid::SignalKind");

}  // namespace

extern "C" {

// Clears an error to RAID_OK and an empty message.
void raid_error_clear(raid_error* err) {
    if (err == nullptr) return;
    err->code = RAID_OK;
    err->message[0] = '\0';
}

/* ----------------------------------------------------------------- guards */

// Installs the process-wide interrupt check (NULL removes it).
void raid_set_interrupt_check(int (*check)(void)) { raid::SetInterruptCheck(check); }

// Sets the process-wide memory budget (0 = unlimited).
void raid_set_memory_limit(uint64_t bytes) { raid::SetMemoryLimit(bytes); }

// The process-wide memory budget (0 = unlimited).
uint64_t raid_memory_limit(void) { return raid::MemoryLimitBytes(); }

/* ---------------------------------------------------------------- dataset */

// Returns a new empty dataset, or NULL with err set.
raid_dataset* raid_dataset_create(raid_error* err) {
    raid_dataset* ds = nullptr;
    Guard(err, [&] { ds = new raid_dataset(); });
    return ds;
}

// Appends n pairs.
raid_status raid_dataset_append(raid_dataset* ds, const int64_t* users, const int64_t* items,
                                size_t n, raid_error* err) {
    return Guard(err, [&] {
        Require(ds, "dataset");
        ds->impl.Append(users, items, n);
    });
}

// Remaps, collapses, builds CSR and the leave-one-out split.
raid_status raid_dataset_finalize(raid_dataset* ds, int holdout, uint64_t seed, raid_error* err) {
    return Guard(err, [&] {
        Require(ds, "dataset");
        ds->impl.Finalize(holdout != 0, seed);
    });
}

// Reports the dataset's counts.
raid_status raid_dataset_get_info(const raid_dataset* ds, raid_dataset_info* info,
                                  raid_error* err) {
    return Guard(err, [&] {
        Require(info, "info");
        const raid::Dataset& d = FinalizedDataset(ds);
        info->n_users = d.n_users();
        info->n_items = d.n_items();
        info->n_pairs = d.n_pairs();
        info->n_interactions = d.n_interactions();
        info->n_train = d.n_train();
        info->n_heldout = d.n_heldout();
    });
}

// Dense user index -> id, or NULL.
const int64_t* raid_dataset_user_ids(const raid_dataset* ds) {
    return ds != nullptr && ds->impl.finalized() ? ds->impl.user_ids().data() : nullptr;
}

// Dense item index -> id, or NULL.
const int64_t* raid_dataset_item_ids(const raid_dataset* ds) {
    return ds != nullptr && ds->impl.finalized() ? ds->impl.item_ids().data() : nullptr;
}

// Training CSR row pointers, or NULL.
const int64_t* raid_dataset_train_indptr(const raid_dataset* ds) {
    return ds != nullptr && ds->impl.finalized() ? ds->impl.train_indptr().data() : nullptr;
}

// Training CSR item indices, or NULL.
const int32_t* raid_dataset_train_indices(const raid_dataset* ds) {
    return ds != nullptr && ds->impl.finalized() ? ds->impl.train_indices().data() : nullptr;
}

// Frees a dataset (NULL is fine).
void raid_dataset_free(raid_dataset* ds) { delete ds; }

/* ---------------------------------------------------------------- trainer */

// Fills the documented defaults.
void raid_mf_options_default(raid_mf_options* opts) {
    if (opts != nullptr) Guard(nullptr, [&] { raid::SetOptionDefaults(RAID_OPTION_GROUP_MF, opts); });
}

// Checks every field; the message names the first bad one.
raid_status raid_mf_options_validate(const raid_mf_options* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        ValidateGroup(*opts);
    });
}

// Creates a trainer on a finalized dataset, or NULL with err set.
raid_trainer* raid_mf_create(const raid_dataset* ds, const raid_mf_options* opts, raid_error* err) {
    raid_trainer* tr = nullptr;
    Guard(err, [&] {
        Require(opts, "options");
        const raid::Dataset& d = FinalizedDataset(ds);
        auto holder = std::make_unique<raid_trainer>();
        holder->impl = std::make_unique<raid::MfTrainer>(d, *opts);
        tr = holder.release();
    });
    return tr;
}

// Runs one chunk of training and reports progress.
raid_status raid_mf_step(raid_trainer* tr, raid_progress* progress, int* done, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        raid::MfProgress p;
        const bool finished = tr->impl->Step(&p);
        if (done != nullptr) *done = finished ? 1 : 0;
        if (progress != nullptr) *progress = p;
    });
}

// User embeddings (n_users x dim), or NULL.
const float* raid_mf_user_embeddings(const raid_trainer* tr) {
    return tr != nullptr && tr->impl ? tr->impl->user_embeddings().data() : nullptr;
}

// Item embeddings (n_items x dim), or NULL.
const float* raid_mf_item_embeddings(const raid_trainer* tr) {
    return tr != nullptr && tr->impl ? tr->impl->item_embeddings().data() : nullptr;
}

// Frees a trainer (NULL is fine).
void raid_mf_free(raid_trainer* tr) { delete tr; }

/* ------------------------------------------------------------- evaluation */

// Leave-one-out full-ranking NDCG@10 / HR@10 of U and V.
raid_status raid_evaluate(const raid_dataset* ds, const float* U, const float* V, int32_t dim,
                          int32_t threads, raid_eval_result* out, raid_error* err) {
    return Guard(err, [&] {
        Require(out, "result");
        const raid::Dataset& d = FinalizedDataset(ds);
        *out = raid::EvaluateRanking(d, U, V, dim, threads);
    });
}

// The same protocol for the popularity baseline.
raid_status raid_evaluate_popularity(const raid_dataset* ds, int32_t threads, raid_eval_result* out,
                                     raid_error* err) {
    return Guard(err, [&] {
        Require(out, "result");
        const raid::Dataset& d = FinalizedDataset(ds);
        *out = raid::EvaluatePopularity(d, threads);
    });
}

/* ------------------------------------------------------------------ top-k */

// Best min(k, eligible) items by <user, item>, best first.
raid_status raid_topk(const float* user, const float* items, int64_t n_items, int32_t dim,
                      const uint8_t* exclude, int32_t k, int64_t* out_index, float* out_score,
                      int32_t* n_out, raid_error* err) {
    return Guard(err, [&] {
        Require(n_out, "n_out");
        *n_out = 0;
        if (k > 0) {
            Require(out_index, "out_index");
            Require(out_score, "out_score");
        }
        const raid::TopKResult r = raid::TopK(user, items, n_items, dim, exclude, k);
        const size_t n = r.index.size();
        if (n > 0) {
            std::memcpy(out_index, r.index.data(), n * sizeof(int64_t));
            std::memcpy(out_score, r.score.data(), n * sizeof(float));
        }
        *n_out = static_cast<int32_t>(n);
    });
}

raid_status raid_topk_batch(const float* users, int64_t n_users, const float* items,
                            int64_t n_items, int32_t dim, const int64_t* seen_offsets,
                            const int32_t* seen_rows, int32_t k, int32_t threads,
                            int64_t* out_index, float* out_score, int32_t* out_count,
                            raid_error* err) {
    return Guard(err, [&] {
        raid::TopKBatch(users, n_users, items, n_items, dim, seen_offsets, seen_rows, k, threads,
                        out_index, out_score, out_count);
    });
}

double raid_topk_batch_memory(int64_t n_users, int64_t n_items, int32_t dim, int32_t k,
                              int32_t threads) {
    double bytes = 0;
    Guard(nullptr, [&] { bytes = raid::TopKBatchMemory(n_users, n_items, dim, k, threads); });
    return bytes;
}

raid_status raid_fold_in(const float* items, int64_t n_items, const int64_t* offsets,
                         const int32_t* rows, const uint64_t* keys, int64_t n_users,
                         const raid_mf_options* opts, float* out, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        raid::FoldIn(items, n_items, offsets, rows, keys, n_users, raid::MfOptions(*opts), out);
    });
}

/* -------------------------------------------------------------- synthetic */

// Fills the documented defaults.
void raid_synthetic_options_default(raid_synthetic_options* opts) {
    if (opts != nullptr) Guard(nullptr, [&] { raid::SetOptionDefaults(RAID_OPTION_GROUP_SYNTHETIC, opts); });
}

// Checks every field; the message names the first bad one.
raid_status raid_synthetic_options_validate(const raid_synthetic_options* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        ValidateGroup(*opts);
    });
}

// Generates synthetic data, or NULL with err set.
raid_synthetic* raid_synthetic_generate(const raid_synthetic_options* opts, raid_error* err) {
    raid_synthetic* s = nullptr;
    Guard(err, [&] {
        Require(opts, "options");
        auto holder = std::make_unique<raid_synthetic>();
        holder->impl = raid::GenerateSynthetic(*opts);
        s = holder.release();
    });
    return s;
}

// Number of generated interactions (0 for NULL).
int64_t raid_synthetic_n_interactions(const raid_synthetic* s) {
    return s != nullptr ? static_cast<int64_t>(s->impl.users.size()) : 0;
}

// Interaction user ids, or NULL.
const int64_t* raid_synthetic_interaction_users(const raid_synthetic* s) {
    return s != nullptr ? s->impl.users.data() : nullptr;
}

// Interaction item ids, or NULL.
const int64_t* raid_synthetic_interaction_items(const raid_synthetic* s) {
    return s != nullptr ? s->impl.items.data() : nullptr;
}

// Class of each user (n_users entries), or NULL.
const int32_t* raid_synthetic_user_classes(const raid_synthetic* s) {
    return s != nullptr ? s->impl.classes.data() : nullptr;
}

// Frees synthetic data (NULL is fine).
void raid_synthetic_free(raid_synthetic* s) { delete s; }

}  // extern "C"

/* ------------------------------------------------------------------ audits */

struct raid_audit {
    std::unique_ptr<raid::Audit> impl;
};

// The C enum and limits are the core's.
static_assert(int32_t{RAID_ATTACKER_MLP} == int32_t{raid::kAttackerMlp} &&
                  int32_t{RAID_ATTACKER_LOGISTIC} == int32_t{raid::kAttackerLogistic} &&
                  int32_t{RAID_ATTACKER_KNN} == int32_t{raid::kAttackerKnn} &&
                  int32_t{RAID_ATTACKER_QDA} == int32_t{raid::kAttackerQda} &&
                  int32_t{RAID_ATTACKER_RBF} == int32_t{raid::kAttackerRbf},
              "raid_attacker_kind must match raid::AttackerKind");
static_assert(RAID_ATTACKERS_ALL == raid::kAllAttackers, "RAID_ATTACKERS_ALL must match the core");
static_assert(RAID_MAX_ATTRIBUTES == raid::MfTrainer::kMaxAttributes,
              "RAID_MAX_ATTRIBUTES must match the core");
static_assert(RAID_MAX_ATTACKERS == sizeof(raid::kAttackerOrder) / sizeof(raid::kAttackerOrder[0]),
              "RAID_MAX_ATTACKERS must count the core's attackers");

namespace {

// Throws InvalidArgument unless the audit exists.
const raid::Audit& CheckedAudit(const raid_audit* audit) {
    Require(audit, "audit");
    Require(audit->impl.get(), "audit");
    return *audit->impl;
}

}  // namespace

extern "C" {

// Fills the documented defaults.
void raid_audit_options_default(raid_audit_options* opts) {
    if (opts != nullptr) Guard(nullptr, [&] { raid::SetOptionDefaults(RAID_OPTION_GROUP_AUDIT, opts); });
}

// Checks every field; the message names the first bad one.
raid_status raid_audit_options_validate(const raid_audit_options* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        ValidateGroup(*opts);
    });
}

// Validates and copies the inputs and plans the folds, or NULL with err set.
raid_audit* raid_audit_create(const float* X, const int64_t* ids, const int32_t* labels, int64_t n,
                              int32_t dim, int32_t classes, const raid_audit_options* opts,
                              raid_error* err) {
    raid_audit* audit = nullptr;
    Guard(err, [&] {
        Require(opts, "options");
        auto holder = std::make_unique<raid_audit>();
        holder->impl =
            std::make_unique<raid::Audit>(X, ids, labels, n, dim, classes, *opts);
        audit = holder.release();
    });
    return audit;
}

// Runs at most one task per thread and reports progress.
raid_status raid_audit_step(raid_audit* audit, int* done, double* fraction, raid_error* err) {
    return Guard(err, [&] {
        Require(audit, "audit");
        Require(audit->impl.get(), "audit");
        double f = 0.0;
        const bool finished = audit->impl->Step(&f);
        if (done != nullptr) *done = finished ? 1 : 0;
        if (fraction != nullptr) *fraction = f;
    });
}

// Names the next step's first task.
raid_status raid_audit_next_task(const raid_audit* audit, const char** attacker_name,
                                 int32_t* fold, raid_error* err) {
    return Guard(err, [&] {
        Require(attacker_name, "attacker_name");
        int32_t attacker = 0;
        int32_t f = 0;
        const bool more = CheckedAudit(audit).NextTask(&attacker, &f);
        *attacker_name = more ? raid::AttackerName(attacker) : nullptr;
        if (fold != nullptr) *fold = more ? f : 0;
    });
}

// Copies one result per attacker: MLP, logistic, kNN, QDA.
raid_status raid_audit_get_results(const raid_audit* audit, raid_attack_result* out,
                                   int32_t max_results, int32_t* n_results, raid_error* err) {
    return Guard(err, [&] {
        Require(n_results, "n_results");
        *n_results = 0;
        const std::vector<raid::AttackResult> results = CheckedAudit(audit).Results();
        const int32_t count = static_cast<int32_t>(results.size());
        if (max_results < count)
            throw raid::InvalidArgument("\"max_results\" must be at least " +
                                        std::to_string(count) + ", got " +
                                        std::to_string(max_results));
        Require(out, "out");
        for (int32_t k = 0; k < count; ++k) out[k] = results[k];
        *n_results = count;
    });
}

// Copies the cross-validation plan: test fold per user, training membership per fold.
raid_status raid_audit_get_folds(const raid_audit* audit, int32_t* fold_of, uint8_t* in_train,
                                 raid_error* err) {
    return Guard(err, [&] {
        const raid::Audit& a = CheckedAudit(audit);
        const raid::FoldPlan& plan = a.plan();
        const int64_t n = a.n();
        if (fold_of != nullptr && n > 0)
            std::memcpy(fold_of, plan.fold_of.data(), static_cast<size_t>(n) * sizeof(int32_t));
        if (in_train != nullptr) {
            std::memset(in_train, 0, static_cast<size_t>(plan.folds) * static_cast<size_t>(n));
            for (int32_t f = 0; f < plan.folds; ++f)
                for (int64_t i : plan.train[f]) in_train[static_cast<int64_t>(f) * n + i] = 1;
        }
    });
}

// Frees an audit (NULL is fine).
void raid_audit_free(raid_audit* audit) { delete audit; }

}  // extern "C"

/* ---------------------------------------------------------------- defense */

namespace {

}  // namespace

extern "C" {

// Fills the documented defaults.
void raid_defense_options_default(raid_defense_options* opts) {
    if (opts != nullptr) Guard(nullptr, [&] { raid::SetOptionDefaults(RAID_OPTION_GROUP_DEFENSE, opts); });
}

// Checks every field; the message names the first bad one.
raid_status raid_defense_options_validate(const raid_defense_options* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        ValidateGroup(*opts);
    });
}

// Turns the defense on for one more attribute of a trainer that has not stepped yet.
raid_status raid_mf_set_defense(raid_trainer* tr, const int32_t* user_class, int32_t classes,
                                const raid_defense_options* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        Require(user_class, "user_class");
        Require(opts, "options");
        const size_t n = static_cast<size_t>(tr->impl->n_users());
        tr->impl->SetDefense(std::vector<int32_t>(user_class, user_class + n), classes,
                             *opts);
    });
}

// Changes the defense's pull strength from the next step on.
raid_status raid_mf_set_defense_eta(raid_trainer* tr, int32_t attribute, double eta, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        tr->impl->SetDefenseEta(eta, attribute);
    });
}

// Replaces the user embeddings of a trained model.
raid_status raid_mf_set_initial(raid_trainer* tr, const float* users, const uint8_t* user_given,
                                const float* items, const uint8_t* item_given, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        tr->impl->SetInitialEmbeddings(users, user_given, items, item_given);
    });
}

raid_status raid_mf_set_user_embeddings(raid_trainer* tr, const float* user_embeddings, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        Require(user_embeddings, "user embeddings");
        tr->impl->SetUserEmbeddings(user_embeddings);
    });
}

namespace {
raid::NullAlignMode ToNullAlignMode(int32_t mode) {
    if (mode == RAID_NULL_ALIGN_MEAN) return raid::NullAlignMode::kMean;
    if (mode == RAID_NULL_ALIGN_GAUSSIAN) return raid::NullAlignMode::kGaussian;
    throw raid::InvalidArgument("null alignment: unknown mode " + std::to_string(mode));
}
}  // namespace

// Bytes raid_null_align allocates (0 for an unknown mode).
double raid_null_align_memory(int64_t n, int32_t dim, int32_t n_classes, int32_t mode) {
    if (mode != RAID_NULL_ALIGN_MEAN && mode != RAID_NULL_ALIGN_GAUSSIAN) return 0.0;
    return raid::NullAlignMemory(n, dim, n_classes, ToNullAlignMode(mode));
}

// The defense's calibrated last step on a copy of the user embeddings.
raid_status raid_null_align(float* rows, int64_t n, int32_t dim, const int32_t* user_class,
                            int32_t n_classes, uint64_t seed, int32_t mode,
                            raid_null_align_summary* out, raid_error* err) {
    return Guard(err, [&] {
        Require(out, "summary");
        if (n > 0) {
            Require(rows, "rows");
            Require(user_class, "user classes");
        }
        const raid::NullAlignMode m = ToNullAlignMode(mode);
        const std::vector<int32_t> classes(user_class, user_class + (n > 0 ? n : 0));
        const raid::NullAlignSummary s = raid::NullAlign(rows, dim, n, dim, classes, n_classes, seed, m);
        *out = s;
    });
}

namespace {
raid::PosthocAlignMode ToPosthocMode(int32_t mode) {
    if (mode == RAID_POSTHOC_CENTER) return raid::PosthocAlignMode::kCenter;
    if (mode == RAID_POSTHOC_GAUSSIAN) return raid::PosthocAlignMode::kGaussian;
    throw raid::InvalidArgument("post-hoc alignment: unknown mode " + std::to_string(mode));
}
}  // namespace

// Bytes raid_posthoc_align allocates (0 for an unknown mode).
double raid_posthoc_align_memory(int64_t n, int32_t dim, int32_t n_classes, int32_t mode) {
    if (mode != RAID_POSTHOC_CENTER && mode != RAID_POSTHOC_GAUSSIAN) return 0.0;
    return raid::PosthocAlignMemory(n, dim, n_classes, ToPosthocMode(mode));
}

// The 'center' and 'gaussian' baselines on user embeddings.
raid_status raid_posthoc_align(float* rows, int64_t n, int32_t dim, const int32_t* user_class,
                               int32_t n_classes, int32_t mode, raid_posthoc_summary* out, raid_error* err) {
    return Guard(err, [&] {
        Require(out, "summary");
        if (n > 0) {
            Require(rows, "rows");
            Require(user_class, "user classes");
        }
        const raid::PosthocAlignMode m = ToPosthocMode(mode);
        const std::vector<int32_t> classes(user_class, user_class + (n > 0 ? n : 0));
        *out = raid::PosthocAlign(rows, dim, n, dim, classes, n_classes, m);
    });
}

// The 'unlearn' baseline on user embeddings.
raid_status raid_unlearn(float* rows, int64_t n, int32_t dim, const float* items, int64_t n_items,
                         const int32_t* user_class, int32_t n_classes, const raid_unlearn_options* opts,
                         uint64_t seed, raid_posthoc_summary* out, raid_error* err) {
    return Guard(err, [&] {
        Require(out, "summary");
        Require(opts, "options");
        Require(items, "items");
        if (n > 0) {
            Require(rows, "rows");
            Require(user_class, "user classes");
        }
        raid::UnlearnOptions o;
        o.steps = opts->unlearn_steps;
        o.lr = opts->unlearn_lr;
        o.weight = opts->unlearn_weight;
        o.batch = opts->unlearn_batch;
        o.seed = seed;
        const std::vector<int32_t> classes(user_class, user_class + (n > 0 ? n : 0));
        *out = raid::Unlearn(rows, n, dim, items, n_items, classes, n_classes, o);
    });
}

// The 'dp' baseline on user embeddings.
raid_status raid_dp_noise(float* rows, int64_t n, int32_t dim, double epsilon, double delta, double clip,
                          uint64_t seed, int32_t threads, raid_posthoc_summary* out, raid_error* err) {
    return Guard(err, [&] {
        Require(out, "summary");
        if (n > 0) Require(rows, "rows");
        *out = raid::DpNoise(rows, n, dim, epsilon, delta, clip, seed, threads);
    });
}

// Turns on the adversarial baseline.
raid_status raid_mf_set_adversary(raid_trainer* tr, const int32_t* user_class, int32_t n_classes,
                                  const raid_adversarial_options* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        Require(opts, "options");
        Require(user_class, "user classes");
        raid::AdversaryOptions o;
        o.hidden = opts->adv_hidden;
        o.lr = opts->adv_lr;
        o.seed = tr->impl->options().seed;
        const std::vector<int32_t> classes(user_class, user_class + tr->impl->n_users());
        tr->impl->SetAdversary(classes, n_classes, o, opts->adv_weight, opts->adv_epochs, opts->adv_start);
    });
}

// Fills the defense summary (zeros if the defense is off).
raid_status raid_mf_get_defense_summary(const raid_trainer* tr, int32_t attribute,
                                        raid_defense_summary* out, raid_error* err) {
    return Guard(err, [&] {
        Require(tr, "trainer");
        Require(tr->impl.get(), "trainer");
        Require(out, "summary");
        if (attribute < 0 || (attribute > 0 && attribute >= tr->impl->defense_count()))
            throw raid::InvalidArgument("the trainer has no protected attribute " + std::to_string(attribute));
        *out = tr->impl->defense_summary(attribute);
    });
}

/* ---------------------------------------------------------------- options */

// The options of a group (NULL for an unknown group).
const raid_option_info* raid_option_infos(raid_option_group group, int32_t* n) {
    int count = 0;
    const raid_option_info* infos = nullptr;
    Guard(nullptr, [&] { infos = raid::OptionInfos(group, &count); });
    if (n != nullptr) *n = count;
    return infos;
}

// Fills a group's struct with its defaults.
raid_status raid_options_default(raid_option_group group, void* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        raid::SetOptionDefaults(group, opts);
    });
}

// Checks a group's struct against the declared ranges.
raid_status raid_options_validate(raid_option_group group, const void* opts, raid_error* err) {
    return Guard(err, [&] {
        Require(opts, "options");
        raid::ValidateOptions(group, opts);
    });
}

}  // extern "C"

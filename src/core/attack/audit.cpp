// audit.cpp: validation, task scheduling and aggregation of a leakage audit.
#include "audit.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <cmath>
#include <string>

#include "../eval/classification.h"

namespace raid {

namespace {

}  // namespace

// The MLP's hyperparameters.
MlpOptions AuditOptions::Mlp() const {
    MlpOptions o;
    o.hidden = mlp_hidden;
    o.max_epochs = mlp_max_epochs;
    o.batch = mlp_batch;
    o.lr = mlp_lr;
    o.l2 = mlp_l2;
    o.validation = mlp_validation;
    o.patience = mlp_patience;
    return o;
}

// Logistic regression's hyperparameters.
LogisticOptions AuditOptions::Logistic() const {
    LogisticOptions o;
    o.c = logistic_c;
    o.max_iter = logistic_max_iter;
    return o;
}

// kNN's hyperparameters.
KnnOptions AuditOptions::Knn() const {
    KnnOptions o;
    o.k = knn_k;
    return o;
}

// QDA's hyperparameters.
QdaOptions AuditOptions::Qda() const {
    QdaOptions o;
    o.reg = qda_reg;
    return o;
}

// The RBF attacker's hyperparameters (its L-BFGS cap is logistic regression's).
RbfOptions AuditOptions::Rbf() const {
    RbfOptions o;
    o.features = rbf_features;
    o.c = rbf_c;
    o.max_iter = logistic_max_iter;
    return o;
}

// Name of an attacker.
const char* AttackerName(int32_t attacker) {
    switch (attacker) {
        case kAttackerMlp:
            return "mlp";
        case kAttackerLogistic:
            return "logistic";
        case kAttackerKnn:
            return "knn";
        case kAttackerQda:
            return "qda";
        case kAttackerRbf:
            return "rbf";
        default:
            return "unknown";
    }
}

// Bytes of an audit's inputs and plan (see audit.h).
double AuditBaseBytes(int64_t n, int32_t dim, int32_t folds) {
    const double dn = static_cast<double>(n);
    return 4.0 * dn * dim + 12.0 * dn + 4.0 * dn + 8.0 * dn * folds + 32.0 * dn;
}

// Bytes of the largest task of an audit (see audit.h).
double AuditTaskBytes(int64_t n, int32_t dim, int32_t classes, const AuditOptions& o) {
    const double dn = static_cast<double>(n);
    double attacker = 0.0;
    if ((o.attackers & kAttackerMlp) != 0)
        attacker = std::max(attacker, MlpFitBytes(n, dim, classes, o.Mlp()));
    const int64_t n_test = (n + o.folds - 1) / std::max(o.folds, 1);
    if ((o.attackers & kAttackerLogistic) != 0)
        attacker = std::max(attacker, LogisticFitBytes(n, n_test, dim, classes));
    if ((o.attackers & kAttackerKnn) != 0)
        attacker = std::max(attacker, KnnPredictBytes(n, n_test, dim, classes));
    if ((o.attackers & kAttackerQda) != 0)
        attacker = std::max(attacker, QdaFitBytes(n, n_test, dim, classes));
    if ((o.attackers & kAttackerRbf) != 0)
        attacker = std::max(attacker, RbfFitBytes(n, n_test, dim, classes, o.Rbf()));
    return 4.0 * dn * dim + 16.0 * dn + 8.0 * dn * classes + attacker;
}

// Validates, copies the inputs and builds the plan and the task list.
Audit::Audit(const float* x, const int64_t* ids, const int32_t* labels, int64_t n, int32_t dim,
             int32_t classes, const AuditOptions& options)
    : n_(n), dim_(dim), classes_(classes), options_(options) {
    options_.Validate();
    if (classes < 2 || classes > kMaxAuditClasses)
        throw InvalidArgument("an audit needs between 2 and " + std::to_string(kMaxAuditClasses) +
                              " classes, got " + std::to_string(classes));
    if (dim < 1) throw InvalidArgument("dim must be at least 1, got " + std::to_string(dim));
    if (n < 0) throw InvalidArgument("n must not be negative, got " + std::to_string(n));
    if (n > kMaxAuditValues / dim)
        throw LimitExceeded("an audit of " + std::to_string(n) + " users x " + std::to_string(dim) +
                            " dims exceeds the limit of " + std::to_string(kMaxAuditValues) +
                            " values");
    if (n > 0 && (x == nullptr || ids == nullptr || labels == nullptr))
        throw InvalidArgument("embeddings, ids and labels must not be null");
    // Memory: as many parallel tasks as fit in the budget, at least one.
    const double base = AuditBaseBytes(n, dim, options_.folds);
    const double task = AuditTaskBytes(n, dim, classes, options_);
    CheckMemory(base + task, "the audit");
    threads_ = ResolveThreads(options_.threads);
    while (threads_ > 1 && !FitsMemory(base + threads_ * task)) --threads_;
    // Labels and class sizes first (the plan checks them), then the features.
    plan_ =
        MakeFoldPlan(ids, labels, n, classes, options_.folds, options_.seed, options_.balance != 0);
    const int64_t poll_rows = std::max<int64_t>(1, (int64_t{1} << 16) / dim);
    for (int64_t i = 0; i < n; ++i) {
        if (i % poll_rows == 0) ThrowIfInterrupted("audit");
        for (int32_t j = 0; j < dim; ++j)
            if (!std::isfinite(x[i * dim + j]))
                throw DataError("feature " + std::to_string(j) + " of user " +
                                std::to_string(ids[i]) + " is not finite");
    }
    x_.assign(x, x + n * dim);
    ids_.assign(ids, ids + n);
    labels_.assign(labels, labels + n);
    for (int32_t attacker : kAttackerOrder) {
        if ((options_.attackers & attacker) == 0) continue;
        for (int32_t f = 0; f < options_.folds; ++f) tasks_.push_back({attacker, f});
    }
    task_results_.resize(tasks_.size());
}

// Trains one attacker on one fold and scores its test users.
FoldResult Audit::RunTask(const Task& task) const {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int64_t>& train = plan_.train[task.fold];
    const std::vector<int64_t>& test = plan_.test[task.fold];
    RowMatrixF x_train, x_test;
    GatherStandardized(x_.data(), dim_, train, test, &x_train, &x_test);
    std::vector<int32_t> y_train(train.size()), y_test(test.size());
    std::vector<int64_t> id_train(train.size());
    for (size_t r = 0; r < train.size(); ++r) {
        y_train[r] = labels_[train[r]];
        id_train[r] = ids_[train[r]];
    }
    for (size_t r = 0; r < test.size(); ++r) y_test[r] = labels_[test[r]];

    const uint64_t key = Key(options_.seed, kTagAttack, static_cast<uint64_t>(task.attacker),
                             static_cast<uint64_t>(task.fold));
    FoldResult out;
    RowMatrixD proba;
    if (task.attacker == kAttackerMlp) {
        Mlp mlp;
        mlp.Fit(x_train, y_train.data(), id_train.data(), classes_, options_.Mlp(), key);
        proba = mlp.PredictProba(x_test);
        out.iterations = mlp.summary().epochs;
    } else if (task.attacker == kAttackerLogistic) {
        LogisticRegression lr;
        lr.Fit(x_train, y_train.data(), classes_, options_.Logistic());
        proba = lr.PredictProba(x_test);
        out.iterations = lr.summary().iterations;
    } else if (task.attacker == kAttackerKnn) {
        KnnClassifier knn;
        knn.Fit(x_train, y_train.data(), classes_, options_.Knn());
        proba = knn.PredictProba(x_test);
        out.iterations = 0;  // nothing iterative (audit.h)
    } else if (task.attacker == kAttackerRbf) {
        RbfClassifier rbf;
        rbf.Fit(x_train, y_train.data(), classes_, options_.Rbf(), key);
        proba = rbf.PredictProba(x_test);
        out.iterations = rbf.summary().iterations;
    } else {
        raid::Qda qda;
        qda.Fit(x_train, y_train.data(), classes_, options_.Qda());
        proba = qda.PredictProba(x_test);
        out.iterations = 0;
    }
    if (!proba.allFinite())
        throw DataError(std::string("the ") + AttackerName(task.attacker) +
                        " attacker's predictions are not finite in fold " +
                        std::to_string(task.fold));
    const int64_t n_test = static_cast<int64_t>(test.size());
    std::vector<int32_t> predicted(test.size());
    for (int64_t r = 0; r < n_test; ++r) predicted[r] = ArgMax(proba.row(r).data(), classes_);
    const ConfusionMatrix cm = Confusion(y_test.data(), predicted.data(), n_test, classes_);
    out.f1 = MacroF1(cm);
    out.balanced_accuracy = BalancedAccuracy(cm);
    out.auc = MulticlassAuc(proba.data(), y_test.data(), n_test, classes_);
    out.train_users = static_cast<int64_t>(train.size());
    out.test_users = n_test;
    out.seconds = SecondsSince(t0);
    return out;
}

// Runs the next batch of tasks, one per thread.
bool Audit::Step(double* fraction) {
    if (failure_) std::rethrow_exception(failure_);
    if (!done()) {
        const size_t first = next_;
        const int count =
            static_cast<int>(std::min(static_cast<size_t>(threads_), tasks_.size() - next_));
        ParallelErrors errors;
#pragma omp parallel for num_threads(count) schedule(dynamic, 1)
        for (int j = 0; j < count; ++j)
            errors.Run([&] { task_results_[first + j] = RunTask(tasks_[first + j]); });
        try {
            errors.Rethrow();
        } catch (...) {
            failure_ = std::current_exception();
            throw;
        }
        next_ += static_cast<size_t>(count);
    }
    if (fraction != nullptr)
        *fraction =
            tasks_.empty() ? 1.0 : static_cast<double>(next_) / static_cast<double>(tasks_.size());
    return done();
}

// The first task the next Step() runs.
bool Audit::NextTask(int32_t* attacker, int32_t* fold) const {
    if (done()) return false;
    if (attacker != nullptr) *attacker = tasks_[next_].attacker;
    if (fold != nullptr) *fold = tasks_[next_].fold;
    return true;
}

// Runs every remaining task.
void Audit::Run() {
    while (!Step()) {
    }
}

// Means and sample deviations over the folds, one result per attacker.
std::vector<AttackResult> Audit::Results() const {
    if (!done()) throw InvalidArgument("the audit has not finished");
    std::vector<AttackResult> results;
    for (int32_t attacker : kAttackerOrder) {
        if ((options_.attackers & attacker) == 0) continue;
        AttackResult r;
        r.attacker = attacker;
        r.classes = classes_;
        r.users = n_;
        r.folds = 0;
        r.chance = 1.0 / classes_;
        std::vector<double> f1, bacc, auc;
        for (size_t t = 0; t < tasks_.size(); ++t) {
            if (tasks_[t].attacker != attacker) continue;
            const FoldResult& fr = task_results_[t];
            if (r.folds == RAID_MAX_FOLDS) throw std::logic_error("more folds than RAID_MAX_FOLDS");
            r.fold[r.folds++] = fr;
            f1.push_back(fr.f1);
            bacc.push_back(fr.balanced_accuracy);
            auc.push_back(fr.auc);
            r.seconds += fr.seconds;
        }
        r.f1 = Mean(f1);
        r.f1_std = SampleStd(f1);
        r.balanced_accuracy = Mean(bacc);
        r.balanced_accuracy_std = SampleStd(bacc);
        r.auc = Mean(auc);
        r.auc_std = SampleStd(auc);
        results.push_back(std::move(r));
    }
    return results;
}

}  // namespace raid

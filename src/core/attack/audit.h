// audit.h: a leakage audit, i.e. attribute-inference attackers under
// stratified k-fold cross-validation over users.
//
// Vocabulary:
//   attacker   a classifier that predicts a user's class from its embedding:
//              the MLP (mlp.h), logistic regression (logistic.h), k nearest
//              neighbours (knn.h) and quadratic discriminant analysis
//              (qda.h); kNN finds nonlinear leakage and QDA second-order
//              leakage (classes whose covariances differ even where their
//              means agree), which the linear model cannot see; the
//              RBF-kernel classifier (rbf.h) is opt-in, not in the default
//              set (kAllAttackers)
//   plan       the folds and (balanced) training sets, crossval.h
//   task       one (attacker, fold) pair: standardise the fold (crossval.h),
//              train the attacker on its training users, score its test
//              users, compute macro-F1, BAcc and AUC (classification.h).
//              Tasks are ordered MLP folds 0..k-1, then logistic, kNN and
//              QDA (and RBF) folds 0..k-1 (kAttackerOrder); task (a, f) is
//              seeded by Key(seed, kTagAttack, a, f) (kNN and QDA draw
//              nothing random)
//              and runs single-threaded, so results do not depend on the
//              thread count or on the input row order
//   step       Step() runs the next min(threads, remaining) tasks in one
//              OpenMP parallel for, so the caller can check for cancellation
//              between steps
//   result     per attacker: the mean and sample standard deviation (ddof = 1)
//              of each metric over the folds, the per-fold figures, and
//              `seconds`, the sum of the wall times of its tasks (CPU-like
//              time: with several threads the elapsed time is shorter)
//   iterations per fold: MLP epochs, L-BFGS iterations of logistic
//              regression and of the RBF attacker, 0 for kNN and QDA
//              (closed-form fits)
//
// Limits: n * dim <= kMaxAuditValues.
//
// Memory (checked against the budget of common.h when the audit is created):
//   base      AuditBaseBytes: the input copy (4 n dim), ids and labels
//             (12 n), the plan (4 n + 8 n folds) and its sort keys (32 n)
//   per task  AuditTaskBytes: the fold's standardised copy (4 n dim), labels
//             and ids (16 n), predictions (8 n classes), plus the largest of
//             MlpFitBytes (mlp.h), LogisticFitBytes (logistic.h),
//             KnnPredictBytes (knn.h), QdaFitBytes (qda.h) and RbfFitBytes
//             (rbf.h) of the attackers in use
// The audit runs t tasks at once, t = the largest thread count (at most
// `threads`) with base + t * per task within the budget; if even one task
// does not fit, the audit is refused.
//
// Cancellation: the tasks poll the interrupt check (per minibatch and epoch
// of the MLP, per objective evaluation of logistic regression, per block of
// test users of kNN, per class and block of QDA, every few thousand rows
// while standardising); an interrupted Step() throws
// Interrupted("audit cancelled") and so does every later Step().
#ifndef RAID_CORE_ATTACK_AUDIT_H
#define RAID_CORE_ATTACK_AUDIT_H

#include <cstdint>
#include <exception>
#include <vector>

#include "../common.h"
#include "../options.h"
#include "../raid_results.h"
#include "crossval.h"
#include "knn.h"
#include "logistic.h"
#include "mlp.h"
#include "rbf.h"
#include "qda.h"

namespace raid {

// Bits of AuditOptions::attackers (the values of raid_attacker_kind).
enum AttackerKind : int32_t {
    kAttackerMlp = 1,
    kAttackerLogistic = 2,
    kAttackerKnn = 4,
    kAttackerQda = 8,
    kAttackerRbf = 16,
};

// Every attacker, in the order of the tasks and of Results().
constexpr int32_t kAttackerOrder[] = {kAttackerMlp, kAttackerLogistic, kAttackerKnn, kAttackerQda,
                                      kAttackerRbf};
// The default set (the RBF attacker is opt-in) and every attacker.
constexpr int32_t kAllAttackers = kAttackerMlp | kAttackerLogistic | kAttackerKnn | kAttackerQda;
constexpr int32_t kEveryAttacker = kAllAttackers | kAttackerRbf;

constexpr int32_t kMaxAuditFolds = 20;
constexpr int64_t kMaxAuditValues = int64_t{1} << 27;  // n * dim (512 MiB of floats)
constexpr int32_t kMaxAuditClasses = 1024;

struct AuditOptions;

// Bytes of an audit's inputs and plan (see Memory above).
double AuditBaseBytes(int64_t n, int32_t dim, int32_t folds);

// Bytes of the largest task of an audit (see Memory above).
double AuditTaskBytes(int64_t n, int32_t dim, int32_t classes, const AuditOptions& options);

// Options of an audit: the fields, defaults and ranges of RAID_AUDIT_OPTIONS
// (raid_options.h).
struct AuditOptions : raid_audit_options {
    AuditOptions() : raid_audit_options() { SetOptionDefaults(RAID_OPTION_GROUP_AUDIT, this); }
    AuditOptions(const raid_audit_options& o) : raid_audit_options(o) {}  // NOLINT

    // Throws InvalidArgument naming the first bad field, e.g.
    // option "folds" must be between 2 and 20, got 1
    void Validate() const { ValidateOptions(RAID_OPTION_GROUP_AUDIT, this); }

    MlpOptions Mlp() const;
    LogisticOptions Logistic() const;
    KnnOptions Knn() const;
    QdaOptions Qda() const;
    RbfOptions Rbf() const;
};

// Figures of one (attacker, fold) task.
struct FoldResult : raid_fold_result {
    FoldResult() : raid_fold_result() {}
};

// Cross-validated figures of one attacker.
// (raid_results.h; seconds: the sum of its tasks' wall times; fold[0 .. folds)).
struct AttackResult : raid_attack_result {
    AttackResult() : raid_attack_result() {}
};

// One audit, run step by step.
class Audit {
  public:
    // Validates the options and the data (see raid_audit_create) and copies
    // the inputs: x is n x dim row-major, labels are 0 .. classes-1.
    Audit(const float* x, const int64_t* ids, const int32_t* labels, int64_t n, int32_t dim,
          int32_t classes, const AuditOptions& options);

    // Runs the next min(threads, remaining) tasks in parallel; returns true
    // once every task has run.  *fraction (if not null) is the share done.
    // After a task failed, every later call rethrows its error.
    bool Step(double* fraction = nullptr);

    // Runs Step() to the end.
    void Run();

    // The next step's first task: its attacker and fold (0-based); false
    // once every task has run.
    bool NextTask(int32_t* attacker, int32_t* fold) const;

    bool done() const { return next_ == tasks_.size(); }
    int threads() const { return threads_; }  // tasks run at once (after the memory cap)
    int64_t n() const { return n_; }
    const FoldPlan& plan() const { return plan_; }
    const AuditOptions& options() const { return options_; }

    // One result per attacker in use, in kAttackerOrder (MLP, logistic, kNN,
    // QDA); throws InvalidArgument before done().
    std::vector<AttackResult> Results() const;

  private:
    struct Task {
        int32_t attacker;
        int32_t fold;
    };

    FoldResult RunTask(const Task& task) const;

    std::vector<float> x_;
    std::vector<int64_t> ids_;
    std::vector<int32_t> labels_;
    int64_t n_ = 0;
    int32_t dim_ = 0;
    int32_t classes_ = 0;
    AuditOptions options_;
    int threads_ = 1;
    FoldPlan plan_;
    std::vector<Task> tasks_;
    std::vector<FoldResult> task_results_;
    size_t next_ = 0;
    std::exception_ptr failure_;
};

// Name of an attacker ("mlp", "logistic", "knn", "qda").
const char* AttackerName(int32_t attacker);

}  // namespace raid

#endif  // RAID_CORE_ATTACK_AUDIT_H

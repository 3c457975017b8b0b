/*
 * raid_options.h: every option of raid, declared once.
 *
 * Plain C, included by the core (C++), by the C ABI (raid_capi.h re-exports
 * it) and so by the PostgreSQL glue.  Each group of options is one X-macro
 * list; from it come
 *   - the C struct of the group (raid_mf_options, ...), which the core's
 *     option classes extend (raid::MfOptions derives from raid_mf_options),
 *   - the defaults (raid_options_default),
 *   - the range checks, in the core and in the glue (raid_option_infos),
 *   - the glue's JSON parsing and printing of the `options` argument,
 *   - the option tables of docs/reference.md (a unit test fails when they
 *     are out of date; `make reference` rewrites them).
 * Adding an option is one line here plus its use (see CONTRIBUTING.md).
 *
 * Each entry is X(name, type, default, min, max, flags, meaning):
 *   type     INT32, INT64, UINT64, DOUBLE, BOOL (an int32_t 0/1) or
 *            ATTACKERS (an int32_t mask of raid_attacker_kind, given in SQL as
 *            an array of names)
 *   min, max the accepted range, inclusive unless RAID_OPTION_MIN_EXCLUSIVE
 *            (ignored for BOOL; for ATTACKERS the mask's range)
 *   flags    RAID_OPTION_MIN_EXCLUSIVE: min itself is refused;
 *            RAID_OPTION_ZERO_OK: 0 is accepted besides the range;
 *            RAID_OPTION_INTERNAL: set by the caller, not an SQL option
 *   meaning  the reference documentation's text (Markdown)
 */
#ifndef RAID_OPTIONS_H
#define RAID_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attackers, usable as bits of an ATTACKERS option.  kNN finds nonlinear
 * leakage and QDA second-order leakage (class covariances that differ where
 * the class means agree), which logistic regression misses.
 */
typedef enum raid_attacker_kind
{
	RAID_ATTACKER_MLP = 1,		/* one hidden ReLU layer, Adam, early stopping */
	RAID_ATTACKER_LOGISTIC = 2, /* multinomial logistic regression, L2 */
	RAID_ATTACKER_KNN = 4,		/* k nearest neighbours, Euclidean, uniform votes */
	RAID_ATTACKER_QDA = 8,		/* Gaussian classes with their own regularised
								 * covariances (quadratic discriminant analysis) */
	RAID_ATTACKER_RBF = 16		/* RBF-kernel classifier (random Fourier features
								 * and logistic regression); opt-in */
} raid_attacker_kind;

/* X(kind, SQL name), in the order of an audit's results. */
#define RAID_ATTACKER_LIST(X) \
	X(RAID_ATTACKER_MLP, "mlp") \
	X(RAID_ATTACKER_LOGISTIC, "logistic") \
	X(RAID_ATTACKER_KNN, "knn") \
	X(RAID_ATTACKER_QDA, "qda") \
	X(RAID_ATTACKER_RBF, "rbf")

/* The default mask of an audit: every attacker but the opt-in RBF one. */
#define RAID_ATTACKERS_ALL (RAID_ATTACKER_MLP | RAID_ATTACKER_LOGISTIC | \
							RAID_ATTACKER_KNN | RAID_ATTACKER_QDA)
#define RAID_ATTACKERS_EVERY (RAID_ATTACKERS_ALL | RAID_ATTACKER_RBF)

/* The most results an audit returns (one per attacker). */
#define RAID_MAX_ATTACKERS 5

#define RAID_MAX_FOLDS 20

#define RAID_OPTION_MIN_EXCLUSIVE 1
#define RAID_OPTION_ZERO_OK 2
#define RAID_OPTION_INTERNAL 4

/* The largest seed: seeds are bigint in SQL. */
#define RAID_MAX_SEED 9223372036854775807.0

/* ------------------------------------------------------------------------
 * raid.train: matrix factorisation (core: raid::MfOptions)
 * ------------------------------------------------------------------------ */
#define RAID_MF_OPTIONS(X) \
	X(dim, INT32, 64, 1, 1024, 0, "embedding dimension") \
	X(epochs, INT32, 30, 1, 10000, 0, "passes over the training interactions") \
	X(lr, DOUBLE, 0.1, 0, 10, RAID_OPTION_MIN_EXCLUSIVE, \
	  "learning rate (step size of row-wise Adagrad)") \
	X(negatives, INT32, 4, 0, 1000, 0, "negatives sampled per training interaction") \
	X(l2, DOUBLE, 0.03, 0, 10, 0, "L2 penalty on the embedding rows each update touches") \
	X(init_std, DOUBLE, 0.1, 0, 10, RAID_OPTION_MIN_EXCLUSIVE, \
	  "standard deviation of the normal initial embeddings") \
	X(seed, UINT64, 42, 0, RAID_MAX_SEED, 0, \
	  "seeds the split, the initialisation, the shuffles and the negatives") \
	X(threads, INT32, 0, 0, 1024, 0, \
	  "threads for training and evaluation. 0 means all cores (OpenMP's default). " \
	  "`raid.max_threads` caps it.") \
	X(chunk, INT64, 65536, 1, RAID_MAX_SEED, RAID_OPTION_INTERNAL, \
	  "positives per raid_mf_step() call")

/* raid.train, any defense (glue) */
#define RAID_TRAIN_OPTIONS(X) \
	X(replace, BOOL, 0, 0, 1, 0, \
	  "replace an existing model of the same name instead of raising `42710`") \
	X(holdout, BOOL, 1, 0, 1, 0, \
	  "hold out one interaction per user and evaluate. If false, train on everything " \
	  "and leave the metrics NULL.")

/* ------------------------------------------------------------------------
 * raid.train with defense => 'raid': the pull (core: raid::DefenseOptions)
 * ------------------------------------------------------------------------ */
#define RAID_DEFENSE_OPTIONS(X) \
	X(phase1_epochs, INT32, 5, 0, 10000, 0, \
	  "epochs of Phase I, the recommendation loss alone. 0 pulls from the first epoch; " \
	  "`epochs` or more means no Phase II (an undefended model).") \
	X(eta, DOUBLE, 0.25, 0, 1e6, RAID_OPTION_MIN_EXCLUSIVE, \
	  "strength of the pull in Phase II, relative to one training group's cross-entropy " \
	  "gradient") \
	X(tau, DOUBLE, 1.0, 1e-6, 100, 0, \
	  "entropic regularisation of the transport, relative to the median squared distance " \
	  "between the class samples and the barycenter") \
	X(xi, INT32, 16, 1, 1000000, 0, \
	  "sub-steps of the training schedule between recomputations of the barycenter and " \
	  "the pulls (an epoch has P sub-steps, P = 16 for catalogues of 1,024 items or more)") \
	X(m, INT32, 64, 2, 65536, 0, "points of the barycenter's support") \
	X(sinkhorn_iters, INT32, 200, 1, 1000000, 0, "most iterations of one Sinkhorn solve") \
	X(sinkhorn_tol, DOUBLE, 1e-3, 0, 1, RAID_OPTION_MIN_EXCLUSIVE, \
	  "a Sinkhorn solve stops once its marginal error (L1) is at most this") \
	X(sample, INT32, 1024, 2, 100000000, RAID_OPTION_ZERO_OK, \
	  "users per class drawn (seeded, once) for the barycenter. 0 means all. A " \
	  "barycenter from few users per class leaves more leakage (256 per class left an " \
	  "RBF SVM 0.03 further from chance on MovieLens gender than all users).") \
	X(barycenter_iters, INT32, 1, 1, 1000, 0, \
	  "most barycenter updates per recomputation (the first recomputation runs up to 10, " \
	  "or this many if larger)")

/* raid.train with defense => 'raid': the leakage target (glue) */
#define RAID_TARGET_OPTIONS(X) \
	X(target, DOUBLE, 0.03, 0, 0.5, 0, \
	  "the leakage target: after training, raid audits the defended embeddings (see " \
	  "below) and the model meets the target when the strongest attacker's balanced " \
	  "accuracy is within `target` of chance, above or below (or within the noise floor, " \
	  "where the data is too small to measure that finely). A missed target raises a " \
	  "WARNING; the model is stored either way. 0 skips the check.") \
	X(adapt, BOOL, 1, 0, 1, 0, \
	  "with `target` > 0, run the pull only while it is needed. At the end of Phase I " \
	  "raid audits the embeddings (the gate): unless an attacker is more than `target` " \
	  "plus the noise floor above chance, the pull stays paused (`eta_final` 0), since " \
	  "pulling classes that do not differ aligns them more exactly than random groups of " \
	  "users are, which attackers read as signal (on random labels the pull alone " \
	  "reached QDA 0.16 below chance). With more `checkpoints`, later audits resume a " \
	  "paused pull when leakage returns, double `eta` (at most 4x) while any attacker is " \
	  "above that bar both as the embeddings are and after the final step's Gaussian " \
	  "map (audited on a copy: what the final step removes need not be pulled), and " \
	  "otherwise halve it (at least `eta` / 8) while the strongest is more than the bar " \
	  "below chance (over-aligned means, which the final step repairs; the signal an " \
	  "attacker still finds above chance, it does not).") \
	X(checkpoints, INT32, 3, 1, 100, 0, \
	  "internal audits with `adapt`: the end of Phase I (the gate), then evenly over " \
	  "Phase II (with 3 and 30 epochs: epochs 5, 13 and 21). The later ones let the pull " \
	  "slow down once it has aligned the classes: on MovieLens age groups it keeps " \
	  "0.985x of the undefended NDCG@10 instead of 0.916x with the gate alone, at the " \
	  "same leakage. The gate, and a checkpoint that would resume a paused pull, measure " \
	  "the noise floor on three shuffles of the labels; a checkpoint of a running pull " \
	  "on one (see [BENCHMARKS.md](../BENCHMARKS.md#checkpoints)).") \
	X(align, BOOL, 1, 0, 1, 0, \
	  "with `target` > 0, end with the calibrated alignment: raid audits the embeddings " \
	  "as trained, with each class's mean moved onto a draw of what a random group of " \
	  "users of its size would show, and with its mean and covariance mapped onto such a " \
	  "draw (the Gaussian optimal-transport map; classes with no more users than " \
	  "dimensions keep their spread), and keeps the least leaky " \
	  "(`metrics.defense.final_step`). The draws come from the pooled Gaussian and the " \
	  "seed, not from the users: classes made exactly equal leak below chance, and " \
	  "targets built from the users themselves leak through the users they share.") \
	X(target_attackers, ATTACKERS, \
	  RAID_ATTACKER_LOGISTIC | RAID_ATTACKER_KNN | RAID_ATTACKER_QDA, \
	  1, RAID_ATTACKERS_EVERY, 0, \
	  "the attackers of the internal audits (the gate, the final step and the check). " \
	  "`\"mlp\"` among them runs last, and only in audits where the others find nothing " \
	  "above the bar, the only ones where it can change a decision. With it, gender and " \
	  "age groups protected together on MovieLens 100K end 0.028 from chance instead of " \
	  "0.036, at 0.927x NDCG@10 instead of 0.893x; on a few hundred users its own noise " \
	  "(0.06 on 300) exceeds the target. " \
	  "Adding `\"rbf\"` makes them see what an RBF-kernel SVM sees, at about 0.3 s more " \
	  "per audit on MovieLens 100K (eight audits per training)")

/* ------------------------------------------------------------------------
 * raid.train with defense => 'dp': post-training noise (core: posthoc/dp.h)
 * ------------------------------------------------------------------------ */
#define RAID_DP_OPTIONS(X) \
	X(epsilon, DOUBLE, 1.0, 0, 1e6, RAID_OPTION_MIN_EXCLUSIVE, \
	  "the privacy budget of each user's released embedding") \
	X(delta, DOUBLE, 1e-5, 0, 0.5, 0, \
	  "the Gaussian mechanism's delta (the analytic calibration of Balle & Wang, 2018). " \
	  "0 selects the Laplace mechanism (pure epsilon-DP, rows clipped in L1 norm).") \
	X(clip, DOUBLE, 0, 0, 1e6, 0, \
	  "the norm C each row is clipped to before the noise (L2; L1 with `delta` 0); the " \
	  "sensitivity is 2C. 0 means the median norm of the trained rows, which is not " \
	  "itself private: give C for a formal guarantee.")

/* ------------------------------------------------------------------------
 * raid.train with defense => 'unlearn': post-training attribute unlearning
 * (core: posthoc/unlearn.h)
 * ------------------------------------------------------------------------ */
#define RAID_UNLEARN_OPTIONS(X) \
	X(unlearn_weight, DOUBLE, 1.0, 0, 1e6, 0, \
	  "the weight of keeping each user's scores (over every item) against making the " \
	  "classes indistinguishable (the MMD between them); smaller removes more leakage " \
	  "and moves users further") \
	X(unlearn_steps, INT32, 200, 1, 1000000, 0, "optimisation steps") \
	X(unlearn_lr, DOUBLE, 0.05, 0, 10, RAID_OPTION_MIN_EXCLUSIVE, \
	  "step size, in units of the kernel's bandwidth (the median distance between " \
	  "users); capped where the score term alone would oscillate") \
	X(unlearn_batch, INT32, 256, 2, 1000000, 0, "users drawn per class and step")

/* ------------------------------------------------------------------------
 * raid.train with defense => 'adversarial': in-training adversarial learning
 * (core: train/adversary.h, MfTrainer::SetAdversary)
 * ------------------------------------------------------------------------ */
#define RAID_ADVERSARIAL_OPTIONS(X) \
	X(adv_weight, DOUBLE, 0.03, 0, 1e6, 0, \
	  "the weight of the adversary's reversed gradient in each user's update, relative to " \
	  "one training group's cross-entropy gradient (0.1 and more overshoot on MovieLens-sized " \
	  "data: the users cross to the other class's side, below chance)") \
	X(adv_epochs, INT32, 5, 1, 10000, 0, \
	  "epochs the adversary trains at the start of every training epoch (warm-started)") \
	X(adv_hidden, INT32, 64, 1, 4096, 0, "hidden ReLU units of the adversary") \
	X(adv_lr, DOUBLE, 0.01, 0, 10, RAID_OPTION_MIN_EXCLUSIVE, "the adversary's Adam step size") \
	X(adv_start, INT32, 0, 0, 10000, 0, "the first epoch with the adversary")

/* ------------------------------------------------------------------------
 * raid.audit and raid.audit_embeddings (core: raid::AuditOptions)
 * ------------------------------------------------------------------------ */
#define RAID_AUDIT_OPTIONS(X) \
	X(folds, INT32, 5, 2, RAID_MAX_FOLDS, 0, \
	  "stratified folds. Every class needs at least this many users.") \
	X(seed, UINT64, 42, 0, RAID_MAX_SEED, 0, \
	  "seeds the folds, the balancing, and the MLP's held-out users, initial weights and " \
	  "minibatch order") \
	X(threads, INT32, 0, 0, 1024, 0, \
	  "(attacker, fold) tasks run at once. 0 means all cores (OpenMP's default). " \
	  "`raid.max_threads` caps it. The figures do not depend on it.") \
	X(attackers, ATTACKERS, RAID_ATTACKERS_ALL, 1, RAID_ATTACKERS_EVERY, 0, \
	  "the attackers to run, one row each. A single name may be given as a string. An " \
	  "empty array, or another name, raises `22023`.") \
	X(balance, BOOL, 1, 0, 1, 0, \
	  "cut each class of a training fold down to the size of its smallest class. If " \
	  "false, train on the folds as they are.") \
	X(mlp_hidden, INT32, 100, 1, 4096, 0, "hidden ReLU units of the MLP") \
	X(mlp_max_epochs, INT32, 200, 1, 100000, 0, \
	  "most epochs of the MLP (scikit-learn's `max_iter`)") \
	X(mlp_batch, INT32, 200, 1, 1000000, 0, "minibatch size (at most the training users)") \
	X(mlp_lr, DOUBLE, 1e-3, 0, 1, RAID_OPTION_MIN_EXCLUSIVE, \
	  "Adam's step size (`learning_rate_init`)") \
	X(mlp_l2, DOUBLE, 1e-4, 0, 100, 0, "L2 penalty on the MLP's weights (`alpha`)") \
	X(mlp_validation, DOUBLE, 0.1, 0, 0.5, RAID_OPTION_MIN_EXCLUSIVE, \
	  "share of each class of the training users held out for early stopping " \
	  "(`validation_fraction`), rounded up, and at most all but one user of the class") \
	X(mlp_patience, INT32, 10, 1, 10000, 0, \
	  "the MLP stops after `mlp_patience` + 1 epochs in a row without improvement " \
	  "(`n_iter_no_change`)") \
	X(logistic_c, DOUBLE, 1.0, 0, 1e6, RAID_OPTION_MIN_EXCLUSIVE, \
	  "inverse strength of the L2 penalty of logistic regression (`C`)") \
	X(logistic_max_iter, INT32, 200, 1, 100000, 0, \
	  "most L-BFGS iterations of logistic regression") \
	X(knn_k, INT32, 15, 1, 1000, 0, \
	  "neighbours that vote in the kNN attacker (all training users if fewer)") \
	X(qda_reg, DOUBLE, 0.1, 0, 1, 0, \
	  "QDA's shrinkage of each class covariance toward the identity, in the standardised " \
	  "space (scikit-learn's `reg_param`)") \
	X(rbf_features, INT32, 1024, 16, 16384, 0, \
	  "random Fourier features of the `rbf` attacker (more approximate the kernel better " \
	  "and cost more)") \
	X(rbf_c, DOUBLE, 1.0, 0, 1e6, RAID_OPTION_MIN_EXCLUSIVE, \
	  "inverse L2 strength of the `rbf` attacker's logistic regression")

/* raid.audit and raid.audit_embeddings (glue) */
#define RAID_AUDIT_RUN_OPTIONS(X) \
	X(store_folds, BOOL, 0, 0, 1, 0, \
	  "keep the cross-validation plan in `details.plan` (see [Reproducing the " \
	  "folds](design.md#reproducing-the-folds))") \
	X(null_run, BOOL, 0, 0, 1, 0, \
	  "also run every attacker on the attribute's values shuffled among the users (a " \
	  "seeded permutation: the same class sizes, no link to the embeddings). These rows " \
	  "have `shuffled` true; their largest `leakage` is the noise floor, stored in " \
	  "`details.noise_floor` of every row of the call.")

/* ------------------------------------------------------------------------
 * raid.synthetic's arguments (core: raid::SyntheticOptions)
 * ------------------------------------------------------------------------ */
#define RAID_SYNTHETIC_OPTIONS(X) \
	X(n_users, INT64, 1000, 2, 10000000, 0, "users") \
	X(n_items, INT64, 500, 2, 10000000, 0, "items") \
	X(interactions_per_user, INT32, 50, 1, 10000000, 0, \
	  "mean interactions per user; fewer than `n_items`") \
	X(classes, INT32, 2, 2, 64, 0, "classes of the planted attribute") \
	X(signal, DOUBLE, 1.0, 0, 100, 0, "strength of the attribute's effect on tastes") \
	X(signal_kind, INT32, 0, 0, 2, 0, \
	  "how the class enters tastes: a raid_signal_kind (mean, covariance, nonlinear)") \
	X(seed, UINT64, 42, 0, RAID_MAX_SEED, 0, "every random choice derives from it") \
	X(threads, INT32, 0, 0, 1024, RAID_OPTION_INTERNAL, "OpenMP threads, 0 = default")

/* The groups, in the order the glue prints them. */
#define RAID_OPTION_GROUPS(X) \
	X(MF, mf, RAID_MF_OPTIONS) \
	X(TRAIN, train, RAID_TRAIN_OPTIONS) \
	X(DEFENSE, defense, RAID_DEFENSE_OPTIONS) \
	X(TARGET, target, RAID_TARGET_OPTIONS) \
	X(DP, dp, RAID_DP_OPTIONS) \
	X(UNLEARN, unlearn, RAID_UNLEARN_OPTIONS) \
	X(ADVERSARIAL, adversarial, RAID_ADVERSARIAL_OPTIONS) \
	X(AUDIT, audit, RAID_AUDIT_OPTIONS) \
	X(AUDIT_RUN, audit_run, RAID_AUDIT_RUN_OPTIONS) \
	X(SYNTHETIC, synthetic, RAID_SYNTHETIC_OPTIONS)

/* C types of the option types */
#define RAID_OPTION_CTYPE_INT32 int32_t
#define RAID_OPTION_CTYPE_INT64 int64_t
#define RAID_OPTION_CTYPE_UINT64 uint64_t
#define RAID_OPTION_CTYPE_DOUBLE double
#define RAID_OPTION_CTYPE_BOOL int32_t
#define RAID_OPTION_CTYPE_ATTACKERS int32_t

#define RAID_OPTION_FIELD_(name, type, def, lo, hi, flags, doc) RAID_OPTION_CTYPE_##type name;
#define RAID_OPTION_STRUCT_(upper, lower, list) \
	typedef struct raid_##lower##_options { list(RAID_OPTION_FIELD_) } raid_##lower##_options;
RAID_OPTION_GROUPS(RAID_OPTION_STRUCT_)
#undef RAID_OPTION_STRUCT_

typedef enum raid_option_group
{
#define RAID_OPTION_GROUP_ENUM_(upper, lower, list) RAID_OPTION_GROUP_##upper,
	RAID_OPTION_GROUPS(RAID_OPTION_GROUP_ENUM_)
#undef RAID_OPTION_GROUP_ENUM_
	RAID_OPTION_GROUP_COUNT
} raid_option_group;

typedef enum raid_option_type
{
	RAID_OPTION_INT32,
	RAID_OPTION_INT64,
	RAID_OPTION_UINT64,
	RAID_OPTION_DOUBLE,
	RAID_OPTION_BOOL,
	RAID_OPTION_ATTACKERS
} raid_option_type;

/* One option as declared above; offset is into its group's struct. */
typedef struct raid_option_info
{
	const char *name;
	raid_option_type type;
	double		min;
	double		max;
	int32_t		flags;
	size_t		offset;
	const char *meaning;
} raid_option_info;

#ifdef __cplusplus
}
#endif

#endif							/* RAID_OPTIONS_H */

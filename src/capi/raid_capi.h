/*
 * raid_capi.h: the C ABI over raid's C++ core.
 *
 * This is the only interface the PostgreSQL glue (src/pg) uses.  It speaks in
 * plain arrays, sizes and status codes.  Every function catches every C++
 * exception (including std::bad_alloc) and reports it as a status code plus a
 * message in a caller-owned raid_error; nothing ever throws across this ABI.
 *
 * Vocabulary:
 *   id       an arbitrary int64 user or item identifier from the source table
 *   index    a dense 0-based position assigned by the dataset (ids sorted
 *            ascending, so index order equals id order)
 *   dataset  the interactions after id remapping and duplicate collapsing,
 *            split into training pairs and (optionally) one held-out item per
 *            user (leave-one-out)
 *   trainer  a matrix-factorisation model being trained on a dataset
 *
 * Threads: functions that take a `threads` count run OpenMP regions with that
 * many threads (0 = OpenMP's default).  Call them only from a thread that
 * may start threads (never from the postmaster).
 *
 * Cancellation: every loop that can run long polls the process-wide check of
 * raid_set_interrupt_check (per user, per positive, per Sinkhorn iteration,
 * per minibatch, ...) and the call returns RAID_INTERRUPTED soon after the
 * check says stop.  An object whose call was interrupted may only be freed.
 *
 * Memory: every call that allocates large buffers (raid_dataset_append and
 * _finalize, raid_mf_create, raid_mf_set_defense, raid_evaluate(_popularity),
 * raid_topk, raid_synthetic_generate, raid_audit_create) first estimates its
 * working set and fails with RAID_OUT_OF_MEMORY when the estimate exceeds
 * the budget of raid_set_memory_limit; the audit first lowers the number of
 * tasks it runs in parallel to fit.
 */
#ifndef RAID_CAPI_H
#define RAID_CAPI_H

#include <stddef.h>
#include <stdint.h>

#include "../core/raid_options.h"
#include "../core/raid_results.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes; the glue maps each to a SQLSTATE. */
typedef enum raid_status
{
	RAID_OK = 0,
	RAID_INVALID_ARGUMENT = 1,	/* bad option or argument: 22023 */
	RAID_DATA_ERROR = 2,		/* input data unusable: 22000 */
	RAID_LIMIT_EXCEEDED = 3,	/* a size limit: 54000 */
	RAID_OUT_OF_MEMORY = 4,		/* allocation failed or the estimate exceeds
								 * the memory budget: 53200 */
	RAID_INTERRUPTED = 5,		/* stopped by a cancellation check */
	RAID_INTERNAL = 6			/* a bug: XX000 */
} raid_status;

#define RAID_ERROR_MESSAGE_SIZE 512

typedef struct raid_error
{
	raid_status code;
	char		message[RAID_ERROR_MESSAGE_SIZE];	/* NUL-terminated */
} raid_error;

/* Clears an error to RAID_OK and an empty message. */
void		raid_error_clear(raid_error *err);

/* ------------------------------------------------------------------------
 * Process-wide guards: cancellation and the memory budget
 * ------------------------------------------------------------------------ */

/*
 * Process-wide cancellation check: the core calls check() often (from any
 * thread, including inside parallel regions) and stops with RAID_INTERRUPTED
 * once it returns nonzero (message "<operation> cancelled", e.g. "training
 * cancelled").  check must be async-signal-safe-ish: it only reads flags.
 * NULL removes it.
 */
void		raid_set_interrupt_check(int (*check) (void));

/*
 * Process-wide memory budget in bytes for one operation's estimated working
 * set; 0 = unlimited (the default).  Operations whose estimate exceeds it
 * fail with RAID_OUT_OF_MEMORY and a message giving the estimate and the
 * limit, e.g. "training needs an estimated 12.4 GB of memory, more than the
 * limit of 6.0 GB" (1 kB = 1024 bytes).
 */
void		raid_set_memory_limit(uint64_t bytes);

/* The current memory budget in bytes (0 = unlimited). */
uint64_t	raid_memory_limit(void);

/* ------------------------------------------------------------------------
 * Dataset: (user id, item id) pairs -> dense CSR with a leave-one-out split
 * ------------------------------------------------------------------------ */

typedef struct raid_dataset raid_dataset;

typedef struct raid_dataset_info
{
	int64_t		n_users;		/* distinct users */
	int64_t		n_items;		/* distinct items */
	int64_t		n_pairs;		/* pairs appended (before collapsing duplicates) */
	int64_t		n_interactions; /* distinct (user, item) pairs */
	int64_t		n_train;		/* training pairs (n_interactions - n_heldout) */
	int64_t		n_heldout;		/* users with a held-out item */
} raid_dataset_info;

/* Returns a new empty dataset, or NULL with err set. */
raid_dataset *raid_dataset_create(raid_error *err);

/* Appends n pairs (users[i], items[i]); may be called many times. */
raid_status raid_dataset_append(raid_dataset *ds, const int64_t *users,
								const int64_t *items, size_t n,
								raid_error *err);

/*
 * Remaps ids densely (sorted ascending), collapses duplicates, builds the
 * per-user sorted item lists and, if holdout != 0, holds out one item chosen
 * uniformly at random (by seed) for every user with >= 2 interactions.
 * No pairs at all is RAID_DATA_ERROR.  Must be called once before use.
 */
raid_status raid_dataset_finalize(raid_dataset *ds, int holdout, uint64_t seed,
								  raid_error *err);

raid_status raid_dataset_get_info(const raid_dataset *ds,
								  raid_dataset_info *info, raid_error *err);

/* Dense index -> original id arrays (n_users / n_items long, ascending). */
const int64_t *raid_dataset_user_ids(const raid_dataset *ds);
const int64_t *raid_dataset_item_ids(const raid_dataset *ds);

/*
 * Training pairs as CSR: the items (dense indices, ascending) of user u are
 * indices[indptr[u] .. indptr[u+1]).  indptr has n_users + 1 entries.
 */
const int64_t *raid_dataset_train_indptr(const raid_dataset *ds);
const int32_t *raid_dataset_train_indices(const raid_dataset *ds);

void		raid_dataset_free(raid_dataset *ds);

/* ------------------------------------------------------------------------
 * Matrix factorisation trainer
 * ------------------------------------------------------------------------ */


/*
 * raid_mf_options and the other option structs (raid_defense_options,
 * raid_audit_options, raid_synthetic_options, ...) are declared by their
 * option lists in raid_options.h, with their defaults and ranges.
 */

/* Fills the documented defaults. */
void		raid_mf_options_default(raid_mf_options *opts);

/* Checks every field; the message names the first bad one. */
raid_status raid_mf_options_validate(const raid_mf_options *opts,
									 raid_error *err);


typedef struct raid_trainer raid_trainer;

/*
 * Creates a trainer on a finalized dataset (which must outlive it) and
 * initialises the embeddings from the seed.  NULL with err set on failure.
 */
raid_trainer *raid_mf_create(const raid_dataset *ds,
							 const raid_mf_options *opts, raid_error *err);

/*
 * Runs one chunk of work (at most opts.chunk positives) and reports progress.
 * Sets *done = 1 once every epoch has run.  The caller checks for
 * cancellation between calls.  A non-finite loss is RAID_DATA_ERROR.
 */
raid_status raid_mf_step(raid_trainer *tr, raid_progress *progress, int *done,
						 raid_error *err);

/* Row-major n_users x dim and n_items x dim embeddings (dataset order). */
const float *raid_mf_user_embeddings(const raid_trainer *tr);
const float *raid_mf_item_embeddings(const raid_trainer *tr);

void		raid_mf_free(raid_trainer *tr);

/* ------------------------------------------------------------------------
 * Evaluation (leave-one-out, full ranking)
 * ------------------------------------------------------------------------ */


/*
 * Ranks, for every user with a held-out item, all items the user did not
 * train on by <u, v>; ties are counted as the expected value under random
 * tie-breaking.  U is n_users x dim, V is n_items x dim, row-major.
 */
raid_status raid_evaluate(const raid_dataset *ds, const float *U,
						  const float *V, int32_t dim, int32_t threads,
						  raid_eval_result *out, raid_error *err);

/* The same protocol with items scored by their training popularity. */
raid_status raid_evaluate_popularity(const raid_dataset *ds, int32_t threads,
									 raid_eval_result *out, raid_error *err);

/* ------------------------------------------------------------------------
 * Top-k scoring for serving
 * ------------------------------------------------------------------------ */

/*
 * Scores n_items rows of `items` (n_items x dim) against `user` (dim), skips
 * rows with exclude[j] != 0 (exclude may be NULL), and writes the best
 * min(k, eligible) rows into out_index / out_score, best first, ties broken
 * by lower row index.  *n_out receives the count.
 */
raid_status raid_topk(const float *user, const float *items, int64_t n_items,
					  int32_t dim, const uint8_t *exclude, int32_t k,
					  int64_t *out_index, float *out_score, int32_t *n_out,
					  raid_error *err);

/*
 * Top-k for n_users users at once (users: n_users x dim): user r leaves out
 * the item rows seen_rows[seen_offsets[r] .. seen_offsets[r + 1]) (NULL
 * offsets: none) and gets min(k, eligible) rows in out_index / out_score
 * row r (k slots each, best first, ties by lower row) and out_count[r].
 * Parallel over blocks of users (threads 0 = all cores); the same result at
 * any thread count.  raid_topk_batch_memory: the bytes it allocates.
 */
raid_status raid_topk_batch(const float *users, int64_t n_users, const float *items,
							int64_t n_items, int32_t dim, const int64_t *seen_offsets,
							const int32_t *seen_rows, int32_t k, int32_t threads,
							int64_t *out_index, float *out_score, int32_t *out_count,
							raid_error *err);
double		raid_topk_batch_memory(int64_t n_users, int64_t n_items, int32_t dim, int32_t k,
								   int32_t threads);

/*
 * Fold-in (core/train/fold_in.h): fills out (n_users x opts->dim) with the
 * embeddings of users whose item rows are rows[offsets[u] .. offsets[u + 1])
 * (ascending, distinct, at least one), solved against the fixed items
 * (n_items x dim) with the training's loss and optimiser; keys[u] (the user's
 * id) seeds user u.
 */
raid_status raid_fold_in(const float *items, int64_t n_items, const int64_t *offsets,
						 const int32_t *rows, const uint64_t *keys, int64_t n_users,
						 const raid_mf_options *opts, float *out, raid_error *err);

/* ------------------------------------------------------------------------
 * Synthetic data with a planted categorical attribute
 * ------------------------------------------------------------------------ */

/*
 * How the class enters users' tastes, for raid_synthetic_options.signal_kind
 * (formulas in src/core/data/synthetic.h).
 */
typedef enum raid_signal_kind
{
	RAID_SIGNAL_MEAN = 0,		/* class-specific item affinity: the classes'
								 * mean profiles differ */
	RAID_SIGNAL_COVARIANCE = 1, /* class-specific spread of tastes: equal
								 * means, different covariances */
	RAID_SIGNAL_NONLINEAR = 2	/* class-specific clusters of tastes: equal
								 * means and covariances */
} raid_signal_kind;


void		raid_synthetic_options_default(raid_synthetic_options *opts);
raid_status raid_synthetic_options_validate(const raid_synthetic_options *opts,
											raid_error *err);

typedef struct raid_synthetic raid_synthetic;

/*
 * Generates users 1..n_users, each with a class in 0..classes-1, and their
 * distinct items (ids 1..n_items).  Deterministic for a seed regardless of
 * threads.
 */
raid_synthetic *raid_synthetic_generate(const raid_synthetic_options *opts,
										raid_error *err);
int64_t		raid_synthetic_n_interactions(const raid_synthetic *s);
const int64_t *raid_synthetic_interaction_users(const raid_synthetic *s);
const int64_t *raid_synthetic_interaction_items(const raid_synthetic *s);
const int32_t *raid_synthetic_user_classes(const raid_synthetic *s);	/* n_users */
void		raid_synthetic_free(raid_synthetic *s);

/* ------------------------------------------------------------------------
 * Leakage audits: attribute-inference attackers under cross-validation
 * ------------------------------------------------------------------------ */



void		raid_audit_options_default(raid_audit_options *opts);
raid_status raid_audit_options_validate(const raid_audit_options *opts,
										raid_error *err);


typedef struct raid_audit raid_audit;

/*
 * Prepares an audit of n users: X is n x dim (row-major), ids are the users'
 * ids (folds and balancing are a pure function of seed and id, see
 * raid_audit_get_folds), labels are class indices 0..classes-1.  The inputs
 * are copied.  Every class needs at least `folds` users (RAID_INVALID_ARGUMENT
 * naming the class index otherwise); non-finite features are RAID_DATA_ERROR.
 * QDA needs at least 2 training users per class in every fold (only a concern
 * with 2 folds and a class of 2 or 3 users): its step fails with
 * RAID_DATA_ERROR otherwise.
 */
raid_audit *raid_audit_create(const float *X, const int64_t *ids,
							  const int32_t *labels, int64_t n, int32_t dim,
							  int32_t classes, const raid_audit_options *opts,
							  raid_error *err);

/*
 * Runs a bounded amount of work (at most one (attacker, fold) task per
 * thread, in parallel); *done = 1 when every task has run; *fraction is the
 * share of tasks done.  The caller checks for cancellation between calls.
 */
raid_status raid_audit_step(raid_audit *audit, int *done, double *fraction,
							raid_error *err);

/*
 * Names the first task the next raid_audit_step runs: *attacker_name (a
 * static string such as "mlp") and *fold (0-based); *attacker_name is NULL
 * once every task has run.
 */
raid_status raid_audit_next_task(const raid_audit *audit, const char **attacker_name,
								 int32_t *fold, raid_error *err);

/*
 * Copies the results of the finished audit, one per attacker in the mask, in
 * the order MLP, logistic, kNN, QDA: up to RAID_MAX_ATTACKERS (4) results.
 * max_results smaller than the number of attackers in the mask is
 * RAID_INVALID_ARGUMENT ("max_results" must be at least 4, got 2).
 */
raid_status raid_audit_get_results(const raid_audit *audit,
								   raid_attack_result *out, int32_t max_results,
								   int32_t *n_results, raid_error *err);

/*
 * The cross-validation plan: fold_of[i] is user i's test fold, and
 * in_train[f * n + i] is 1 if user i is in the (balanced) training set of
 * fold f.  Lets an independent implementation reuse exactly the same folds.
 */
raid_status raid_audit_get_folds(const raid_audit *audit, int32_t *fold_of,
								 uint8_t *in_train, raid_error *err);

void		raid_audit_free(raid_audit *audit);

/* ------------------------------------------------------------------------
 * The RAID defense: optimal-transport pull of each attribute class's user
 * embeddings toward a shared Wasserstein barycenter during training
 * ------------------------------------------------------------------------ */


void		raid_defense_options_default(raid_defense_options *opts);
raid_status raid_defense_options_validate(const raid_defense_options *opts,
										  raid_error *err);


/*
 * Turns the RAID defense on for one protected attribute of a trainer that has
 * not stepped yet; each further call adds one more attribute (index 0, 1, ...
 * in call order, at most RAID_MAX_ATTRIBUTES), pulled toward its own
 * barycenter with its own strength.  user_class[u] is the class
 * (0..classes-1) of dense user u, or -1 for a user without one (trained but
 * not pulled).  Fewer than 2 classes, or a class with fewer than 2 users, is
 * RAID_INVALID_ARGUMENT naming the class index, as are options whose
 * phase1_epochs or xi differ from the first attribute's.  The array is
 * copied.
 */
#define RAID_MAX_ATTRIBUTES 8
raid_status raid_mf_set_defense(raid_trainer *tr, const int32_t *user_class,
								int32_t classes,
								const raid_defense_options *opts,
								raid_error *err);

/*
 * Changes the pull strength (eta) of an attribute's defense from the next
 * raid_mf_step() on, for example to adapt it between epochs;
 * RAID_INVALID_ARGUMENT without that attribute or for eta outside [0, 1e6]
 * (0 pauses the pull).
 */
/*
 * Turns on defense => 'adversarial' (core/train/adversary.h) before the first
 * raid_mf_step(): an adversary MLP retrained at the start of every epoch, its
 * reversed gradient in every user's update.  RAID_INVALID_ARGUMENT with a
 * RAID defense set, after training started, or for bad options.
 */
raid_status raid_mf_set_adversary(raid_trainer *tr, const int32_t *user_class, int32_t n_classes,
								  const raid_adversarial_options *opts, raid_error *err);

raid_status raid_mf_set_defense_eta(raid_trainer *tr, int32_t attribute, double eta,
									raid_error *err);

/*
 * Warm start, before the first step: the user rows with user_given[i] != 0
 * start from users[i] (n_users x dim), the item rows with item_given[j] != 0
 * from items[j]; either pair may be NULL.  Dense row order of the dataset.
 */
raid_status raid_mf_set_initial(raid_trainer *tr, const float *users, const uint8_t *user_given,
								const float *items, const uint8_t *item_given, raid_error *err);

/*
 * Replaces a trained model's user embeddings (n_users x dim, row-major,
 * copied), e.g. with a null-aligned copy; RAID_INVALID_ARGUMENT before
 * training is done or for a non-finite value.
 */
raid_status raid_mf_set_user_embeddings(raid_trainer *tr, const float *user_embeddings,
										raid_error *err);

/*
 * The defense's calibrated last step (core/ot/null_align.h): moves each
 * class's users so that the class looks like a random group of users of the
 * same size.  rows is n x dim, row-major, changed in place (possibly in part
 * when it fails: align a copy); user_class[u] in 0 .. n_classes-1, -1 = none.
 */
typedef enum raid_null_align_mode
{
	RAID_NULL_ALIGN_MEAN = 0,	/* class means onto random groups' */
	RAID_NULL_ALIGN_GAUSSIAN = 1	/* means and covariances (Gaussian map) */
} raid_null_align_mode;


double		raid_null_align_memory(int64_t n, int32_t dim, int32_t n_classes, int32_t mode);
raid_status raid_null_align(float *rows, int64_t n, int32_t dim, const int32_t *user_class,
							int32_t n_classes, uint64_t seed, int32_t mode,
							raid_null_align_summary *out, raid_error *err);

/*
 * The post-hoc baselines (core/posthoc): defense => 'center' and 'gaussian'
 * move each class onto the classes' pooled mean, or by the Gaussian map onto
 * their Gaussian Wasserstein barycenter (align.h); defense => 'dp' clips each
 * row to norm clip (<= 0: the median norm) and adds the noise of the
 * Gaussian mechanism for (epsilon, delta), or of the Laplace mechanism for
 * epsilon when delta is 0 (dp.h).  rows as for raid_null_align.
 */
typedef enum raid_posthoc_mode
{
	RAID_POSTHOC_CENTER = 0,
	RAID_POSTHOC_GAUSSIAN = 1
} raid_posthoc_mode;

double		raid_posthoc_align_memory(int64_t n, int32_t dim, int32_t n_classes, int32_t mode);
raid_status raid_posthoc_align(float *rows, int64_t n, int32_t dim, const int32_t *user_class,
							   int32_t n_classes, int32_t mode, raid_posthoc_summary *out,
							   raid_error *err);
/*
 * defense => 'unlearn' (core/posthoc/unlearn.h): optimises the rows against
 * the fixed n_items x dim items to make the classes indistinguishable (MMD)
 * while keeping each user's scores; options as raid_unlearn_options.
 */
raid_status raid_unlearn(float *rows, int64_t n, int32_t dim, const float *items, int64_t n_items,
						 const int32_t *user_class, int32_t n_classes,
						 const raid_unlearn_options *opts, uint64_t seed,
						 raid_posthoc_summary *out, raid_error *err);
raid_status raid_dp_noise(float *rows, int64_t n, int32_t dim, double epsilon, double delta,
						  double clip, uint64_t seed, int32_t threads, raid_posthoc_summary *out,
						  raid_error *err);

/*
 * Fills an attribute's defense summary (zeros if the defense is off;
 * RAID_INVALID_ARGUMENT for an attribute index the trainer does not have).
 */
raid_status raid_mf_get_defense_summary(const raid_trainer *tr, int32_t attribute,
										raid_defense_summary *out,
										raid_error *err);

/* ------------------------------------------------------------------------
 * Options by group (raid_options.h)
 * ------------------------------------------------------------------------ */

/* The options of a group in declaration order, *n their count; NULL for an unknown group. */
const raid_option_info *raid_option_infos(raid_option_group group, int32_t *n);

/* Fills a group's struct (a raid_<group>_options) with its defaults. */
raid_status raid_options_default(raid_option_group group, void *opts, raid_error *err);

/* Checks every option of a group's struct against its declared range. */
raid_status raid_options_validate(raid_option_group group, const void *opts,
								  raid_error *err);

#ifdef __cplusplus
}
#endif

#endif							/* RAID_CAPI_H */

/*
 * train.h: what the files of raid.train share (train.c: the SQL function;
 * train_data.c: reading the interactions and the attributes; train_leakage.c
 * and train_target.c: the leakage target; train_metrics.c: the metrics JSON;
 * train_store.c: writing the model).  Private to them.
 */
#ifndef RAID_TRAIN_H
#define RAID_TRAIN_H

#include "postgres.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"

#include "raid_pg.h"

/* rows fetched from the interaction table per SPI round trip */
#define LOAD_BATCH 50000
/* users or items written per INSERT statement */
#define STORE_BATCH 4096

typedef struct TrainArgs
{
	char	   *model;
	Oid			interactions;
	char	   *user_col;
	char	   *item_col;
	Oid			attributes;		/* InvalidOid if none */
	char	   *attribute_col;	/* NULL if none; normalised: "a, b" */
	char	  **attribute_cols; /* its columns */
	int			n_attributes;
	char	   *defense;
	bool		raid_defense;	/* defense => 'raid' */
	char	   *warm_start;		/* option warm_start: a model name, or NULL */
	RaidTrainOptions opts;
} TrainArgs;

/* What the warm start matched (train_warm.c). */
typedef struct WarmStart
{
	const char *model;			/* NULL: no warm start */
	int64		users;
	int64		items;
} WarmStart;

/* The protected attribute of the trained users, for the defense. */
typedef struct UserClasses
{
	int32	   *user_class;		/* per dense user: class index or -1 */
	int			n_classes;
	char	  **names;			/* sorted */
	int64	   *counts;
	int64		without;		/* trained users without a value */
} UserClasses;


typedef struct TrainTimes
{
	double		load;
	double		build;
	double		train;
	double		evaluate;
	double		store;
	double		target;			/* the final internal audit */
} TrainTimes;

/* A trained user's value of an attribute, while reading the classes. */
typedef struct LabelledUser
{
	char	   *label;
	int32		user;			/* dense index */
} LabelledUser;

/* Users audited at a checkpoint and at the end (every k-th labelled user beyond these). */
#define CHECKPOINT_USERS 3000
#define FINAL_USERS 10000
/* Shuffles of the labels whose largest leakage is the noise floor. */
#define NULL_RUNS 3

/* What an internal audit found. */
typedef struct Leakage
{
	bool		measured;		/* false if a class was too small to audit */
	double		leakage;		/* the strongest attacker's |balanced accuracy - chance| */
	double		deviation;		/* its balanced accuracy - chance (signed) */
	int32		attacker;		/* the strongest attacker */
	double		noise_floor;	/* the same on shuffled labels (final check only), or -1 */
	double		above;			/* the largest balanced accuracy - chance (signed) */
	int32		above_attacker; /* whose it is */
	int32		attackers;		/* the attackers that ran (the MLP only near the bar) */
} Leakage;

/* One protected attribute: its classes and what the target did with it. */
typedef struct Protected
{
	const char *column;
	UserClasses uc;
	double		base_eta;		/* the strength asked for (see raid_train) */
	double		eta;			/* the current strength, 0 = paused */
	Leakage		candidate[3];	/* the final step's audits of this attribute */
	Leakage		final;
} Protected;

/* What the target did during training, for the metrics. */
typedef struct TargetLog
{
	RaidJson	checkpoints;	/* a JSON array, open until the metrics close it */
	int			n_checkpoints;
	/* the final step: what each candidate leaked, which one was kept */
	int			n_candidates;
	double		worst[3];		/* per candidate: the largest leakage over the attributes */
	int			step_classes;	/* classes it aligned (their combinations, with several) */
	const char *kept;			/* "none", "mean", "gaussian"; NULL = no step */
	double		kept_shift;		/* RMS move of the kept step */
	double		step_seconds;
} TargetLog;

extern const char *const raid_final_step_name[3];

/* train_data.c */

/* Streams the non-NULL (user, item) pairs into the dataset; counts NULLs. */
extern int64 raid_load_interactions(const TrainArgs *a, raid_dataset *ds, int64 *loaded);

/*
 * Reads the protected attribute of the trained users: classes are the
 * attribute's values as text, in byte order.  Users without a value are
 * trained but not pulled; a user with two rows is an error.
 */
extern void raid_load_user_classes(const TrainArgs *a, const char *column, const raid_dataset *ds, int64 n_users, UserClasses *out);

/* train_leakage.c */

/*
 * Audits the trainer's current user embeddings for the protected attribute,
 * with logistic regression, kNN and QDA under stratified cross-validation
 * (at most max_users labelled users, every k-th beyond that).  With
 * null_runs > 0, the same attackers on that many shufflings of the labels give the noise floor (the largest).
 */
extern Leakage raid_internal_leakage(const float *U, const int64 *user_ids, const UserClasses *uc, int64 n_users, int dim, const RaidTrainOptions *o, int64 max_users, int null_runs);

/*
 * Whether the final audit met the target: the strongest attacker within the
 * target of chance, or (on data too small to measure leakage that finely)
 * within the noise floor, what the same attackers reach on shuffled labels.
 */
extern bool raid_target_met(const RaidTrainOptions *o, const Leakage *l);

/* How far a leakage is beyond its bar: the target, or the noise floor if larger. */
extern double raid_target_excess(const RaidTrainOptions *o, const Leakage *l, double noise_floor);

/* Whether every measured attribute met the target (see target_met). */
extern bool raid_all_targets_met(const RaidTrainOptions *o, const Protected *prot, int n_prot);

/* The measured attribute furthest beyond its bar at the end; -1 if none was measured. */
extern int raid_worst_attribute(const RaidTrainOptions *o, const Protected *prot, int n_prot);

/* train_target.c */

/*
 * The classes the final step aligns: with one attribute its classes; with
 * several, the combinations of their values that occur (a missing value
 * counts as one more value; users without any value stay -1).  Aligning each
 * combination onto a random group of its size aligns every attribute's
 * classes too: a class of one attribute is a union of combinations, so it
 * moves onto a union of independent draws of random groups, itself distributed
 * as a random group of the class's size.  Returns the number of classes.
 */
/* train_posthoc.c: defense => 'dp', 'center', 'gaussian', 'unlearn' */
extern void raid_apply_posthoc(const TrainArgs *a, RaidCoreHandles *h, const raid_dataset_info *info,
							   raid_posthoc_summary *summary);
extern void raid_add_posthoc_metrics(RaidJson *j, const TrainArgs *a, const raid_posthoc_summary *s);
extern int32 *raid_load_step_classes(const TrainArgs *a, RaidCoreHandles *h, int64 n_users, int *n_classes);
extern void raid_setup_adversary(const TrainArgs *a, RaidCoreHandles *h, int64 n_users,
								 raid_posthoc_summary *summary);

extern int raid_step_classes(const Protected *prot, int n_prot, int64 n_users, int32 *out);

/*
 * The defense's calibrated last step (core/ot/null_align.h, option align):
 * audits the trained embeddings as they are, with each class's mean moved
 * onto a draw of a random group's, and with its mean and covariance mapped
 * onto such a draw, with the final audit's attackers and users, and keeps the
 * least leaky (the embeddings as they are on a tie).  Neither mode helps on
 * every dataset: the mean step removes what the pull left in the means, the
 * Gaussian map also what it left in the spread, and either can add a little
 * where little was left (many small classes); measuring picks the right one
 * without a hand-set choice.  With several attributes the step aligns the
 * combinations of their classes (step_classes) and a candidate is judged by
 * its worst attribute, each against its own bar.  Works on copies: a cancel
 * leaves the trained embeddings as they were.
 */
extern void raid_final_step(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users, const RaidTrainOptions *o, TargetLog *log);

/*
 * At a checkpoint (the end of Phase I, then every few Phase II epochs):
 * audits the current embeddings and runs the pull only while it is needed.
 * The pull's fixed point is the classes aligned exactly, whatever eta: eta
 * sets how fast it gets there, not how far it goes, and aligned more exactly
 * than random groups of users are, the classes leak again (attackers below
 * chance; on random labels the 0.1.0 pull reached QDA 0.16 below chance).  So,
 * for each protected attribute on its own:
 *   - any attacker above chance by more than the target plus the noise
 *     floor (shuffled labels, audited alongside): the pull runs; at the
 *     gate or when paused at the eta asked for; a running pull doubles (at
 *     most 4x the eta asked for) only if an attacker is still above the bar
 *     after the final step's Gaussian map (audited on a copy);
 *   - otherwise, at the gate or when paused: the pull pauses (eta 0, no
 *     recomputations) until a checkpoint sees leakage again;
 *   - otherwise a running pull halves (at least eta / 8) when the strongest
 *     attacker is more than the bar below chance, and keeps its strength
 *     within the bar.
 * Signal above chance outranks a reading below it: the pull over-aligns the
 * class means long before it removes signal beyond them (the synthetic
 * nonlinear clusters at epoch 13: logistic regression 0.13 to 0.15 below
 * chance while kNN is 0.04 to 0.08 above; the covariance signal: 0.17 below
 * and 0.15 above at epoch 21), and the final step's fresh means repair the first but not
 * the second; halving there left kNN 0.065 above chance after the final
 * step, doubling 0.032 (BENCHMARKS.md, "Fresh targets").  And what the
 * final step removes need not be pulled: the synthetic covariance signal
 * stays 0.15 above chance under the pull and vanishes under the Gaussian
 * map, and doubling for it ended 0.039 from chance at 0.828x NDCG@10,
 * keeping the strength 0.020 at 0.864x.
 * The default is the gate and two checkpoints in Phase II (checkpoints 3):
 * the pull aligns MovieLens age groups within five epochs and then
 * over-aligns them; the later checkpoints halve it, which keeps 0.985x of
 * the undefended NDCG@10 instead of 0.916x at the same leakage (BENCHMARKS.md,
 * "Checkpoints").
 */
extern void raid_adapt_at_checkpoint(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users, const RaidTrainOptions *o, int epoch, TargetLog *log);

/* train_metrics.c */

/*
 * Adds the defense's summary to the metrics as "defense", closing the
 * checkpoints' log (see train_metrics.c).
 */
extern void raid_add_defense_metrics(RaidJson *j, raid_trainer *tr, const Protected *prot, int n_prot, const RaidTrainOptions *o, TargetLog *log, double target_seconds);

/* Adds a metric that may be missing (NULL in SQL, null in JSON). */
extern void raid_add_metric(RaidJson *j, const char *key, double value, bool present);

/* train_store.c */

/*
 * Writes one embedding row per id, STORE_BATCH rows per statement: the batch's
 * embeddings travel as one flat real[] that SQL slices per row.
 */
extern void raid_store_embeddings(const char *table, const char *idcol, int64 model_id, const int64 *ids, const float *emb, int64 n, int dim);

/* Writes each user's training items (original ids), batch by batch. */
extern void raid_store_user_items(int64 model_id, const raid_dataset *ds, int64 n_users);

/* Inserts the models row and returns its model_id. */
extern int64 raid_insert_model_row(const TrainArgs *a, const raid_dataset_info *info, const char *metrics, Oid owner);

/* Deletes the current role's model of that name (embeddings cascade). */
extern void raid_delete_model(int64 model_id);

/* train_warm.c */
/* Takes the option "warm_start" (a model name) out of the options, or NULL. */
extern char *raid_take_warm_start(Jsonb **options);
/* Inside SPI: the warm start's model id (42704 if missing, 22023 for another dim). */
extern int64 raid_check_warm_start(const TrainArgs *a, int64 *n_items);
/* Inside SPI, before training: starts the trainer from the earlier model. */
extern void raid_apply_warm_start(const TrainArgs *a, RaidCoreHandles *h, const raid_dataset_info *info,
								  WarmStart *log);
extern void raid_add_warm_start_metrics(RaidJson *j, const WarmStart *log);

/* Records the store time once it is known. */
extern void raid_update_store_seconds(int64 model_id, double seconds);

#endif							/* RAID_TRAIN_H */

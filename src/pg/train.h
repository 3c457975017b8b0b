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
	RaidTrainOptions opts;
} TrainArgs;

/* The protected attribute of the trained users, for the defense. */
typedef struct UserClasses
{
	int32	   *user_class;		/* per dense user: class index or -1 */
	int			n_classes;
	char	  **names;			/* sorted */
	int64	   *counts;
	int64		without;		/* trained users without a value */
} UserClasses;

/* more classes than this is almost certainly an unbinned numeric attribute */
#define MAX_CLASSES 100

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
	StringInfoData checkpoints; /* JSON array */
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
extern int64 raid_load_interactions(const TrainArgs *a, raid_dataset *ds, int64 *loaded);
extern void raid_load_user_classes(const TrainArgs *a, const char *column, const raid_dataset *ds, int64 n_users, UserClasses *out);

/* train_leakage.c */
extern Leakage raid_internal_leakage(const float *U, const int64 *user_ids, const UserClasses *uc, int64 n_users, int dim, const RaidTrainOptions *o, int64 max_users, int null_runs);
extern bool raid_target_met(const RaidTrainOptions *o, const Leakage *l);
extern double raid_target_excess(const RaidTrainOptions *o, const Leakage *l, double noise_floor);
extern bool raid_all_targets_met(const RaidTrainOptions *o, const Protected *prot, int n_prot);
extern int raid_worst_attribute(const RaidTrainOptions *o, const Protected *prot, int n_prot);

/* train_target.c */
extern int raid_step_classes(const Protected *prot, int n_prot, int64 n_users, int32 *out);
extern void raid_final_step(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users, const RaidTrainOptions *o, TargetLog *log);
extern void raid_adapt_at_checkpoint(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users, const RaidTrainOptions *o, int epoch, TargetLog *log);

/* train_metrics.c */
extern void raid_append_defense_metrics(StringInfo s, raid_trainer *tr, const Protected *prot, int n_prot, const RaidTrainOptions *o, const TargetLog *log, double target_seconds);
extern void raid_append_metric(StringInfo s, const char *key, double value, bool present);

/* train_store.c */
extern void raid_store_embeddings(const char *table, const char *idcol, int64 model_id, const int64 *ids, const float *emb, int64 n, int dim);
extern void raid_store_user_items(int64 model_id, const raid_dataset *ds, int64 n_users);
extern int64 raid_insert_model_row(const TrainArgs *a, const raid_dataset_info *info, const char *metrics, Oid owner);
extern void raid_delete_model(int64 model_id);
extern void raid_update_store_seconds(int64 model_id, double seconds);

#endif							/* RAID_TRAIN_H */

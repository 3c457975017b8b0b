/*
 * raid_results.h: the results the core returns, as plain C structs.
 *
 * Included by the core (C++), whose result types extend these structs
 * (raid::DefenseSummary derives from raid_defense_summary, ...), and
 * re-exported by the C ABI (raid_capi.h), which hands them over whole: no
 * field is copied by hand between mirror structs.
 */
#ifndef RAID_RESULTS_H
#define RAID_RESULTS_H

#include <stdint.h>

#include "raid_options.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a training after a step. */
typedef struct raid_progress
{
	int32_t		epoch;			/* epochs completed so far */
	int32_t		epochs;			/* total epochs */
	double		fraction;		/* work done, 0..1 */
	int32_t		epoch_finished; /* 1 if this step completed an epoch */
	double		loss;			/* mean loss of the last completed epoch */
	double		epoch_seconds;	/* wall time of the last completed epoch */
} raid_progress;

/* Leave-one-out ranking quality. */
typedef struct raid_eval_result
{
	int64_t		users;			/* users evaluated (with a held-out item) */
	double		ndcg_at_10;
	double		hr_at_10;
} raid_eval_result;

/* One fold of an attacker. */
typedef struct raid_fold_result
{
	double		f1;
	double		balanced_accuracy;
	double		auc;
	int64_t		train_users;	/* after balancing (the MLP holds out part of them) */
	int64_t		test_users;
	int32_t		iterations;		/* MLP epochs / optimiser iterations; 0 for kNN and QDA */
	double		seconds;		/* wall time of the task */
} raid_fold_result;

/* One attacker's cross-validated figures (means and standard deviations over folds). */
typedef struct raid_attack_result
{
	int32_t		attacker;		/* a raid_attacker_kind */
	int32_t		classes;
	int64_t		users;			/* users with a label that were attacked */
	int32_t		folds;			/* the entries of fold[] in use */
	double		f1;				/* macro-F1 */
	double		f1_std;
	double		balanced_accuracy;	/* mean per-class recall */
	double		balanced_accuracy_std;
	double		auc;			/* binary ROC AUC; macro one-vs-rest for > 2 classes */
	double		auc_std;
	double		chance;			/* 1 / classes */
	double		seconds;		/* wall time of this attacker's folds */
	raid_fold_result fold[RAID_MAX_FOLDS];	/* unused entries are zero */
} raid_attack_result;

/* What the defense did, for the model's metrics. */
typedef struct raid_defense_summary
{
	int32_t		classes;
	int64_t		pulled_users;	/* users with a class (the others are trained, not pulled) */
	int64_t		recomputations; /* barycenter + couplings recomputations */
	int64_t		sinkhorn_calls;
	int64_t		sinkhorn_iterations;	/* total */
	int64_t		sinkhorn_converged;		/* calls that met the tolerance */
	double		max_marginal_error;
	double		ot_seconds;		/* time in OT (barycenter, couplings, targets) */
	double		phase1_seconds;
	double		phase2_seconds;
	double		phase1_epoch_seconds;	/* mean */
	double		phase2_epoch_seconds;	/* mean */
	double		defense_loss;	/* last L_def = sum_c sum_ij T_c[i,j] |u_i - z_j|^2 */
	double		class_distance_before;	/* W2 between classes at the start of Phase II */
	double		class_distance_after;	/* W2 between classes after training */
	double		spread_before;	/* mean distance of users to their mean, start of Phase II */
	double		spread_after;	/* the same after training */
} raid_defense_summary;

/* What the defense's calibrated last step did. */
typedef struct raid_null_align_summary
{
	int32_t		classes;
	int64_t		moved_users;
	double		mean_shift;		/* root mean square move */
	double		seconds;
} raid_null_align_summary;

/* What a post-hoc baseline did (defense => 'center', 'gaussian' or 'dp'). */
typedef struct raid_posthoc_summary
{
	int32_t		classes;		/* alignments: the classes aligned */
	int64_t		moved_users;
	double		mean_shift;		/* root mean square move */
	int32_t		iterations;		/* 'gaussian': the barycenter's fixed-point iterations */
	double		change;			/* 'gaussian': their last relative change */
	double		clip;			/* 'dp': the clipping norm C */
	double		noise_scale;	/* 'dp': sigma (Gaussian) or b (Laplace) */
	int64_t		clipped_users;	/* 'dp': rows whose norm exceeded C */
	double		seconds;
} raid_posthoc_summary;

#ifdef __cplusplus
}
#endif

#endif							/* RAID_RESULTS_H */

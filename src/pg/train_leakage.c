/*
 * train_leakage.c: the leakage target's internal audits of the trained
 * users, and whether they meet the target.
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "miscadmin.h"

#include "train.h"

/* ------------------------------------------------------------------------
 * The leakage target: internal audits of the trained users
 * ------------------------------------------------------------------------ */

/* Runs one core audit of X (n x dim) with these labels; fills the strongest attacker. */
static void
audit_leakage(const float *X, const int64 *ids, const int32 *labels, int64 n, int dim,
			  int classes, int folds, uint64 seed, int threads, int32 attackers, Leakage *out)
{
	raid_audit_options ao;
	raid_attack_result results[RAID_MAX_ATTACKERS];
	int32		n_results = 0;
	raid_error	err;
	RaidCoreHandles *h = raid_core_handles_create();	/* frees the audit if a cancel unwinds */
	int			done = 0;
	double		fraction;

	raid_audit_options_default(&ao);
	ao.attackers = attackers;
	ao.folds = folds;
	ao.seed = seed;
	ao.threads = threads;
	raid_error_clear(&err);
	h->audit = raid_audit_create(X, ids, labels, n, dim, classes, &ao, &err);
	if (h->audit == NULL)
		raid_report_error(&err, "auditing the defended embeddings");
	while (!done)
	{
		CHECK_FOR_INTERRUPTS();
		if (raid_audit_step(h->audit, &done, &fraction, &err) != RAID_OK)
			raid_report_error(&err, "auditing the defended embeddings");
	}
	if (raid_audit_get_results(h->audit, results, RAID_MAX_ATTACKERS, &n_results, &err) != RAID_OK)
		raid_report_error(&err, "auditing the defended embeddings");
	raid_core_handles_release(h);
	out->measured = true;
	out->leakage = -1;
	out->above = -1;
	for (int i = 0; i < n_results; i++)
	{
		double		d = results[i].balanced_accuracy - results[i].chance;

		if (fabs(d) > out->leakage)
		{
			out->leakage = fabs(d);
			out->deviation = d;
			out->attacker = results[i].attacker;
		}
		if (d > out->above)
		{
			out->above = d;
			out->above_attacker = results[i].attacker;
		}
	}
}

/* Folds into "into" what another set of attackers found on the same users. */
static void
merge_leakage(Leakage *into, const Leakage *more)
{
	if (more->leakage > into->leakage)
	{
		into->leakage = more->leakage;
		into->deviation = more->deviation;
		into->attacker = more->attacker;
	}
	if (more->above > into->above)
	{
		into->above = more->above;
		into->above_attacker = more->above_attacker;
	}
}

/*
 * The largest leakage of these attackers over null_runs shufflings of the
 * labels (restored afterwards); the same shuffles for every call.
 */
static double
noise_floor(const float *X, const int64 *ids, int32 *labels, int64 n, int dim, int classes,
			int folds, const RaidTrainOptions *o, int32 attackers, int null_runs)
{
	int32	   *shuffled = palloc(sizeof(int32) * n);
	double		floor_leakage = 0;
	pg_prng_state rng;

	/*
	 * The largest of NULL_RUNS shuffles: one shuffle is a single draw of the
	 * noise, often below its typical upper range (occupation, 21 classes: one
	 * shuffle gave 0.011 while the labels' own leakage, 0.047, was noise too,
	 * and opened the gate).
	 */
	memcpy(shuffled, labels, sizeof(int32) * n);
	pg_prng_seed(&rng, o->mf.seed ^ UINT64CONST(0x6e756c6c72756e));
	for (int r = 0; r < null_runs; r++)
	{
		Leakage		floor = {false, 0, 0, 0, -1, 0, 0, 0};

		for (int64 i = n - 1; i > 0; i--)
		{
			int64		j = (int64) pg_prng_uint64_range(&rng, 0, (uint64) i);
			int32		t = shuffled[i];

			shuffled[i] = shuffled[j];
			shuffled[j] = t;
		}
		audit_leakage(X, ids, shuffled, n, dim, classes, folds, o->mf.seed, o->mf.threads,
					  attackers, &floor);
		floor_leakage = Max(floor_leakage, floor.leakage);
	}
	pfree(shuffled);
	return floor_leakage;
}

/*
 * Audits the trainer's current user embeddings for the protected attribute,
 * with the target's attackers under stratified cross-validation (at most
 * max_users labelled users, every k-th beyond that).  With null_runs > 0, the
 * same attackers on that many shufflings of the labels give the noise floor
 * (the largest).
 *
 * The MLP, when among them, runs last and only where it can change a
 * decision: when the cheaper attackers find nothing above the bar (the
 * target or the noise floor, the lower of the two bars the callers use).
 * Beyond it, every decision is already taken (the pull doubles, the target
 * is missed, a candidate's leakage is at least that), and the MLP would cost
 * about twice the rest of the audit for nothing.
 */
Leakage
raid_internal_leakage(const float *U, const int64 *user_ids, const UserClasses *uc, int64 n_users,
				 int dim, const RaidTrainOptions *o, int64 max_users, int null_runs)
{
	int64		labelled = 0;
	int64		step;
	int64		n = 0;
	int64		n_max;
	int64		smallest = PG_INT64_MAX;
	int64	   *counts = palloc0(sizeof(int64) * uc->n_classes);
	float	   *X;
	int64	   *ids;
	int32	   *labels;
	int			folds;
	int32		lazy = o->leakage.target_attackers & RAID_ATTACKER_MLP;
	int32		cheap = o->leakage.target_attackers & ~lazy;
	Leakage		out = {false, 0, 0, 0, -1, 0, 0, 0};

	if (cheap == 0)
	{
		cheap = lazy;
		lazy = 0;
	}
	for (int64 u = 0; u < n_users; u++)
		labelled += uc->user_class[u] >= 0;
	step = Max(1, (labelled + max_users - 1) / max_users);
	/* every step-th labelled user: at most max_users of them */
	n_max = Max(Min(labelled, max_users), 1);
	raid_check_memory((double) n_max * (4.0 * dim + 16.0), "auditing the defended embeddings");
	X = palloc_extended(sizeof(float) * n_max * dim, MCXT_ALLOC_HUGE);
	ids = palloc_extended(sizeof(int64) * n_max, MCXT_ALLOC_HUGE);
	labels = palloc_extended(sizeof(int32) * n_max, MCXT_ALLOC_HUGE);
	for (int64 u = 0, k = 0; u < n_users; u++)
	{
		if (uc->user_class[u] < 0)
			continue;
		if (k++ % step != 0)
			continue;
		memcpy(X + n * dim, U + u * dim, sizeof(float) * dim);
		ids[n] = user_ids[u];	/* folds follow the ids, as in raid.audit */
		labels[n] = uc->user_class[u];
		counts[labels[n]]++;
		n++;
	}
	for (int c = 0; c < uc->n_classes; c++)
		smallest = Min(smallest, counts[c]);
	folds = (int) Min(5, smallest);
	if (folds < 2)
		return out;				/* a class too small to cross-validate */
	audit_leakage(X, ids, labels, n, dim, uc->n_classes, folds, o->mf.seed, o->mf.threads,
				  cheap, &out);
	out.attackers = cheap;
	if (null_runs > 0)
		out.noise_floor = noise_floor(X, ids, labels, n, dim, uc->n_classes, folds, o, cheap,
									  null_runs);
	if (lazy != 0 && out.above <= Max(o->leakage.target, out.noise_floor))
	{
		Leakage		more = {false, 0, 0, 0, -1, 0, 0, 0};

		audit_leakage(X, ids, labels, n, dim, uc->n_classes, folds, o->mf.seed, o->mf.threads,
					  lazy, &more);
		merge_leakage(&out, &more);
		out.attackers |= lazy;
		if (null_runs > 0)
			out.noise_floor = Max(out.noise_floor,
								  noise_floor(X, ids, labels, n, dim, uc->n_classes, folds, o,
											  lazy, null_runs));
	}
	pfree(X);
	pfree(ids);
	pfree(labels);
	return out;
}

/*
 * Whether the final audit met the target: the strongest attacker within the
 * target of chance, or (on data too small to measure leakage that finely)
 * within the noise floor, what the same attackers reach on shuffled labels.
 */
bool
raid_target_met(const RaidTrainOptions *o, const Leakage *l)
{
	return l->leakage <= Max(o->leakage.target, l->noise_floor);
}

const char *const raid_final_step_name[3] = {"none", "mean", "gaussian"};

/* How far a leakage is beyond its bar: the target, or the noise floor if larger. */
double
raid_target_excess(const RaidTrainOptions *o, const Leakage *l, double noise_floor)
{
	return l->leakage - Max(o->leakage.target, noise_floor);
}

/* Whether every measured attribute met the target (see target_met). */
bool
raid_all_targets_met(const RaidTrainOptions *o, const Protected *prot, int n_prot)
{
	for (int a = 0; a < n_prot; a++)
		if (prot[a].final.measured && !raid_target_met(o, &prot[a].final))
			return false;
	return true;
}

/* The measured attribute furthest beyond its bar at the end; -1 if none was measured. */
int
raid_worst_attribute(const RaidTrainOptions *o, const Protected *prot, int n_prot)
{
	int			worst = -1;

	for (int a = 0; a < n_prot; a++)
		if (prot[a].final.measured &&
			(worst < 0 || raid_target_excess(o, &prot[a].final, prot[a].final.noise_floor) >
			 raid_target_excess(o, &prot[worst].final, prot[worst].final.noise_floor)))
			worst = a;
	return worst;
}


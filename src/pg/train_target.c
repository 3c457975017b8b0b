/*
 * train_target.c: what the leakage target does with its audits: the
 * final calibrated step and the checkpoints that adapt the pull.
 */
#include "postgres.h"


#include "train.h"

typedef struct CodedUser
{
	int64		code;
	int32		user;
} CodedUser;

static int
cmp_coded(const void *a, const void *b)
{
	const CodedUser *x = a;
	const CodedUser *y = b;

	if (x->code != y->code)
		return (x->code > y->code) - (x->code < y->code);
	return (x->user > y->user) - (x->user < y->user);
}

/*
 * The classes the final step aligns: with one attribute its classes; with
 * several, the combinations of their values that occur (a missing value
 * counts as one more value; users without any value stay -1).  Aligning each
 * combination onto a random group of its size aligns every attribute's
 * classes too: a class of one attribute is a union of combinations, so it
 * moves onto a union of independent draws of random groups, itself distributed
 * as a random group of the class's size.  Returns the number of classes.
 */
int
raid_step_classes(const Protected *prot, int n_prot, int64 n_users, int32 *out)
{
	CodedUser  *coded;
	int64		n = 0;
	int			classes = 0;

	if (n_prot == 1)
	{
		memcpy(out, prot[0].uc.user_class, sizeof(int32) * n_users);
		return prot[0].uc.n_classes;
	}
	coded = palloc_extended(sizeof(CodedUser) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	for (int64 u = 0; u < n_users; u++)
	{
		int64		code = 0;
		bool		any = false;

		/* mixed radix, digit c + 1 in base n_classes + 1: at most 101^8 < 2^63 */
		for (int a = 0; a < n_prot; a++)
		{
			int32		c = prot[a].uc.user_class[u];

			code = code * (prot[a].uc.n_classes + 1) + (c + 1);
			any = any || c >= 0;
		}
		out[u] = -1;
		if (any)
		{
			coded[n].code = code;
			coded[n].user = (int32) u;
			n++;
		}
	}
	qsort(coded, n, sizeof(CodedUser), cmp_coded);
	for (int64 i = 0; i < n; i++)
	{
		if (i > 0 && coded[i].code != coded[i - 1].code)
			classes++;
		out[coded[i].user] = classes;
	}
	pfree(coded);
	return n > 0 ? classes + 1 : 0;
}

/* Audits rows U for every attribute into candidate slot i; the worst leakage over them. */
static double
audit_candidate(const float *U, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users,
				const RaidTrainOptions *o, int i, bool null_run)
{
	double		worst = 0;

	for (int a = 0; a < n_prot; a++)
	{
		prot[a].candidate[i] = raid_internal_leakage(U, user_ids, &prot[a].uc, n_users, o->mf.dim, o,
												FINAL_USERS, null_run ? NULL_RUNS : 0);
		if (prot[a].candidate[i].measured)
			worst = Max(worst, prot[a].candidate[i].leakage);
	}
	return worst;
}

/* A candidate's score: the largest excess over the attributes' bars (lower is better). */
static double
candidate_score(const RaidTrainOptions *o, const Protected *prot, int n_prot, int i)
{
	double		score = -1e300;

	for (int a = 0; a < n_prot; a++)
		if (prot[a].candidate[0].measured && prot[a].candidate[i].measured)
			score = Max(score, raid_target_excess(o, &prot[a].candidate[i], prot[a].candidate[0].noise_floor));
	return score;
}

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
 * Long: the candidates' audits and the choice between them read more clearly
 * in one place.
 */
void
raid_final_step(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users,
		   const RaidTrainOptions *o, TargetLog *log)
{
	const int	dim = o->mf.dim;
	const float *U = raid_mf_user_embeddings(tr);
	size_t		bytes = sizeof(float) * (size_t) n_users * dim;
	int32	   *classes;
	int			n_classes;
	int			last_mode = RAID_NULL_ALIGN_GAUSSIAN;
	float	   *best;
	float	   *work;
	int			kept = 0;
	bool		measured = false;
	bool		within = true;
	instr_time	start;
	raid_error	err;

	INSTR_TIME_SET_CURRENT(start);
	/* the classes (4 bytes a user) and, with several attributes, their codes (16) */
	raid_check_memory(20.0 * Max(n_users, 1), "the defense's final alignment");
	classes = palloc_extended(sizeof(int32) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	n_classes = raid_step_classes(prot, n_prot, n_users, classes);
	log->step_classes = n_classes;
	/*
	 * The Gaussian map keeps two d x d matrices per class: with many
	 * combinations of classes it may not fit, and the mean step alone runs.
	 */
	if (raid_max_memory > 0 &&
		4.0 * n_users + 2.0 * bytes +
		raid_null_align_memory(n_users, dim, n_classes, RAID_NULL_ALIGN_GAUSSIAN) >
		(double) raid_max_memory * 1024.0 * 1024.0)
		last_mode = RAID_NULL_ALIGN_MEAN;
	raid_check_memory(4.0 * n_users + 2.0 * bytes +
					  raid_null_align_memory(n_users, dim, n_classes, last_mode),
					  "the defense's final alignment");
	log->worst[0] = audit_candidate(U, user_ids, prot, n_prot, n_users, o, 0, true);
	log->n_candidates = 1;
	for (int a = 0; a < n_prot; a++)
	{
		measured = measured || prot[a].candidate[0].measured;
		if (prot[a].candidate[0].measured && raid_target_excess(o, &prot[a].candidate[0], prot[a].candidate[0].noise_floor) > 0)
			within = false;
	}
	if (!measured)
		return;					/* a class too small to cross-validate: nothing to compare */
	log->kept = raid_final_step_name[0];
	log->kept_shift = 0;
	/*
	 * Already within the target and the noise floor: nothing to remove, and
	 * aligning would only fit the alignment to noise (each class's mean set
	 * independently of its members, which cross-validated attackers read
	 * below chance: kNN 0.047 below on random labels).
	 */
	if (within)
	{
		log->step_seconds = raid_elapsed_seconds(start);
		if (raid_notices_on())
			ereport(NOTICE,
					(errmsg("final step: leakage %.3f as trained, within the target and the noise floor; kept none",
							log->worst[0])));
		return;
	}
	best = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	work = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	for (int mode = RAID_NULL_ALIGN_MEAN; mode <= last_mode; mode++)
	{
		raid_null_align_summary summary;
		int			i = log->n_candidates;

		memcpy(work, U, bytes);
		if (raid_null_align(work, n_users, dim, classes, n_classes, o->mf.seed, mode,
							&summary, &err) != RAID_OK)
			raid_report_error(&err, "aligning the defended embeddings");
		log->worst[i] = audit_candidate(work, user_ids, prot, n_prot, n_users, o, i, false);
		log->n_candidates++;
		if (candidate_score(o, prot, n_prot, i) < candidate_score(o, prot, n_prot, kept))
		{
			float	   *t = best;

			best = work;
			work = t;
			kept = i;
			log->kept_shift = summary.mean_shift;
		}
	}
	if (kept > 0 && raid_mf_set_user_embeddings(tr, best, &err) != RAID_OK)
		raid_report_error(&err, "storing the aligned embeddings");
	pfree(best);
	pfree(work);
	pfree(classes);
	log->kept = raid_final_step_name[kept];
	log->step_seconds = raid_elapsed_seconds(start);
	if (raid_notices_on())
		ereport(NOTICE,
				(errmsg("final step: leakage %.3f as trained, %.3f mean%s; kept %s",
						log->worst[0], log->worst[1],
						log->n_candidates > 2 ? psprintf(", %.3f gaussian", log->worst[2]) : "",
						log->kept)));
}

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
 * Long: the checkpoint rule (resume, double, halve, keep) reads more clearly
 * in one place.
 */
void
raid_adapt_at_checkpoint(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot,
					int64 n_users, const RaidTrainOptions *o, int epoch, TargetLog *log)
{
	const int	dim = o->mf.dim;
	size_t		bytes = sizeof(float) * (size_t) n_users * dim;
	float	   *aligned = NULL;

	for (int a = 0; a < n_prot; a++)
	{
		bool		gate = epoch == o->defense.phase1_epochs;
		const float *U = raid_mf_user_embeddings(tr);
		bool		after_step = false;
		double		step_above = 1;		/* above, after the Gaussian step */
		int32		step_attacker = 0;
		Leakage		l;
		double		eta = prot[a].eta;	/* the current strength, 0 = paused */
		double		bar;
		raid_error	err;

		/*
		 * Whether a pull runs at all (the gate, or resuming a paused one) is
		 * decided against the largest of NULL_RUNS shuffles; a running pull's
		 * strength against one shuffle, so that those checkpoints cost two
		 * audits, not four.  One shuffle also for resuming reopened the pull
		 * on noise (MovieLens occupation, 0.97x NDCG@10); a floor kept from
		 * the gate left the pull running where it had over-aligned (age
		 * groups: 0.951x NDCG@10 against 0.985x).
		 */
		l = raid_internal_leakage(U, user_ids, &prot[a].uc, n_users, o->mf.dim, o, CHECKPOINT_USERS,
							 gate || prot[a].eta == 0 ? NULL_RUNS : 1);
		if (!l.measured)
			continue;

		bar = o->leakage.target + l.noise_floor;

		/*
		 * A running pull doubles only for signal that the final step would
		 * leave: when an attacker is above the bar as the embeddings are,
		 * they are audited again after the Gaussian step (on a copy), and
		 * that audit must find an attacker above the bar too.
		 */
		if (!gate && prot[a].eta > 0 && o->leakage.align && l.above > bar)
		{
			Leakage		g;
			raid_null_align_summary summary;
			raid_error	err2;

			raid_check_memory((double) bytes +
							  raid_null_align_memory(n_users, dim, prot[a].uc.n_classes,
													 RAID_NULL_ALIGN_GAUSSIAN),
							  "auditing the defended embeddings");
			if (aligned == NULL)
				aligned = palloc_extended(Max(bytes, 1), MCXT_ALLOC_HUGE);
			memcpy(aligned, U, bytes);
			raid_error_clear(&err2);
			if (raid_null_align(aligned, n_users, dim, prot[a].uc.user_class, prot[a].uc.n_classes,
								o->mf.seed, RAID_NULL_ALIGN_GAUSSIAN, &summary, &err2) != RAID_OK)
				raid_report_error(&err2, "aligning the defended embeddings");
			g = raid_internal_leakage(aligned, user_ids, &prot[a].uc, n_users, o->mf.dim, o,
								 CHECKPOINT_USERS, 0);
			after_step = true;
			step_above = g.measured ? g.above : l.above;
			step_attacker = g.measured ? g.above_attacker : l.above_attacker;
		}

		/*
		 * Leakage counts beyond the bar, the target plus what the same
		 * attackers find on shuffled labels.  Both the leakage and the floor are single
		 * noisy draws (on random labels the strongest of three attackers on
		 * 943 users is often 0.02 to 0.05 from chance), and a pull started
		 * on noise aligns classes that do not differ, which leaves them
		 * separable the other way (random labels, seed 1: gate at 0.034 over
		 * a floor of 0.02, then kNN 0.08 below chance).  Below the bar the
		 * final step still removes what is there.
		 */
		if (gate)
			eta = l.above > bar ? prot[a].base_eta : 0;
		else if (eta == 0)
			eta = l.above > bar ? prot[a].base_eta : 0;
		else if (l.above > bar && step_above > bar)
			eta = Min(eta * 2.0, 4.0 * prot[a].base_eta);
		else if (l.deviation < -bar)
			eta = Max(eta / 2.0, prot[a].base_eta / 8.0);
		{
			RaidJson   *c = &log->checkpoints;

			raid_json_object_begin(c, NULL);
			raid_json_int(c, "epoch", epoch);
			raid_json_string(c, "attribute", prot[a].column);
			if (after_step)
			{
				raid_json_number(c, "above_after_step", step_above, "%.6f");
				raid_json_string(c, "above_after_step_attacker", raid_attacker_name(step_attacker));
			}
			raid_json_number(c, "leakage", l.leakage, "%.6f");
			raid_json_number(c, "deviation", l.deviation, "%.6f");
			raid_json_string(c, "attacker", raid_attacker_name(l.attacker));
			raid_json_number(c, "above", l.above, "%.6f");
			raid_json_string(c, "above_attacker", raid_attacker_name(l.above_attacker));
			raid_json_number(c, "noise_floor", l.noise_floor, "%.6f");
			raid_json_attackers(c, "attackers", l.attackers);
			raid_json_number(c, "eta", prot[a].eta, "%.6g");
			raid_json_number(c, "next_eta", eta, "%.6g");
			raid_json_object_end(c);
		}
		log->n_checkpoints++;
		if (eta != prot[a].eta)
		{
			raid_error_clear(&err);
			if (raid_mf_set_defense_eta(tr, a, eta, &err) != RAID_OK)
				raid_report_error(&err, "adapting the defense");
		}
		if (raid_notices_on())
			ereport(NOTICE,
					(errmsg("epoch %d: leakage of \"%s\" %.3f (%s), eta %.4g -> %.4g%s", epoch,
							prot[a].column, l.leakage, raid_attacker_name(l.attacker), prot[a].eta,
							eta, eta == 0 ? " (pull paused)" : "")));
		prot[a].eta = eta;
	}
	if (aligned != NULL)
		pfree(aligned);
}


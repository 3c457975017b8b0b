/*
 * train_posthoc.c: the post-hoc baselines of raid.train (defense => 'dp',
 * 'center', 'gaussian', 'unlearn'): the model trains undefended, then its user
 * embeddings are changed once, on a copy that replaces them only when the
 * step succeeded (core/posthoc).
 */
#include "postgres.h"

#include "miscadmin.h"

#include "train.h"

/* Adds metrics.defense, what the baseline did, to the metrics object being built. */
void
raid_add_posthoc_metrics(RaidJson *j, const TrainArgs *a, const raid_posthoc_summary *s)
{
	const RaidTrainOptions *o = &a->opts;

	raid_json_object_begin(j, "defense");
	raid_json_string(j, "kind", a->defense);
	if (o->defense_kind == RAID_DEFENSE_ADVERSARIAL)
	{
		/* in training: its time is in train_seconds */
		raid_json_int(j, "classes", s->classes);
		raid_json_int(j, "attributes", a->n_attributes);
		raid_json_object_end(j);
		return;
	}
	raid_json_number(j, "seconds", s->seconds, "%.4f");
	raid_json_int(j, "moved_users", s->moved_users);
	raid_json_number(j, "mean_shift", s->mean_shift, "%.6g");
	if (o->defense_kind == RAID_DEFENSE_DP)
	{
		raid_json_string(j, "mechanism", o->dp.delta > 0 ? "gaussian" : "laplace");
		raid_json_number(j, "epsilon", o->dp.epsilon, "%.6g");
		raid_json_number(j, "delta", o->dp.delta, "%.6g");
		raid_json_number(j, "clip", s->clip, "%.6g");
		raid_json_bool(j, "clip_from_data", o->dp.clip == 0);
		raid_json_number(j, "noise_scale", s->noise_scale, "%.6g");
		raid_json_int(j, "clipped_users", s->clipped_users);
	}
	else
	{
		raid_json_int(j, "classes", s->classes);
		raid_json_int(j, "attributes", a->n_attributes);
		if (o->defense_kind == RAID_DEFENSE_GAUSSIAN)
		{
			raid_json_int(j, "barycenter_iterations", s->iterations);
			raid_json_number(j, "barycenter_change", s->change, "%.3g");
		}
		if (o->defense_kind == RAID_DEFENSE_UNLEARN)
		{
			raid_json_int(j, "steps", s->iterations);
			raid_json_number(j, "last_loss", s->change, "%.6g");
		}
	}
	raid_json_object_end(j);
}

/*
 * The classes a baseline works with: with one attribute its classes; with
 * several, the combinations of their values (raid_step_classes), which
 * covers each attribute's classes too.  *n_classes their number.
 */
int32 *
raid_load_step_classes(const TrainArgs *a, RaidCoreHandles *h, int64 n_users, int *n_classes)
{
	Protected  *prot = palloc0(sizeof(Protected) * a->n_attributes);
	int32	   *classes;

	for (int i = 0; i < a->n_attributes; i++)
	{
		prot[i].column = a->attribute_cols[i];
		raid_load_user_classes(a, prot[i].column, h->dataset, n_users, &prot[i].uc);
	}
	raid_check_memory(4.0 * n_users, "reading the protected attributes");
	classes = palloc_extended(sizeof(int32) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	*n_classes = raid_step_classes(prot, a->n_attributes, n_users, classes);
	return classes;
}

/* Turns on defense => 'adversarial' in the trainer, before training. */
void
raid_setup_adversary(const TrainArgs *a, RaidCoreHandles *h, int64 n_users, raid_posthoc_summary *summary)
{
	int			n_classes;
	int32	   *classes = raid_load_step_classes(a, h, n_users, &n_classes);
	raid_error	err;

	raid_error_clear(&err);
	if (raid_mf_set_adversary(h->trainer, classes, n_classes, &a->opts.adversarial, &err) != RAID_OK)
		raid_report_error(&err, "setting up the adversary");
	summary->classes = n_classes;
	pfree(classes);
}

/*
 * Applies the call's post-hoc defense to the trainer's user embeddings;
 * *summary says what it did.  With several attributes, 'center' and
 * 'gaussian' align the combinations of their classes (as RAID's final step
 * does), which aligns each attribute's classes too.
 */
void
raid_apply_posthoc(const TrainArgs *a, RaidCoreHandles *h, const raid_dataset_info *info,
				   raid_posthoc_summary *summary)
{
	const int64 n_users = info->n_users;
	const int	dim = a->opts.mf.dim;
	const double bytes = (double) n_users * dim * sizeof(float);
	raid_error	err;
	float	   *rows;

	raid_error_clear(&err);
	if (a->opts.defense_kind == RAID_DEFENSE_DP)
	{
		raid_check_memory(bytes + 8.0 * n_users, "adding the DP noise");
		rows = palloc_extended(Max(bytes, 1), MCXT_ALLOC_HUGE);
		memcpy(rows, raid_mf_user_embeddings(h->trainer), bytes);
		if (raid_dp_noise(rows, n_users, dim, a->opts.dp.epsilon, a->opts.dp.delta, a->opts.dp.clip,
						  a->opts.mf.seed, a->opts.mf.threads, summary, &err) != RAID_OK)
			raid_report_error(&err, "adding the DP noise");
	}
	else
	{
		const bool unlearn = a->opts.defense_kind == RAID_DEFENSE_UNLEARN;
		const int32 mode = a->opts.defense_kind == RAID_DEFENSE_CENTER ? RAID_POSTHOC_CENTER :
			RAID_POSTHOC_GAUSSIAN;
		const double batch = a->opts.unlearn.unlearn_batch;
		int			n_classes;
		int32	   *classes = raid_load_step_classes(a, h, n_users, &n_classes);

		/* unlearn: the start, the draws and one pair's kernels (unlearn.cpp) */
		raid_check_memory(bytes + (unlearn ? bytes + 32.0 * n_classes * batch * dim + 48.0 * batch * batch :
								   raid_posthoc_align_memory(n_users, dim, n_classes, mode)),
						  "changing the user embeddings");
		rows = palloc_extended(Max(bytes, 1), MCXT_ALLOC_HUGE);
		memcpy(rows, raid_mf_user_embeddings(h->trainer), bytes);
		if ((unlearn ?
			 raid_unlearn(rows, n_users, dim, raid_mf_item_embeddings(h->trainer), info->n_items,
						  classes, n_classes, &a->opts.unlearn, a->opts.mf.seed, summary, &err) :
			 raid_posthoc_align(rows, n_users, dim, classes, n_classes, mode, summary, &err)) != RAID_OK)
			raid_report_error(&err, unlearn ? "unlearning the attribute" : "aligning the user embeddings");
		pfree(classes);
	}
	CHECK_FOR_INTERRUPTS();
	if (raid_mf_set_user_embeddings(h->trainer, rows, &err) != RAID_OK)
		raid_report_error(&err, "storing the defended user embeddings");
	pfree(rows);
}

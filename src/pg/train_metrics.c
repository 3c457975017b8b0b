/*
 * train_metrics.c: the metrics JSON of a trained model.
 */
#include "postgres.h"

#include "utils/json.h"

#include "train.h"

/* Appends an attribute's classes and their user counts. */
static void
append_classes(StringInfo s, const UserClasses *uc)
{
	appendStringInfoString(s, "\"classes\": [");
	for (int c = 0; c < uc->n_classes; c++)
	{
		if (c)
			appendStringInfoString(s, ", ");
		escape_json(s, uc->names[c]);
	}
	appendStringInfoString(s, "], \"class_users\": [");
	for (int c = 0; c < uc->n_classes; c++)
		appendStringInfo(s, "%s" INT64_FORMAT, c ? ", " : "", uc->counts[c]);
	appendStringInfo(s, "], \"users_without_attribute\": " INT64_FORMAT, uc->without);
}

/* Appends a final leakage's fields (after a key of the object they go in). */
static void
append_leakage(StringInfo s, const Leakage *l)
{
	appendStringInfo(s, ", \"leakage\": %.6f, \"deviation\": %.6f, \"strongest_attacker\": \"%s\", "
					 "\"noise_floor\": %.6f",
					 l->leakage, l->deviation, raid_attacker_name(l->attacker), l->noise_floor);
}

/*
 * Appends the defense's summary to the metrics JSON: with one attribute its
 * classes and its defense's figures at the top level, as before several
 * were possible; with several, the counters summed over the attributes, and
 * per attribute its classes, figures and leakage in "attributes".  The
 * target's figures at the top level are those of the attribute furthest
 * beyond its bar.
 * Long: one JSON object whose fields depend on the number of attributes and on
 * what the target did.
 */
void
raid_append_defense_metrics(StringInfo s, raid_trainer *tr, const Protected *prot, int n_prot,
					   const RaidTrainOptions *o, const TargetLog *log, double target_seconds)
{
	raid_defense_summary d[RAID_MAX_ATTRIBUTES];
	raid_defense_summary t;
	raid_error	err;
	int			worst = raid_worst_attribute(o, prot, n_prot);

	for (int a = 0; a < n_prot; a++)
		if (raid_mf_get_defense_summary(tr, a, &d[a], &err) != RAID_OK)
			raid_report_error(&err, "reading the defense summary");
	t = d[0];
	for (int a = 1; a < n_prot; a++)
	{
		t.recomputations += d[a].recomputations;
		t.sinkhorn_calls += d[a].sinkhorn_calls;
		t.sinkhorn_iterations += d[a].sinkhorn_iterations;
		t.sinkhorn_converged += d[a].sinkhorn_converged;
		t.max_marginal_error = Max(t.max_marginal_error, d[a].max_marginal_error);
		t.ot_seconds += d[a].ot_seconds;
		t.defense_loss += d[a].defense_loss;
	}
	appendStringInfoString(s, ", \"defense\": {");
	if (n_prot == 1)
	{
		append_classes(s, &prot[0].uc);
		appendStringInfo(s, ", \"pulled_users\": " INT64_FORMAT ", ", t.pulled_users);
	}
	appendStringInfo(s, "\"recomputations\": " INT64_FORMAT
					 ", \"sinkhorn_calls\": " INT64_FORMAT ", \"sinkhorn_iterations\": " INT64_FORMAT
					 ", \"sinkhorn_converged\": " INT64_FORMAT ", \"max_marginal_error\": %.6g"
					 ", \"ot_seconds\": %.4f, \"phase1_seconds\": %.4f, \"phase2_seconds\": %.4f"
					 ", \"phase1_epoch_seconds\": %.4f, \"phase2_epoch_seconds\": %.4f"
					 ", \"defense_loss\": %.6g",
					 t.recomputations, t.sinkhorn_calls, t.sinkhorn_iterations, t.sinkhorn_converged,
					 t.max_marginal_error, t.ot_seconds, t.phase1_seconds, t.phase2_seconds,
					 t.phase1_epoch_seconds, t.phase2_epoch_seconds, t.defense_loss);
	if (n_prot == 1)
		appendStringInfo(s, ", \"class_distance_before\": %.6g, \"class_distance_after\": %.6g"
						 ", \"spread_before\": %.6g, \"spread_after\": %.6g, \"eta_final\": %.6g",
						 t.class_distance_before, t.class_distance_after, t.spread_before,
						 t.spread_after, prot[0].eta);
	appendStringInfo(s, ", \"target\": %.6g, \"adapt\": %s, \"checkpoints\": [%s]",
					 o->leakage.target, o->leakage.adapt ? "true" : "false",
					 log->checkpoints.data ? log->checkpoints.data : "");
	if (log->kept != NULL)
	{
		appendStringInfo(s, ", \"final_step\": {\"kept\": \"%s\", \"shift\": %.6g, "
						 "\"seconds\": %.4f, \"classes\": %d, \"leakage\": {",
						 log->kept, log->kept_shift, log->step_seconds, log->step_classes);
		for (int i = 0; i < log->n_candidates; i++)
			appendStringInfo(s, "%s\"%s\": %.6f", i ? ", " : "", raid_final_step_name[i], log->worst[i]);
		appendStringInfoString(s, "}");
		if (n_prot == 1)
			appendStringInfo(s, ", \"noise_floor\": %.6f", prot[0].candidate[0].noise_floor);
		appendStringInfoString(s, "}");
	}
	if (n_prot > 1)
	{
		appendStringInfoString(s, ", \"attributes\": [");
		for (int a = 0; a < n_prot; a++)
		{
			appendStringInfo(s, "%s{\"attribute\": ", a ? ", " : "");
			escape_json(s, prot[a].column);
			appendStringInfoString(s, ", ");
			append_classes(s, &prot[a].uc);
			appendStringInfo(s, ", \"pulled_users\": " INT64_FORMAT ", \"recomputations\": " INT64_FORMAT
							 ", \"class_distance_before\": %.6g, \"class_distance_after\": %.6g"
							 ", \"spread_before\": %.6g, \"spread_after\": %.6g, \"eta_final\": %.6g",
							 d[a].pulled_users, d[a].recomputations, d[a].class_distance_before,
							 d[a].class_distance_after, d[a].spread_before, d[a].spread_after,
							 prot[a].eta);
			if (log->kept != NULL && prot[a].candidate[0].measured)
			{
				appendStringInfo(s, ", \"final_step_leakage\": {");
				for (int i = 0; i < log->n_candidates; i++)
					appendStringInfo(s, "%s\"%s\": %.6f", i ? ", " : "", raid_final_step_name[i],
									 prot[a].candidate[i].leakage);
				appendStringInfoString(s, "}");
			}
			if (o->leakage.target > 0 && prot[a].final.measured)
			{
				append_leakage(s, &prot[a].final);
				appendStringInfo(s, ", \"target_met\": %s", raid_target_met(o, &prot[a].final) ? "true" : "false");
			}
			appendStringInfoString(s, "}");
		}
		appendStringInfoString(s, "]");
	}
	if (o->leakage.target > 0 && worst >= 0)
	{
		appendStringInfoString(s, ", \"attribute\": ");
		escape_json(s, prot[worst].column);
		append_leakage(s, &prot[worst].final);
		appendStringInfo(s, ", \"target_met\": %s, \"target_seconds\": %.4f}",
						 raid_all_targets_met(o, prot, n_prot) ? "true" : "false", target_seconds);
	}
	else
		appendStringInfo(s, ", \"target_met\": null}");
}

/* Appends a metric that may be missing (NULL in SQL, null in JSON). */
void
raid_append_metric(StringInfo s, const char *key, double value, bool present)
{
	if (present)
		appendStringInfo(s, ", \"%s\": %.6f", key, value);
	else
		appendStringInfo(s, ", \"%s\": null", key);
}


/*
 * train_metrics.c: the metrics JSON of a trained model (json_build.c).
 */
#include "postgres.h"

#include "train.h"

/* An attribute's classes and their user counts. */
static void
add_classes(RaidJson *j, const UserClasses *uc)
{
	raid_json_array_begin(j, "classes");
	for (int c = 0; c < uc->n_classes; c++)
		raid_json_string(j, NULL, uc->names[c]);
	raid_json_array_end(j);
	raid_json_array_begin(j, "class_users");
	for (int c = 0; c < uc->n_classes; c++)
		raid_json_int(j, NULL, uc->counts[c]);
	raid_json_array_end(j);
	raid_json_int(j, "users_without_attribute", uc->without);
}

/* A final leakage's fields, in the object being built. */
static void
add_leakage(RaidJson *j, const Leakage *l)
{
	raid_json_number(j, "leakage", l->leakage, "%.6f");
	raid_json_number(j, "deviation", l->deviation, "%.6f");
	raid_json_string(j, "strongest_attacker", raid_attacker_name(l->attacker));
	raid_json_number(j, "noise_floor", l->noise_floor, "%.6f");
	raid_json_attackers(j, "attackers", l->attackers);
}

/* The final step's leakage per candidate ("none", "mean", "gaussian"). */
static void
add_candidates(RaidJson *j, const char *key, const double *leakage, int n)
{
	raid_json_object_begin(j, key);
	for (int i = 0; i < n; i++)
		raid_json_number(j, raid_final_step_name[i], leakage[i], "%.6f");
	raid_json_object_end(j);
}

/*
 * Adds the defense's summary as "defense": with one attribute its classes
 * and its defense's figures at the top level, as before several were
 * possible; with several, the counters summed over the attributes, and per
 * attribute its classes, figures and leakage in "attributes".  The target's
 * figures at the top level are those of the attribute furthest beyond its
 * bar.  The checkpoints' log is closed here.
 * Long: one JSON object whose fields depend on the number of attributes and on
 * what the target did.
 */
void
raid_add_defense_metrics(RaidJson *j, raid_trainer *tr, const Protected *prot, int n_prot,
						 const RaidTrainOptions *o, TargetLog *log, double target_seconds)
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
	raid_json_object_begin(j, "defense");
	if (n_prot == 1)
	{
		add_classes(j, &prot[0].uc);
		raid_json_int(j, "pulled_users", t.pulled_users);
	}
	raid_json_int(j, "recomputations", t.recomputations);
	raid_json_int(j, "sinkhorn_calls", t.sinkhorn_calls);
	raid_json_int(j, "sinkhorn_iterations", t.sinkhorn_iterations);
	raid_json_int(j, "sinkhorn_converged", t.sinkhorn_converged);
	raid_json_number(j, "max_marginal_error", t.max_marginal_error, "%.6g");
	raid_json_number(j, "ot_seconds", t.ot_seconds, "%.4f");
	raid_json_number(j, "phase1_seconds", t.phase1_seconds, "%.4f");
	raid_json_number(j, "phase2_seconds", t.phase2_seconds, "%.4f");
	raid_json_number(j, "phase1_epoch_seconds", t.phase1_epoch_seconds, "%.4f");
	raid_json_number(j, "phase2_epoch_seconds", t.phase2_epoch_seconds, "%.4f");
	raid_json_number(j, "defense_loss", t.defense_loss, "%.6g");
	if (n_prot == 1)
	{
		raid_json_number(j, "class_distance_before", t.class_distance_before, "%.6g");
		raid_json_number(j, "class_distance_after", t.class_distance_after, "%.6g");
		raid_json_number(j, "spread_before", t.spread_before, "%.6g");
		raid_json_number(j, "spread_after", t.spread_after, "%.6g");
		raid_json_number(j, "eta_final", prot[0].eta, "%.6g");
	}
	raid_json_number(j, "target", o->leakage.target, "%.6g");
	raid_json_bool(j, "adapt", o->leakage.adapt);
	raid_json_array_end(&log->checkpoints);
	raid_json_jsonb(j, "checkpoints", raid_json_finish(&log->checkpoints));
	if (log->kept != NULL)
	{
		raid_json_object_begin(j, "final_step");
		raid_json_string(j, "kept", log->kept);
		raid_json_number(j, "shift", log->kept_shift, "%.6g");
		raid_json_number(j, "seconds", log->step_seconds, "%.4f");
		raid_json_int(j, "classes", log->step_classes);
		add_candidates(j, "leakage", log->worst, log->n_candidates);
		if (n_prot == 1)
			raid_json_number(j, "noise_floor", prot[0].candidate[0].noise_floor, "%.6f");
		raid_json_object_end(j);
	}
	if (n_prot > 1)
	{
		raid_json_array_begin(j, "attributes");
		for (int a = 0; a < n_prot; a++)
		{
			raid_json_object_begin(j, NULL);
			raid_json_string(j, "attribute", prot[a].column);
			add_classes(j, &prot[a].uc);
			raid_json_int(j, "pulled_users", d[a].pulled_users);
			raid_json_int(j, "recomputations", d[a].recomputations);
			raid_json_number(j, "class_distance_before", d[a].class_distance_before, "%.6g");
			raid_json_number(j, "class_distance_after", d[a].class_distance_after, "%.6g");
			raid_json_number(j, "spread_before", d[a].spread_before, "%.6g");
			raid_json_number(j, "spread_after", d[a].spread_after, "%.6g");
			raid_json_number(j, "eta_final", prot[a].eta, "%.6g");
			if (log->kept != NULL && prot[a].candidate[0].measured)
			{
				double		leakage[3];

				for (int i = 0; i < log->n_candidates; i++)
					leakage[i] = prot[a].candidate[i].leakage;
				add_candidates(j, "final_step_leakage", leakage, log->n_candidates);
			}
			if (o->leakage.target > 0 && prot[a].final.measured)
			{
				add_leakage(j, &prot[a].final);
				raid_json_bool(j, "target_met", raid_target_met(o, &prot[a].final));
			}
			raid_json_object_end(j);
		}
		raid_json_array_end(j);
	}
	if (o->leakage.target > 0 && worst >= 0)
	{
		raid_json_string(j, "attribute", prot[worst].column);
		add_leakage(j, &prot[worst].final);
		raid_json_bool(j, "target_met", raid_all_targets_met(o, prot, n_prot));
		raid_json_number(j, "target_seconds", target_seconds, "%.4f");
	}
	else
		raid_json_null(j, "target_met");
	raid_json_object_end(j);
}

/* Adds a metric that may be missing (NULL in SQL, null in JSON). */
void
raid_add_metric(RaidJson *j, const char *key, double value, bool present)
{
	if (present)
		raid_json_number(j, key, value, "%.6f");
	else
		raid_json_null(j, key);
}

/*
 * train.c: raid.train, synchronous training of a model from an interaction
 * table.
 *
 * Stages: validate the arguments, load the (user, item) pairs through SPI,
 * build the dataset (remap, collapse duplicates, leave-one-out split), train
 * chunk by chunk with a cancellation check between chunks, evaluate, and
 * store the model, its embeddings and the users' training items.  Nothing is
 * written before training has finished, and everything is written in the
 * caller's transaction, so a failed or cancelled training leaves the earlier
 * model of that name intact and writes no partial rows.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "train.h"

PG_FUNCTION_INFO_V1(raid_train);
PG_FUNCTION_INFO_V1(raid_check_train_args);

/* Checks that a relation can be read as a table. */
static void
check_readable_relation(Oid relid)
{
	char		kind = get_rel_relkind(relid);

	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW &&
		kind != RELKIND_MATVIEW && kind != RELKIND_PARTITIONED_TABLE &&
		kind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table or view", raid_qualified_relname(relid))));
}

/* Checks "defense" against the defenses of this version. */
static int
check_defense(const char *defense)
{
	int			kind = raid_defense_from_name(defense);

	if (kind == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown defense \"%s\"", defense),
				 errhint("Valid defenses are: %s.", RAID_DEFENSE_NAMES)));
	return kind;
}

/* Reads and validates every argument before any work is done. */
static void
parse_args(FunctionCallInfo fcinfo, TrainArgs *a)
{
	int			kind;
	Jsonb	   *options;

	raid_require_arg(fcinfo, 0, "model");
	raid_require_arg(fcinfo, 1, "interactions");
	raid_require_arg(fcinfo, 2, "user_col");
	raid_require_arg(fcinfo, 3, "item_col");
	raid_require_arg(fcinfo, 6, "defense");

	a->model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	a->interactions = PG_GETARG_OID(1);
	a->user_col = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	a->item_col = pstrdup(NameStr(*PG_GETARG_NAME(3)));
	a->attributes = PG_ARGISNULL(4) ? InvalidOid : PG_GETARG_OID(4);
	a->attribute_col = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	a->defense = text_to_cstring(PG_GETARG_TEXT_PP(6));

	raid_check_model_name(a->model);

	kind = check_defense(a->defense);
	a->raid_defense = kind == RAID_DEFENSE_RAID;

	check_readable_relation(a->interactions);
	raid_check_integer_column(a->interactions, a->user_col);
	raid_check_integer_column(a->interactions, a->item_col);

	if (OidIsValid(a->attributes) != (a->attribute_col != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attributes and attribute_col must be given together")));
	if ((kind & ~(RAID_DEFENSE_NONE | RAID_DEFENSE_DP)) &&
		!OidIsValid(a->attributes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("defense '%s' needs the protected attribute", a->defense),
				 errhint("Name it with attributes => 'users', attribute_col => 'gender'.")));
	if (OidIsValid(a->attributes))
	{
		StringInfoData list;

		check_readable_relation(a->attributes);
		raid_check_integer_column(a->attributes, a->user_col);
		a->n_attributes = raid_split_attribute_cols(a->attribute_col, a->attributes,
													&a->attribute_cols);
		initStringInfo(&list);
		for (int i = 0; i < a->n_attributes; i++)
			appendStringInfo(&list, "%s%s", i ? ", " : "", a->attribute_cols[i]);
		a->attribute_col = list.data;
	}

	options = PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7);
	a->warm_start = raid_take_warm_start(&options);
	raid_parse_train_options(options, kind, &a->opts);
	a->opts.mf.threads = raid_effective_threads(a->opts.mf.threads);
}

/* The current role's model of that name; 0 if none. */
static int64
find_model(const char *name)
{
	bool		isnull;

	if (!raid_select_model(name, "model_id", true))
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The current role's model of the training's name (0 if none); 42710 if
 * there is one and the options do not say replace.
 */
static int64
check_name_free(const TrainArgs *a)
{
	int64		existing = find_model(a->model);

	if (existing != 0 && !a->opts.train.replace)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already exists", a->model),
				 errhint("Pass options => '{\"replace\": true}' to replace it, or drop it with raid.drop_model().")));
	return existing;
}

/*
 * raid.check_train_args(the arguments of raid.train): every check raid.train
 * makes before reading any data, with the same errors; raid.submit_train
 * runs it before queueing, so that a job fails only on what cannot be known
 * in advance.
 */
Datum
raid_check_train_args(PG_FUNCTION_ARGS)
{
	TrainArgs	a;

	parse_args(fcinfo, &a);
	SPI_connect();
	(void) check_name_free(&a);
	if (a.warm_start != NULL)
	{
		int64		n_items;

		(void) raid_check_warm_start(&a, &n_items);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* Runs every epoch, checking for interrupts between chunks. */
/* phase1_epochs < 0: no defense, so no phases to report. */
static void
run_training(raid_trainer *tr, int phase1_epochs, RaidJson *epochs,
			 const int64 *user_ids, Protected *prot, int n_prot, int64 n_users,
			 const RaidTrainOptions *o, TargetLog *log)
{
	raid_progress p;
	raid_error	err;
	int			done = 0;

	raid_json_array_begin(epochs, NULL);
	while (!done)
	{
		CHECK_FOR_INTERRUPTS();
		raid_error_clear(&err);
		if (raid_mf_step(tr, &p, &done, &err) != RAID_OK)
			raid_report_error(&err, "training the model");
		raid_report_progress(p.fraction, p.epoch,
							 phase1_epochs < 0 ? "training" :
							 p.epoch < phase1_epochs ? "training: phase I" : "training: phase II");
		if (p.epoch_finished)
		{
			raid_json_object_begin(epochs, NULL);
			raid_json_int(epochs, "epoch", p.epoch);
			raid_json_number(epochs, "loss", p.loss, "%.6g");
			raid_json_number(epochs, "seconds", p.epoch_seconds, "%.4f");
			raid_json_object_end(epochs);
			if (raid_notices_on())
				ereport(NOTICE,
						(errmsg("epoch %d/%d%s: loss %.4f", p.epoch, p.epochs,
								phase1_epochs < 0 ? "" : p.epoch <= phase1_epochs ? " (phase I)" : " (phase II)",
								p.loss),
						 errdetail("The epoch took %.2f s.", p.epoch_seconds)));
			/*
			 * checkpoints: the end of Phase I, then the starts of the other
			 * checkpoints parts of Phase II
			 */
			if (o != NULL && o->leakage.adapt && o->leakage.target > 0 && p.epoch >= phase1_epochs && p.epoch < p.epochs)
			{
				int			phase2 = p.epochs - phase1_epochs;

				for (int k = 0; k < o->leakage.checkpoints; k++)
					if (p.epoch == phase1_epochs + (int) ((int64) k * phase2 / o->leakage.checkpoints))
					{
						raid_adapt_at_checkpoint(tr, user_ids, prot, n_prot, n_users, o, p.epoch, log);
						break;
					}
			}
		}
	}
	raid_json_array_end(epochs);
}

/*
 * Reads every protected attribute's classes and turns the defense on for it.
 * eta is the strength of the whole pull: each of A attributes pulls at
 * eta / sqrt(A), so that pulls in unrelated directions add up to one
 * attribute's.  At eta / 1 each, gender and age groups on MovieLens 100K both
 * ended below chance (age: logistic 0.059 below) and NDCG@10 lost 9% before
 * the final step (BENCHMARKS.md, "Several attributes").
 */
static Protected *
setup_defense(const TrainArgs *a, RaidCoreHandles *h, const raid_dataset_info *info, int *n_prot)
{
	raid_defense_options each = a->opts.defense;
	Protected  *prot;
	raid_error	err;

	*n_prot = a->n_attributes;
	each.eta = a->opts.defense.eta / sqrt((double) *n_prot);
	/* per attribute: its labelled users while reading (16 bytes each), its classes (4) */
	raid_check_memory((double) *n_prot * (sizeof(LabelledUser) + sizeof(int32)) * Max(info->n_users, 1),
					  "reading the protected attributes");
	prot = palloc0(sizeof(Protected) * *n_prot);
	raid_error_clear(&err);
	for (int i = 0; i < *n_prot; i++)
	{
		prot[i].column = a->attribute_cols[i];
		prot[i].base_eta = prot[i].eta = each.eta;
		raid_load_user_classes(a, prot[i].column, h->dataset, info->n_users, &prot[i].uc);
		if (raid_mf_set_defense(h->trainer, prot[i].uc.user_class, prot[i].uc.n_classes,
								&each, &err) != RAID_OK)
			raid_report_error(&err, "setting up the defense");
	}
	return prot;
}

/* One WARNING per attribute that misses the leakage target. */
static void
warn_missed_targets(const TrainArgs *a, const Protected *prot, int n_prot)
{
	for (int i = 0; i < n_prot; i++)
	{
		const Leakage *l = &prot[i].final;

		if (!l->measured || raid_target_met(&a->opts, l))
			continue;
		ereport(WARNING,
				(errmsg("model \"%s\" misses its leakage target: attacker %s is %.3f from chance on \"%s\", the target is %.3g",
						a->model, raid_attacker_name(l->attacker), l->leakage, prot[i].column, a->opts.leakage.target),
				 errdetail("The model is stored with metrics.defense.target_met = false.  On shuffled labels the same attackers reach %.3f (the noise floor, which the leakage must not exceed either).",
						   l->noise_floor),
				 a->opts.leakage.adapt && a->opts.leakage.align ?
				 errhint("The pull ended at eta %.4g (0: paused, no leakage at the end of Phase I); a larger eta or more epochs may help.  Audit the model with raid.audit() before relying on it.",
						 prot[i].eta) :
				 errhint("Set the options \"adapt\" and \"align\" to true (their defaults), or change eta.  Audit the model with raid.audit() before relying on it.")));
	}
}

/*
 * raid.train.  Long: its stages (load, build, train, the leakage
 * target, evaluate, store) share the core handles, the SPI connection and the
 * role switch, which must be set up and released in this order in one place.
 */
Datum
raid_train(PG_FUNCTION_ARGS)
{
	TrainArgs	a;
	TupleDesc	tupdesc;
	RaidCoreHandles *h;
	raid_error	err;
	raid_dataset_info info;
	raid_eval_result ev = {0},
				pop = {0};
	bool		have_eval = false;
	int64		skipped;
	int64		loaded = 0;
	int64		existing;
	int64		model_id;
	TrainTimes	t = {0};
	Protected  *prot = NULL;
	int			n_prot = 0;
	TargetLog	target_log = {0};
	WarmStart	warm = {0};
	raid_posthoc_summary posthoc = {0};
	RaidUserSwitch sw;
	instr_time	start,
				stage;
	RaidJson	epochs;
	RaidJson	m;
	char	   *what;
	char	   *metrics;
	Datum		values[11];
	bool		nulls[11] = {0};

	INSTR_TIME_SET_CURRENT(start);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "raid.train must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	parse_args(fcinfo, &a);
	/* one training (or drop) of a name at a time, decided now, not at the store */
	if (!raid_lock_model(GetUserId(), a.model, true, true))
		raid_model_busy_error(a.model);
	h = raid_core_handles_create();

	SPI_connect();

	existing = check_name_free(&a);
	if (a.warm_start != NULL)
		(void) raid_check_warm_start(&a, &warm.items);	/* before any work; counted again below */

	/* load */
	raid_report_progress(0.0, 0, "loading");
	INSTR_TIME_SET_CURRENT(stage);
	raid_error_clear(&err);
	h->dataset = raid_dataset_create(&err);
	if (h->dataset == NULL)
		raid_report_error(&err, "creating the dataset");
	skipped = raid_load_interactions(&a, h->dataset, &loaded);
	t.load = raid_elapsed_seconds(stage);

	/* build: remap, collapse, split */
	INSTR_TIME_SET_CURRENT(stage);
	if (loaded == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("table %s has no interactions to train on",
						raid_qualified_relname(a.interactions)),
				 skipped > 0 ? errdetail("All " INT64_FORMAT " rows have a NULL user or item id.", skipped) : 0));
	if (skipped > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " rows with a NULL user or item id", skipped)));
	if (raid_dataset_finalize(h->dataset, a.opts.train.holdout ? 1 : 0, a.opts.mf.seed, &err) != RAID_OK ||
		raid_dataset_get_info(h->dataset, &info, &err) != RAID_OK)
		raid_report_error(&err, "building the dataset");
	t.build = raid_elapsed_seconds(stage);

	/* train */
	INSTR_TIME_SET_CURRENT(stage);
	h->trainer = raid_mf_create(h->dataset, &a.opts.mf, &err);
	if (h->trainer == NULL)
		raid_report_error(&err, "creating the trainer");
	if (a.warm_start != NULL)
		raid_apply_warm_start(&a, h, &info, &warm);
	if (a.raid_defense)
		prot = setup_defense(&a, h, &info, &n_prot);
	else if (a.opts.defense_kind == RAID_DEFENSE_ADVERSARIAL)
		raid_setup_adversary(&a, h, info.n_users, &posthoc);
	what = psprintf("the metrics of model \"%s\"", a.model);
	raid_json_init(&epochs, what);
	raid_json_init(&target_log.checkpoints, what);
	raid_json_array_begin(&target_log.checkpoints, NULL);
	run_training(h->trainer, a.raid_defense ? a.opts.defense.phase1_epochs : -1, &epochs,
				 raid_dataset_user_ids(h->dataset), prot, n_prot, info.n_users,
				 a.raid_defense ? &a.opts : NULL, &target_log);
	t.train = raid_elapsed_seconds(stage);

	/* the leakage target: the final step, then audit with the noise floor */
	if (a.raid_defense && a.opts.leakage.target > 0)
	{
		raid_report_progress(0.0, 0, "auditing the defended embeddings");
		INSTR_TIME_SET_CURRENT(stage);
		if (a.opts.leakage.align)
			raid_final_step(h->trainer, raid_dataset_user_ids(h->dataset), prot, n_prot, info.n_users,
					   &a.opts, &target_log);
		/*
		 * Kept as trained, the final step's first audit (same users, folds
		 * and shuffles) is the final audit; an aligned copy is audited again
		 * with its own noise floor.
		 */
		for (int i = 0; i < n_prot; i++)
			prot[i].final = target_log.kept == raid_final_step_name[0] ? prot[i].candidate[0] :
				raid_internal_leakage(raid_mf_user_embeddings(h->trainer), raid_dataset_user_ids(h->dataset),
								 &prot[i].uc, info.n_users, a.opts.mf.dim, &a.opts, FINAL_USERS, NULL_RUNS);
		t.target = raid_elapsed_seconds(stage);
	}

	/* the post-hoc baselines */
	if (a.opts.defense_kind & (RAID_DEFENSE_DP | RAID_DEFENSE_CENTER | RAID_DEFENSE_GAUSSIAN |
							   RAID_DEFENSE_UNLEARN))
	{
		raid_report_progress(0.0, 0, "applying the defense");
		raid_apply_posthoc(&a, h, &info, &posthoc);
	}

	/* evaluate */
	raid_report_progress(0.0, 0, "evaluating");
	INSTR_TIME_SET_CURRENT(stage);
	if (a.opts.train.holdout && info.n_heldout > 0)
	{
		if (raid_evaluate(h->dataset, raid_mf_user_embeddings(h->trainer),
						  raid_mf_item_embeddings(h->trainer), a.opts.mf.dim,
						  a.opts.mf.threads, &ev, &err) != RAID_OK ||
			raid_evaluate_popularity(h->dataset, a.opts.mf.threads, &pop, &err) != RAID_OK)
			raid_report_error(&err, "evaluating the model");
		have_eval = true;
	}
	t.evaluate = raid_elapsed_seconds(stage);
	CHECK_FOR_INTERRUPTS();

	/* store: replace the earlier model in this same transaction */
	raid_report_progress(0.0, 0, "storing");
	INSTR_TIME_SET_CURRENT(stage);
	raid_json_init(&m, what);
	raid_json_object_begin(&m, NULL);
	raid_json_number(&m, "load_seconds", t.load, "%.4f");
	raid_json_number(&m, "build_seconds", t.build, "%.4f");
	raid_json_number(&m, "train_seconds", t.train, "%.4f");
	raid_json_number(&m, "evaluate_seconds", t.evaluate, "%.4f");
	raid_json_int(&m, "threads", a.opts.mf.threads);
	raid_json_int(&m, "skipped_null_ids", skipped);
	raid_json_int(&m, "duplicates", info.n_pairs - info.n_interactions);
	raid_json_int(&m, "heldout_users", info.n_heldout);
	raid_add_metric(&m, "ndcg_at_10", ev.ndcg_at_10, have_eval);
	raid_add_metric(&m, "hr_at_10", ev.hr_at_10, have_eval);
	raid_add_metric(&m, "popularity_ndcg_at_10", pop.ndcg_at_10, have_eval);
	raid_add_metric(&m, "popularity_hr_at_10", pop.hr_at_10, have_eval);
	if (a.raid_defense)
		raid_add_defense_metrics(&m, h->trainer, prot, n_prot, &a.opts, &target_log, t.target);
	else if (a.opts.defense_kind != RAID_DEFENSE_NONE)
		raid_add_posthoc_metrics(&m, &a, &posthoc);
	raid_add_warm_start_metrics(&m, &warm);
	raid_json_jsonb(&m, "epochs", raid_json_finish(&epochs));
	raid_json_object_end(&m);
	metrics = raid_json_finish_text(&m);

	raid_become_owner(&sw);
	if (existing != 0)
		raid_delete_model(existing);
	model_id = raid_insert_model_row(&a, &info, metrics, sw.caller);
	raid_store_embeddings("user_embeddings", "user_id", model_id,
					 raid_dataset_user_ids(h->dataset),
					 raid_mf_user_embeddings(h->trainer), info.n_users, a.opts.mf.dim);
	raid_store_embeddings("item_embeddings", "item_id", model_id,
					 raid_dataset_item_ids(h->dataset),
					 raid_mf_item_embeddings(h->trainer), info.n_items, a.opts.mf.dim);
	raid_store_user_items(model_id, h->dataset, info.n_users);
	t.store = raid_elapsed_seconds(stage);
	raid_update_store_seconds(model_id, t.store);
	raid_restore_user(&sw);

	raid_core_handles_release(h);
	SPI_finish();
	raid_progress_done();

	if (a.raid_defense && a.opts.leakage.target > 0)
		warn_missed_targets(&a, prot, n_prot);

	values[0] = CStringGetTextDatum(a.model);
	values[1] = Int64GetDatum(model_id);
	values[2] = Int64GetDatum(info.n_users);
	values[3] = Int64GetDatum(info.n_items);
	values[4] = Int64GetDatum(info.n_interactions);
	values[5] = Int64GetDatum(skipped);
	values[6] = Float8GetDatum(raid_elapsed_seconds(start));
	values[7] = Float8GetDatum(ev.ndcg_at_10);
	values[8] = Float8GetDatum(ev.hr_at_10);
	values[9] = Float8GetDatum(pop.ndcg_at_10);
	values[10] = Float8GetDatum(pop.hr_at_10);
	nulls[7] = nulls[8] = nulls[9] = nulls[10] = !have_eval;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

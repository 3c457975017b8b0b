/*
 * audit.c: raid.audit and raid.audit_embeddings, attribute-inference attacks
 * on a table of user embeddings, stored as rows of raid.audits.
 *
 * Stages: validate the arguments, read (user id, embedding, attribute) rows
 * through SPI (users without an attribute are excluded and counted, users
 * with an attribute but no embedding are counted), map the attribute's
 * values to classes, run the attackers in the core step by step with a
 * cancellation check between steps, and insert one row per attacker.
 * Nothing is stored unless every stage succeeded.
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "audit.h"

PG_FUNCTION_INFO_V1(raid_audit_model);
PG_FUNCTION_INFO_V1(raid_audit_embeddings);
PG_FUNCTION_INFO_V1(raid_check_audit_args);

/* One field of every fold of an attacker's result as a JSON array. */
#define ADD_FOLDS(j, key, r, field, add) \
	do { \
		raid_json_array_begin((j), (key)); \
		for (int f_ = 0; f_ < (r)->folds; f_++) \
			add; \
		raid_json_array_end(j); \
	} while (0)

/* Builds the details jsonb of one attacker's row. */
static char *
details_json(const RaidAuditOptions *opts, const AuditData *d, const raid_attack_result *r,
			 Jsonb *plan, double noise_floor)
{
	RaidJson	j;

	raid_json_init(&j, psprintf("the details of the %s attacker's audit",
								raid_attacker_name(r->attacker)));
	raid_json_object_begin(&j, NULL);
	raid_json_jsonb(&j, "options",
					DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(raid_audit_options_json(opts)))));
	raid_json_int(&j, "dim", d->dim);
	raid_json_array_begin(&j, "class_labels");
	for (int c = 0; c < d->n_classes; c++)
		raid_json_string(&j, NULL, d->class_names[c]);
	raid_json_array_end(&j);
	raid_json_array_begin(&j, "class_users");
	for (int c = 0; c < d->n_classes; c++)
		raid_json_int(&j, NULL, d->class_users[c]);
	raid_json_array_end(&j);
	raid_json_int(&j, "excluded_without_attribute", d->without_attribute);
	raid_json_int(&j, "missing_embedding", d->missing_embedding);
	raid_json_int(&j, "null_ids", d->null_ids);
	raid_json_number(&j, "f1_std", r->f1_std, "%.6f");
	raid_json_number(&j, "balanced_accuracy_std", r->balanced_accuracy_std, "%.6f");
	raid_json_number(&j, "auc_std", r->auc_std, "%.6f");
	ADD_FOLDS(&j, "fold_f1", r, f1, raid_json_number(&j, NULL, r->fold[f_].f1, "%.6f"));
	ADD_FOLDS(&j, "fold_balanced_accuracy", r, balanced_accuracy,
			  raid_json_number(&j, NULL, r->fold[f_].balanced_accuracy, "%.6f"));
	ADD_FOLDS(&j, "fold_auc", r, auc, raid_json_number(&j, NULL, r->fold[f_].auc, "%.6f"));
	ADD_FOLDS(&j, "fold_train_users", r, train_users, raid_json_int(&j, NULL, r->fold[f_].train_users));
	ADD_FOLDS(&j, "fold_test_users", r, test_users, raid_json_int(&j, NULL, r->fold[f_].test_users));
	ADD_FOLDS(&j, "fold_iterations", r, iterations, raid_json_int(&j, NULL, r->fold[f_].iterations));
	if (noise_floor >= 0)
		raid_json_number(&j, "noise_floor", noise_floor, "%.6f");
	if (plan)
		raid_json_jsonb(&j, "plan", plan);
	raid_json_object_end(&j);
	return raid_json_finish_text(&j);
}

/* The cross-validation plan as JSON: per fold, the test and training user ids. */
static Jsonb *
plan_json(raid_audit *audit, const AuditData *d, int folds)
{
	int32	   *fold_of = palloc_extended(sizeof(int32) * d->n, MCXT_ALLOC_HUGE);
	uint8	   *in_train = palloc_extended((Size) d->n * folds, MCXT_ALLOC_HUGE);
	raid_error	err;
	RaidJson	j;

	raid_error_clear(&err);
	if (raid_audit_get_folds(audit, fold_of, in_train, &err) != RAID_OK)
		raid_report_error(&err, "reading the cross-validation plan");
	raid_json_init(&j, "the cross-validation plan");
	raid_json_array_begin(&j, NULL);
	for (int f = 0; f < folds; f++)
	{
		raid_json_object_begin(&j, NULL);
		raid_json_array_begin(&j, "test");
		for (int64 i = 0; i < d->n; i++)
			if (fold_of[i] == f)
				raid_json_int(&j, NULL, d->ids[i]);
		raid_json_array_end(&j);
		raid_json_array_begin(&j, "train");
		for (int64 i = 0; i < d->n; i++)
			if (in_train[(int64) f * d->n + i])
				raid_json_int(&j, NULL, d->ids[i]);
		raid_json_array_end(&j);
		raid_json_object_end(&j);
	}
	raid_json_array_end(&j);
	return raid_json_finish(&j);
}

/* Frees the core audit if an error or cancel unwinds past it. */
static void
audit_free_callback(void *arg)
{
	raid_audit **h = (raid_audit **) arg;

	if (*h)
		raid_audit_free(*h);
	*h = NULL;
}

/* Distance of an attacker's balanced accuracy from chance, two-sided: an
 * attacker below chance leaks too (flipping its predictions helps it). */
static double
leakage(const raid_attack_result *r)
{
	return fabs(r->balanced_accuracy - r->chance);
}

/*
 * The class labels in a seeded random order (Fisher-Yates): the same class
 * sizes without any link to the embeddings, for the noise floor.
 */
static int32 *
shuffled_labels(const AuditData *d, uint64 seed)
{
	int32	   *y = palloc_extended(sizeof(int32) * Max(d->n, 1), MCXT_ALLOC_HUGE);
	pg_prng_state rng;

	memcpy(y, d->classes, sizeof(int32) * d->n);
	pg_prng_seed(&rng, seed ^ UINT64CONST(0x6e756c6c72756e));	/* "nullrun" */
	for (int64 i = d->n - 1; i > 0; i--)
	{
		int64		j = (int64) pg_prng_uint64_range(&rng, 0, (uint64) i);
		int32		t = y[i];

		y[i] = y[j];
		y[j] = t;
	}
	return y;
}

/*
 * Runs the attackers on the users' features with these labels, reporting
 * progress from `from` to `to`; fills results (one per attacker) and, if
 * plan is not NULL, the cross-validation plan as JSON.  Returns the count.
 */
static int32
attack(const AuditData *d, const int32 *labels, RaidAuditOptions *opts, raid_audit **handle,
	   raid_attack_result *results, Jsonb **plan, double from, double to, const char *phase)
{
	raid_error	err;
	int			done = 0;
	double		fraction = 0;
	int32		n_results = 0;

	raid_error_clear(&err);
	*handle = raid_audit_create(d->X, d->ids, labels, d->n, d->dim, d->n_classes, &opts->core, &err);
	if (*handle == NULL)
		raid_report_error(&err, "preparing the audit");
	while (!done)
	{
		const char *attacker = NULL;
		int32		fold = 0;
		char		task[64];

		CHECK_FOR_INTERRUPTS();
		/* name the task that runs next: "auditing: mlp fold 2/5" */
		if (raid_audit_next_task(*handle, &attacker, &fold, &err) != RAID_OK)
			raid_report_error(&err, "attacking the embeddings");
		if (attacker != NULL)
		{
			snprintf(task, sizeof(task), "%s: %s fold %d/%d", phase, attacker, fold + 1, opts->core.folds);
			raid_report_progress(from + (to - from) * fraction, 0, task);
		}
		if (raid_audit_step(*handle, &done, &fraction, &err) != RAID_OK)
			raid_report_error(&err, "attacking the embeddings");
	}
	raid_report_progress(to, 0, phase);
	if (raid_audit_get_results(*handle, results, RAID_MAX_ATTACKERS, &n_results, &err) != RAID_OK)
		raid_report_error(&err, "reading the audit results");
	if (plan)
		*plan = plan_json(*handle, d, opts->core.folds);
	raid_audit_free(*handle);
	*handle = NULL;
	return n_results;
}

/*
 * Reads, attacks, stores; adds the stored rows to the function's result set
 * (InitMaterializedSRF first).
 * Long: its stages share the core handle, the SPI connection and the role
 * switch.
 */
static void
run_audit(FunctionCallInfo fcinfo, const AuditSource *src, RaidAuditOptions *opts)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext keep = CurrentMemoryContext;
	AuditData	d = {0};
	raid_audit **handle = palloc0(sizeof(raid_audit *));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
	raid_attack_result results[2 * RAID_MAX_ATTACKERS];
	int32		n_real = 0;
	int32		n_null = 0;
	int			strongest = -1;
	double		noise_floor = 0;
	Jsonb	   *plan = NULL;
	SPIPlanPtr	insert;
	RaidUserSwitch sw;
	Oid			types[19] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
		INT8OID, INT4OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, TEXTOID, REGROLEOID,
	FLOAT8OID, BOOLOID, BOOLOID};

	cb->func = audit_free_callback;
	cb->arg = handle;
	MemoryContextRegisterResetCallback(keep, cb);

	opts->core.threads = raid_effective_threads(opts->core.threads);

	SPI_connect();
	raid_audit_read_rows(src, &d, keep);
	raid_audit_assign_classes(&d, src->attribute_col, opts->core.folds, src->empty_hint);

	n_real = attack(&d, d.classes, opts, handle, results, opts->run.store_folds ? &plan : NULL,
					0.0, opts->run.null_run ? 0.5 : 1.0, "attacking");
	if (opts->run.null_run)
	{
		n_null = attack(&d, shuffled_labels(&d, opts->core.seed), opts, handle, results + n_real,
						NULL, 0.5, 1.0, "attacking shuffled labels");
		for (int i = n_real; i < n_real + n_null; i++)
			noise_floor = Max(noise_floor, leakage(&results[i]));
	}
	for (int i = 0; i < n_real; i++)
		if (strongest < 0 || leakage(&results[i]) > leakage(&results[strongest]))
			strongest = i;

	raid_become_owner(&sw);
	insert = SPI_prepare("INSERT INTO raid.audits (model_id, model, embeddings, attributes_table, "
						 "attribute, attacker, classes, users, folds, f1, balanced_accuracy, auc, "
						 "chance, seconds, details, owner, leakage, strongest, shuffled) "
						 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, "
						 "$17, $18, $19) RETURNING *", 19, types);
	if (insert == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int i = 0; i < n_real + n_null; i++)
	{
		const raid_attack_result *r = &results[i];
		bool		is_null_run = i >= n_real;
		Datum		v[19];
		char		nulls[19];

		memset(nulls, ' ', sizeof(nulls));
		v[0] = Int64GetDatum(src->model_id);
		nulls[0] = src->model_id ? ' ' : 'n';
		v[1] = src->model ? CStringGetTextDatum(src->model) : (Datum) 0;
		nulls[1] = src->model ? ' ' : 'n';
		v[2] = src->embeddings ? CStringGetTextDatum(src->embeddings) : (Datum) 0;
		nulls[2] = src->embeddings ? ' ' : 'n';
		v[3] = CStringGetTextDatum(src->attributes);
		v[4] = CStringGetTextDatum(src->attribute_col);
		v[5] = CStringGetTextDatum(raid_attacker_name(r->attacker));
		v[6] = Int32GetDatum(r->classes);
		v[7] = Int64GetDatum(r->users);
		v[8] = Int32GetDatum(r->folds);
		v[9] = Float8GetDatum(r->f1);
		v[10] = Float8GetDatum(r->balanced_accuracy);
		v[11] = Float8GetDatum(r->auc);
		v[12] = Float8GetDatum(r->chance);
		v[13] = Float8GetDatum(r->seconds);
		v[14] = CStringGetTextDatum(details_json(opts, &d, r, is_null_run ? NULL : plan,
												 opts->run.null_run ? noise_floor : -1.0));
		v[15] = ObjectIdGetDatum(sw.caller);
		v[16] = Float8GetDatum(leakage(r));
		v[17] = BoolGetDatum(i == strongest);
		v[18] = BoolGetDatum(is_null_run);
		if (SPI_execute_plan(insert, v, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not store the audit");
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[0]);
	}
	raid_restore_user(&sw);
	SPI_finish();
}

/*
 * raid.audit(model, attributes, attribute_col, options): attacks a model's
 * user embeddings with the attribute it was trained against, or one named.
 */
Datum
raid_audit_model(PG_FUNCTION_ARGS)
{
	AuditSource src = {0};
	RaidAuditOptions opts;
	char	   *model;
	char	   *rec_attributes;
	char	   *rec_attribute_col;
	char	   *user_col;
	char	   *list = NULL;
	char	  **cols;
	int			n_cols;
	Oid			attributes;

	raid_require_arg(fcinfo, 0, "model");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	raid_check_model_name(model);
	raid_parse_audit_options(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &opts);
	/* a training or drop of the model waits for the audit, or the audit for it */
	(void) raid_lock_model(GetUserId(), model, false, false);
	raid_audit_lookup_model(model, &src.model_id, &rec_attributes, &rec_attribute_col, &user_col);
	src.model = model;

	if (!PG_ARGISNULL(1))
		attributes = PG_GETARG_OID(1);
	else if (rec_attributes)
		attributes = raid_audit_recorded_table(rec_attributes, model);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" was trained without attributes", model),
				 errhint("Name them: raid.audit('%s', 'users', 'gender').", model)));
	if (!PG_ARGISNULL(2))
		list = text_to_cstring(PG_GETARG_TEXT_PP(2));
	else if (rec_attribute_col && (PG_ARGISNULL(1) || rec_attributes))
		list = rec_attribute_col;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attribute_col is required for model \"%s\"", model)));

	raid_check_integer_column(attributes, user_col);
	n_cols = raid_split_attribute_cols(list, attributes, &cols);
	src.attributes = raid_qualified_relname(attributes);
	src.empty_hint = psprintf("The attributes table is joined on its column \"%s\", the model's user_col.",
							  user_col);
	InitMaterializedSRF(fcinfo, 0);
	/* one audit per attribute, each with its own rows */
	for (int c = 0; c < n_cols; c++)
	{
		src.attribute_col = cols[c];
		src.rows_query = psprintf("SELECT e.user_id, e.embedding, a.%s::text "
								  "FROM raid.user_embeddings e LEFT JOIN %s a ON a.%s = e.user_id "
								  "WHERE e.model_id = " INT64_FORMAT " ORDER BY e.user_id",
								  quote_identifier(src.attribute_col), src.attributes,
								  quote_identifier(user_col), src.model_id);
		src.missing_query = psprintf("SELECT count(*) FROM %s a WHERE a.%s IS NOT NULL AND NOT EXISTS "
									 "(SELECT 1 FROM raid.user_embeddings e WHERE e.model_id = " INT64_FORMAT
									 " AND e.user_id = a.%s)",
									 src.attributes, quote_identifier(src.attribute_col),
									 src.model_id, quote_identifier(user_col));
		run_audit(fcinfo, &src, &opts);
	}
	raid_progress_done();
	return (Datum) 0;
}

/*
 * raid.audit_embeddings(embeddings, id_col, embedding_col, attributes,
 * attribute_id_col, attribute_col, options): the same for any table.
 */
Datum
raid_audit_embeddings(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {
		"embeddings", "id_col", "embedding_col", "attributes", "attribute_id_col", "attribute_col"
	};
	AuditSource src = {0};
	RaidAuditOptions opts;
	Oid			emb_rel;
	Oid			attr_rel;
	char	   *id_col;
	char	   *emb_col;
	char	   *attr_id_col;
	char	   *emb_table;

	for (int i = 0; i < (int) lengthof(names); i++)
		raid_require_arg(fcinfo, i, names[i]);
	emb_rel = PG_GETARG_OID(0);
	id_col = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	emb_col = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	attr_rel = PG_GETARG_OID(3);
	attr_id_col = pstrdup(NameStr(*PG_GETARG_NAME(4)));
	src.attribute_col = pstrdup(NameStr(*PG_GETARG_NAME(5)));
	raid_parse_audit_options(PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6), &opts);

	raid_check_integer_column(emb_rel, id_col);
	raid_audit_check_embedding_column(emb_rel, emb_col);
	raid_check_integer_column(attr_rel, attr_id_col);
	(void) raid_column_type(attr_rel, src.attribute_col, NULL);

	emb_table = raid_qualified_relname(emb_rel);
	src.attributes = raid_qualified_relname(attr_rel);
	src.embeddings = psprintf("%s(%s, %s)", emb_table, quote_identifier(id_col),
							  quote_identifier(emb_col));
	src.rows_query = psprintf("SELECT e.%s::int8, e.%s%s, a.%s::text "
							  "FROM %s e LEFT JOIN %s a ON a.%s = e.%s ORDER BY 1",
							  quote_identifier(id_col), quote_identifier(emb_col),
							  getBaseType(raid_column_type(emb_rel, emb_col, NULL)) == FLOAT8ARRAYOID ?
							  "" : "::real[]",
							  quote_identifier(src.attribute_col), emb_table, src.attributes,
							  quote_identifier(attr_id_col), quote_identifier(id_col));
	src.missing_query = psprintf("SELECT count(*) FROM %s a WHERE a.%s IS NOT NULL AND NOT EXISTS "
								 "(SELECT 1 FROM %s e WHERE e.%s = a.%s)",
								 src.attributes, quote_identifier(src.attribute_col), emb_table,
								 quote_identifier(id_col), quote_identifier(attr_id_col));
	InitMaterializedSRF(fcinfo, 0);
	run_audit(fcinfo, &src, &opts);
	raid_progress_done();
	return (Datum) 0;
}

/*
 * raid.check_audit_args(model, attributes, attribute_col, options): what
 * raid.audit can check before the model exists (a queued training may make
 * it): the name, the options, and a given attributes table and its columns;
 * with the model already there, also the join column.  raid.submit_audit
 * runs it before queueing.
 */
Datum
raid_check_audit_args(PG_FUNCTION_ARGS)
{
	RaidAuditOptions opts;
	char	   *model;
	char	  **cols;

	raid_require_arg(fcinfo, 0, "model");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	raid_check_model_name(model);
	raid_parse_audit_options(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &opts);
	if (!PG_ARGISNULL(1))
	{
		Oid			attributes = PG_GETARG_OID(1);

		if (!PG_ARGISNULL(2))
			(void) raid_split_attribute_cols(text_to_cstring(PG_GETARG_TEXT_PP(2)), attributes, &cols);
		SPI_connect();
		if (raid_select_model(model, "user_col", true))
		{
			char	   *user_col = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (user_col)
				raid_check_integer_column(attributes, user_col);
		}
		SPI_finish();
	}
	PG_RETURN_VOID();
}


/*
 * fold_in.c: raid.fold_in and raid.fold_in_user, embeddings for users who
 * were not in training (or whose interactions changed), solved against the
 * model's stored item embeddings with its own training options
 * (core/train/fold_in.h), and stored in the model's tables: a user already
 * in the model gets the new embedding and training items.
 *
 * The interactions are read as the caller, through a cursor, in batches of
 * FOLD_BATCH users; each batch is solved on all cores and written (as the
 * tables' owner) before the next is read, so memory does not grow with the
 * users.  Everything happens in the caller's transaction: an error or a
 * cancel leaves the model as it was.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "train.h"

PG_FUNCTION_INFO_V1(raid_fold_in_table);
PG_FUNCTION_INFO_V1(raid_fold_in_user);

#define FOLD_BATCH 4096

/* The options a fold-in may change; the others are the model's. */
static const char *const fold_options[] = {"epochs", "lr", "l2", "negatives", "init_std", "seed", "threads"};

typedef struct FoldCtx
{
	const char *model;
	MemoryContext cxt;			/* the caller's, outside SPI */
	int64		model_id;
	int			dim;
	RaidItems	items;
	raid_mf_options mf;
	int64		users;			/* folded in */
	int64		new_users;		/* of them, not in the model before */
	int64		skipped;		/* users with no item of the model */
	int64		unknown;		/* interactions with items not in the model */
} FoldCtx;

/*
 * Reads the caller's model, its items and its options with the caller's
 * overrides (22023 for an option a fold-in does not take).
 */
static void
open_model(FoldCtx *c, const char *model, Jsonb *overrides)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(model), ObjectIdGetDatum(GetUserId())};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int64		n_items;
	char	   *defense;
	Jsonb	   *options;
	RaidTrainOptions o;
	bool		isnull;

	if (!JB_ROOT_IS_OBJECT(overrides))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object")));
	it = JsonbIteratorInit(&overrides->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
			bool		ok = false;

			for (int i = 0; i < lengthof(fold_options); i++)
				ok = ok || strcmp(key, fold_options[i]) == 0;
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" does not apply to a fold-in", key),
						 errhint("A fold-in takes epochs, lr, l2, negatives, init_std, seed and threads; the others are the model's.")));
		}
	c->model = model;
	raid_lookup_served_model(model, &c->model_id, &c->dim, &n_items);
	if (SPI_execute_with_args("SELECT defense, options FROM raid.models WHERE name = $1 AND owner = $2",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the options of model \"%s\"", model);
	defense = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	options = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	options = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(options),
												 JsonbPGetDatum(overrides)));
	raid_parse_train_options(options, raid_defense_from_name(defense), &o);
	c->mf = o.mf;
	c->mf.threads = raid_effective_threads(c->mf.threads);
	if (strcmp(defense, "none") != 0)
		ereport(WARNING,
				(errmsg("model \"%s\" was trained with defense '%s', and folded-in users do not get its protection yet",
						model, defense),
				 errhint("Audit the model with raid.audit() after a fold-in before relying on it.")));
	raid_model_items(c->model_id, c->dim, n_items, &c->items, c->cxt);
}

/*
 * Writes one batch: deletes the users' earlier rows, inserts the new
 * embeddings and training items (original ids, CSR by offs).
 */
static void
store_batch(FoldCtx *c, int n, const int64 *ids, const float *emb, const int64 *offs,
			const int32 *rows)
{
	Oid			t2[2] = {INT8OID, INT8ARRAYOID};
	Oid			t4[4] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum	   *idd = palloc(sizeof(Datum) * n);
	Datum	   *offd = palloc(sizeof(Datum) * (n + 1));
	Datum	   *itd = palloc(sizeof(Datum) * Max(offs[n], 1));
	Datum		args[4];
	RaidUserSwitch sw;

	for (int r = 0; r < n; r++)
		idd[r] = Int64GetDatum(ids[r]);
	for (int r = 0; r <= n; r++)
		offd[r] = Int64GetDatum(offs[r]);
	for (int64 e = 0; e < offs[n]; e++)
		itd[e] = Int64GetDatum(c->items.ids[rows[e]]);
	args[0] = Int64GetDatum(c->model_id);
	args[1] = PointerGetDatum(construct_array(idd, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(itd, (int) offs[n], INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(offd, n + 1, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	raid_become_owner(&sw);
	if (SPI_execute_with_args("DELETE FROM raid.user_embeddings WHERE model_id = $1 AND user_id = ANY ($2)",
							  2, t2, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not replace the users' embeddings");
	c->new_users += n - (int64) SPI_processed;
	if (SPI_execute_with_args("DELETE FROM raid.user_items WHERE model_id = $1 AND user_id = ANY ($2)",
							  2, t2, args, NULL, false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("INSERT INTO raid.user_items (model_id, user_id, item_ids) "
							  "SELECT $1, u.id, $3[($4[u.n] + 1)::int4 : $4[u.n + 1]::int4] "
							  "FROM unnest($2) WITH ORDINALITY AS u(id, n)",
							  4, t4, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the users' training items");
	raid_store_embeddings("user_embeddings", "user_id", c->model_id, ids, emb, n, c->dim);
	raid_restore_user(&sw);
	c->users += n;
}

/*
 * Folds in n users whose interactions are item ids items[offs[r] ..
 * offs[r + 1]) (ascending, distinct): maps them to the model's item rows,
 * skips (and counts) users with none of its items, solves and stores.
 * Returns the users skipped.
 */
static int
fold_batch(FoldCtx *c, int n, const int64 *ids, const int64 *offs, const int64 *items)
{
	int64	   *kept_ids = palloc(sizeof(int64) * Max(n, 1));
	uint64	   *keys = palloc(sizeof(uint64) * Max(n, 1));
	int64	   *row_offs = palloc(sizeof(int64) * (n + 1));
	int32	   *rows = palloc(sizeof(int32) * Max(offs[n], 1));
	float	   *emb;
	int			m = 0;
	int64		pos = 0;
	raid_error	err;

	row_offs[0] = 0;
	for (int r = 0; r < n; r++)
	{
		int64		start = pos;

		for (int64 p = offs[r]; p < offs[r + 1]; p++)
		{
			int64	   *hit = bsearch(&items[p], c->items.ids, c->items.n, sizeof(int64), raid_cmp_int64);

			if (hit)
				rows[pos++] = (int32) (hit - c->items.ids);	/* ascending: ids and rows agree */
			else
				c->unknown++;
		}
		if (pos == start)
			continue;
		kept_ids[m] = ids[r];
		keys[m] = (uint64) ids[r];
		row_offs[++m] = pos;
	}
	if (m > 0)
	{
		raid_check_memory((double) m * c->dim * 4.0, "the folded-in embeddings");
		emb = palloc_extended(sizeof(float) * m * c->dim, MCXT_ALLOC_HUGE);
		raid_error_clear(&err);
		if (raid_fold_in(c->items.emb, c->items.n, row_offs, rows, keys, m, &c->mf, emb, &err) != RAID_OK)
			raid_report_error(&err, "folding in the users");
		store_batch(c, m, kept_ids, emb, row_offs, rows);
		pfree(emb);
	}
	c->skipped += n - m;
	pfree(kept_ids);
	pfree(keys);
	pfree(row_offs);
	pfree(rows);
	return n - m;
}

/* Updates the model's user count and returns the summary row. */
static Datum
finish(FunctionCallInfo fcinfo, FoldCtx *c, instr_time start)
{
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(c->model_id)};
	RaidUserSwitch sw;

	raid_become_owner(&sw);
	if (SPI_execute_with_args("UPDATE raid.models SET users = (SELECT count(*) FROM raid.user_embeddings "
							  "WHERE model_id = $1) WHERE model_id = $1",
							  1, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the model's user count");
	raid_restore_user(&sw);
	SPI_finish();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "raid.fold_in must return a composite type");
	values[0] = CStringGetTextDatum(c->model);
	values[1] = Int64GetDatum(c->users);
	values[2] = Int64GetDatum(c->new_users);
	values[3] = Int64GetDatum(c->skipped);
	values[4] = Int64GetDatum(c->unknown);
	values[5] = Float8GetDatum(raid_elapsed_seconds(start));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* Copies the cursor's rows (user, ascending distinct item ids) into a batch. */
static int
read_batch(int64 *ids, int64 **offs, int64 **items, int64 *cap)
{
	int			n = (int) SPI_processed;
	int64		pos = 0;

	(*offs)[0] = 0;
	for (int r = 0; r < n; r++)
	{
		bool		isnull;
		ArrayType  *arr;
		int			len;

		ids[r] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		arr = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		len = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
		if (pos + len > *cap)
		{
			*cap = Max(2 * *cap, pos + len);
			raid_check_memory(8.0 * *cap, "the users' items of a fold-in batch");
			*items = repalloc_huge(*items, sizeof(int64) * *cap);
		}
		memcpy(*items + pos, ARR_DATA_PTR(arr), sizeof(int64) * len);
		pos += len;
		(*offs)[r + 1] = pos;
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * raid.fold_in(model, interactions, user_col, item_col, options): every user
 * of the table, from all its rows.
 * Long: the checks, the cursor loop and the summary read best in one place.
 */
Datum
raid_fold_in_table(PG_FUNCTION_ARGS)
{
	FoldCtx		c = {0};
	char	   *model;
	Oid			relid;
	char	   *ucol;
	char	   *icol;
	int64	   *ids = palloc(sizeof(int64) * FOLD_BATCH);
	int64	   *offs = palloc(sizeof(int64) * (FOLD_BATCH + 1));
	int64		cap = 64 * FOLD_BATCH;
	int64	   *items = palloc_extended(sizeof(int64) * cap, MCXT_ALLOC_HUGE);
	Portal		cursor;
	instr_time	start;

	raid_require_arg(fcinfo, 0, "model");
	raid_require_arg(fcinfo, 1, "interactions");
	raid_require_arg(fcinfo, 2, "user_col");
	raid_require_arg(fcinfo, 3, "item_col");
	INSTR_TIME_SET_CURRENT(start);
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	ucol = NameStr(*PG_GETARG_NAME(2));
	icol = NameStr(*PG_GETARG_NAME(3));
	raid_check_model_name(model);
	raid_check_integer_column(relid, ucol);
	raid_check_integer_column(relid, icol);
	if (!raid_lock_model(GetUserId(), model, true, true))
		raid_model_busy_error(model);
	c.cxt = CurrentMemoryContext;
	SPI_connect();
	open_model(&c, model, PG_ARGISNULL(4) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
			   : PG_GETARG_JSONB_P(4));
	cursor = SPI_cursor_open(NULL, SPI_prepare(psprintf("SELECT t.%s::int8, "
														"array_agg(DISTINCT t.%s::int8 ORDER BY t.%s::int8) "
														"FROM %s t WHERE t.%s IS NOT NULL AND t.%s IS NOT NULL "
														"GROUP BY 1 ORDER BY 1",
														quote_identifier(ucol), quote_identifier(icol),
														quote_identifier(icol), raid_qualified_relname(relid),
														quote_identifier(ucol), quote_identifier(icol)),
											   0, NULL),
							 NULL, NULL, true);
	for (;;)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(cursor, true, FOLD_BATCH);
		if (SPI_processed == 0)
			break;
		n = read_batch(ids, &offs, &items, &cap);
		fold_batch(&c, n, ids, offs, items);
	}
	SPI_cursor_close(cursor);
	if (c.users == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no user of %s has an interaction with an item of model \"%s\"",
						raid_qualified_relname(relid), model),
				 errdetail(INT64_FORMAT " users, " INT64_FORMAT " interactions with items the model does not have.",
						   c.skipped, c.unknown)));
	if (c.skipped > 0)
		ereport(NOTICE,
				(errmsg(INT64_FORMAT " users skipped: none of their items is in model \"%s\"",
						c.skipped, model)));
	return finish(fcinfo, &c, start);
}

/* raid.fold_in_user(model, user_id, item_ids, options): one user. */
Datum
raid_fold_in_user(PG_FUNCTION_ARGS)
{
	FoldCtx		c = {0};
	char	   *model;
	int64		user_id;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int64	   *items;
	int64		offs[2];
	int			m = 0;
	instr_time	start;

	raid_require_arg(fcinfo, 0, "model");
	raid_require_arg(fcinfo, 1, "user_id");
	raid_require_arg(fcinfo, 2, "item_ids");
	INSTR_TIME_SET_CURRENT(start);
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	user_id = PG_GETARG_INT64(1);
	arr = PG_GETARG_ARRAYTYPE_P(2);
	raid_check_model_name(model);
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &elem_nulls, &n);
	items = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!elem_nulls[i])
			items[m++] = DatumGetInt64(elems[i]);
	qsort(items, m, sizeof(int64), raid_cmp_int64);
	n = 0;
	for (int i = 0; i < m; i++)
		if (i == 0 || items[i] != items[n - 1])
			items[n++] = items[i];
	if (!raid_lock_model(GetUserId(), model, true, true))
		raid_model_busy_error(model);
	c.cxt = CurrentMemoryContext;
	SPI_connect();
	open_model(&c, model, PG_ARGISNULL(3) ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
			   : PG_GETARG_JSONB_P(3));
	offs[0] = 0;
	offs[1] = n;
	if (fold_batch(&c, 1, &user_id, offs, items) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user " INT64_FORMAT " has no interaction with an item of model \"%s\"", user_id, model),
				 errdetail("%d item ids given, none of them in the model.", n)));
	return finish(fcinfo, &c, start);
}

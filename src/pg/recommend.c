/*
 * recommend.c: raid.recommend, top-k items for one user from the stored
 * embeddings, excluding the items the user trained on.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_recommend);


/* What one call ranks: the user and the items to leave out. */
typedef struct RecQuery
{
	int64		model_id;
	int			dim;
	int64		n_items;		/* the model's items */
	float	   *user;			/* the user's embedding */
	Datum		seen;			/* the user's training items, a bigint[] */
	int64	   *seen_ids;		/* the same, sorted */
	int			n_seen;
} RecQuery;

/* Reads the user's embedding and training items into q (22023 if unknown). */
static void
read_user(const char *model, int64 user_id, RecQuery *q, MemoryContext caller)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(q->model_id), Int64GetDatum(user_id)};
	bool		isnull;
	Datum		d;
	Datum	   *seen;
	bool	   *seen_nulls;

	if (SPI_execute_with_args("SELECT e.embedding, i.item_ids FROM raid.user_embeddings e "
							  "LEFT JOIN raid.user_items i USING (model_id, user_id) "
							  "WHERE e.model_id = $1 AND e.user_id = $2",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's embedding");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("user " INT64_FORMAT " is not in model \"%s\"", user_id, model),
				 errdetail("The model was trained on users that have interactions.")));
	q->user = MemoryContextAlloc(caller, sizeof(float) * q->dim);
	raid_copy_embedding(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
				   q->dim, q->user, "user", user_id);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	q->n_seen = 0;
	q->seen = (Datum) 0;
	q->seen_ids = MemoryContextAlloc(caller, sizeof(int64));
	if (isnull)
		return;
	q->seen = datumCopy(d, false, -1);
	deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &seen, &seen_nulls, &q->n_seen);
	q->seen_ids = MemoryContextAlloc(caller, sizeof(int64) * Max(q->n_seen, 1));
	for (int s = 0; s < q->n_seen; s++)
		q->seen_ids[s] = seen_nulls[s] ? PG_INT64_MIN : DatumGetInt64(seen[s]);
	qsort(q->seen_ids, q->n_seen, sizeof(int64), raid_cmp_int64);
}

typedef struct Scored
{
	int64		item_id;
	float		score;
} Scored;

static int
cmp_score_desc(const void *a, const void *b)
{
	const Scored *x = a;
	const Scored *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return raid_cmp_int64(&x->item_id, &y->item_id);
}

/* Sets a setting for the rest of the GUC nest level. */
static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * The indexed path: the k best unseen items through the model's HNSW index,
 * with pgvector's iterative scan (0.8 and later) so that training items
 * filtered out do not leave fewer than k rows, and hnsw.ef_search
 * raid.ef_search (at least k).  Fills out (rows in
 * the caller's context) and returns how many it found; the caller falls back
 * to exact scoring when that is fewer than it must return.
 * Long: the settings, the query and the re-sort of relaxed order belong together.
 */
static int
indexed_topk(const RecQuery *q, const char *vs, int k, Scored *out)
{
	Oid			types[2] = {FLOAT4ARRAYOID, INT8ARRAYOID};
	Datum		args[2];
	int			nest = NewGUCNestLevel();
	char	   *dist;
	char		buf[32];
	int			n;

	/* loads pgvector, which defines its settings */
	if (SPI_execute(psprintf("SELECT '[0]'::%s.vector", vs), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not load pgvector");
	snprintf(buf, sizeof(buf), "%d", Min(Max(raid_ef_search, k), 1000));
	set_local("hnsw.ef_search", buf);
	/* the index, whatever the planner's statistics say (they lag a training) */
	set_local("enable_seqscan", "off");
	set_local("enable_bitmapscan", "off");
	set_local("enable_sort", "off");
	if (GetConfigOption("hnsw.iterative_scan", true, false) != NULL)
		set_local("hnsw.iterative_scan", "relaxed_order");
	{
		Datum	   *e = palloc(sizeof(Datum) * q->dim);

		for (int j = 0; j < q->dim; j++)
			e[j] = Float4GetDatum(q->user[j]);
		args[0] = PointerGetDatum(construct_array(e, q->dim, FLOAT4OID, 4, true, TYPALIGN_INT));
	}
	args[1] = q->seen != (Datum) 0 ? q->seen :
		PointerGetDatum(construct_empty_array(INT8OID));
	/* the index's expression, word for word, so that the planner matches it */
	dist = psprintf("%s OPERATOR(%s.<#>) CAST($1 AS %s.vector(%d))",
					raid_item_index_expr(vs, q->dim), vs, vs, q->dim);
	if (SPI_execute_with_args(psprintf("SELECT item_id, %s FROM raid.item_embeddings "
									   "WHERE model_id = " INT64_FORMAT " AND item_id <> ALL ($2) "
									   "ORDER BY 2 LIMIT %d", dist, q->model_id, k),
							  2, types, args, NULL, true, k) != SPI_OK_SELECT)
		elog(ERROR, "could not search the index");
	n = (int) SPI_processed;
	for (int r = 0; r < n; r++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[r];

		out[r].item_id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		/* <#> is the negative inner product */
		out[r].score = (float) -DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	}
	AtEOXact_GUC(true, nest);
	/* relaxed order: pgvector's iterative scan may return them slightly out of order */
	qsort(out, n, sizeof(Scored), cmp_score_desc);
	return n;
}

/*
 * The exact path: reads every item embedding and ranks them all in the core.
 * Long: reading the items and excluding the training items share one pass.
 */
static int
exact_topk(const RecQuery *q, int k, Scored *out, MemoryContext caller)
{
	RaidItems	items;
	uint8	   *exclude;
	int64	   *out_index;
	float	   *out_score;
	int32		n_out = 0;
	raid_error	err;

	raid_model_items(q->model_id, q->dim, q->n_items, &items, caller);
	exclude = MemoryContextAllocZero(caller, Max(items.n, 1));
	for (int64 j = 0; j < items.n; j++)
		exclude[j] = bsearch(&items.ids[j], q->seen_ids, q->n_seen, sizeof(int64), raid_cmp_int64) != NULL;
	k = (int) Min((int64) k, Max(items.n, 1));
	out_index = palloc(sizeof(int64) * k);
	out_score = palloc(sizeof(float) * k);
	raid_error_clear(&err);
	if (raid_topk(q->user, items.emb, items.n, q->dim, exclude, k, out_index, out_score,
				  &n_out, &err) != RAID_OK)
		raid_report_error(&err, "ranking the items");
	for (int r = 0; r < n_out; r++)
	{
		out[r].item_id = items.ids[out_index[r]];
		out[r].score = out_score[r];
	}
	return n_out;
}

/*
 * raid.recommend(model, user_id, k, exact): through the model's HNSW index
 * when it has one and pgvector is there (unless exact), else by scoring
 * every item; exactly min(k, unseen items) rows either way.
 */
Datum
raid_recommend(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		user_id = PG_GETARG_INT64(1);
	int32		k = PG_GETARG_INT32(2);
	bool		exact = PG_GETARG_BOOL(3);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	RecQuery		q;
	Scored	   *out;
	int64		want;
	int			n = -1;
	char	   *vs;

	raid_check_model_name(model);
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero, got %d", k)));

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	raid_lookup_served_model(model, &q.model_id, &q.dim, &q.n_items);
	read_user(model, user_id, &q, caller);
	/* no more rows than items, whatever k asks for */
	k = (int32) Min((int64) k, Max(q.n_items, 1));
	want = Min((int64) k, Max(q.n_items - q.n_seen, 0));
	out = MemoryContextAlloc(caller, sizeof(Scored) * k);
	if (!exact && raid_item_index(q.model_id) && (vs = raid_vector_schema()) != NULL)
		n = indexed_topk(&q, vs, k, out);
	if (n >= 0 && n < want)
		elog(DEBUG1, "raid.recommend: the index gave %d of " INT64_FORMAT " rows; scoring every item",
			 n, want);
	if (n < want)
		n = exact_topk(&q, k, out, caller);
	SPI_finish();

	for (int r = 0; r < n; r++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(out[r].item_id);
		values[1] = Float4GetDatum(out[r].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

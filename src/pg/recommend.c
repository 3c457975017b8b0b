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
#include "utils/tuplestore.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_recommend);

/* Copies a stored real[] embedding of the expected length into dst. */
static void
copy_embedding(Datum d, int dim, float *dst, const char *what, int64 id)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);

	if (ARR_NDIM(arr) != 1 || ARR_DIMS(arr)[0] != dim || ARR_HASNULL(arr) ||
		ARR_ELEMTYPE(arr) != FLOAT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored embedding of %s " INT64_FORMAT " is not a real[] of %d elements",
						what, id, dim)));
	memcpy(dst, ARR_DATA_PTR(arr), sizeof(float) * dim);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Resolves the current role's model; raises 42704 if there is none. */
static void
lookup_model(const char *name, int64 *model_id, int *dim)
{
	bool		isnull;

	raid_select_model(name, "model_id, (options->>'dim')::int4, items", false);
	*model_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*dim = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull || *dim <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" has no valid \"dim\" in its options", name)));
	/* the item rows as SPI returns them (about twice the values) and their copy */
	raid_check_memory((double) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														   3, &isnull)) * (12.0 * *dim + 128.0),
					  "reading the item embeddings");
}

/*
 * Long: reading the model, scoring and returning the rows share one SPI
 * connection.
 */
Datum
raid_recommend(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		user_id = PG_GETARG_INT64(1);
	int32		k = PG_GETARG_INT32(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	int64		model_id;
	int			dim;
	float	   *user;
	float	   *items;
	int64	   *item_ids;
	uint8	   *exclude;
	int64		n_items;
	int64	   *out_index;
	float	   *out_score;
	int32		n_out = 0;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		args[2];
	bool		isnull;
	raid_error	err;

	raid_check_model_name(model);
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero, got %d", k)));

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	lookup_model(model, &model_id, &dim);
	args[0] = Int64GetDatum(model_id);
	args[1] = Int64GetDatum(user_id);

	/* the user's embedding and training items */
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
	user = MemoryContextAlloc(caller, sizeof(float) * dim);
	copy_embedding(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
				   dim, user, "user", user_id);
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		Datum	   *seen = NULL;
		bool	   *seen_nulls = NULL;
		int			n_seen = 0;

		if (!isnull)
			deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &seen, &seen_nulls, &n_seen);

		/* every item, in id order so training items can be found by bsearch */
		if (SPI_execute_with_args("SELECT item_id, embedding FROM raid.item_embeddings "
								  "WHERE model_id = $1 ORDER BY item_id",
								  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the item embeddings");
		n_items = (int64) SPI_processed;
		items = MemoryContextAllocHuge(caller, sizeof(float) * dim * Max(n_items, 1));
		item_ids = MemoryContextAllocHuge(caller, sizeof(int64) * Max(n_items, 1));
		exclude = MemoryContextAllocZero(caller, Max(n_items, 1));
		for (int64 j = 0; j < n_items; j++)
		{
			HeapTuple	tup = SPI_tuptable->vals[j];

			item_ids[j] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			copy_embedding(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull),
						   dim, items + j * dim, "item", item_ids[j]);
		}
		for (int s = 0; s < n_seen; s++)
		{
			int64		id = DatumGetInt64(seen[s]);
			int64	   *hit;

			if (seen_nulls[s])
				continue;
			hit = bsearch(&id, item_ids, n_items, sizeof(int64), cmp_int64);
			if (hit)
				exclude[hit - item_ids] = 1;
		}
	}
	SPI_finish();

	/* no more rows than items, whatever k asks for */
	k = (int32) Min((int64) k, Max(n_items, 1));
	out_index = palloc(sizeof(int64) * k);
	out_score = palloc(sizeof(float) * k);
	raid_error_clear(&err);
	if (raid_topk(user, items, n_items, dim, exclude, k, out_index, out_score,
				  &n_out, &err) != RAID_OK)
		raid_report_error(&err, "ranking the items");

	for (int r = 0; r < n_out; r++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(item_ids[out_index[r]]);
		values[1] = Float4GetDatum(out_score[r]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

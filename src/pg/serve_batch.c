/*
 * serve_batch.c: raid.recommend_all, the top k of every user of a model at
 * once, and raid.similar_items, the items nearest one item.
 *
 * recommend_all reads the model's items once, then its users in batches of
 * BATCH_USERS through a cursor, ranks each batch in the core (one GEMM per
 * block of users, blocks over all cores: raid_topk_batch) and appends its
 * rows to the result, which PostgreSQL keeps in memory up to work_mem and
 * on disk beyond: memory stays bounded by one batch whatever the users.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_recommend_all);
PG_FUNCTION_INFO_V1(raid_similar_items);

#define BATCH_USERS 4096

/* One batch of users: embeddings and training items as item rows (CSR). */
typedef struct UserBatch
{
	int			n;
	int64	   *ids;
	float	   *emb;			/* n x dim */
	int64	   *seen_off;		/* n + 1 */
	int32	   *seen_rows;
	int64		seen_cap;
} UserBatch;

static void
check_k(int32 k)
{
	if (k <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be greater than zero, got %d", k)));
}

/*
 * The common start of both functions: checks the arguments, opens the result
 * and SPI, and reads the caller's model and its items (left connected).
 */
static void
open_model(FunctionCallInfo fcinfo, const char *model, int32 k, int64 *model_id, int *dim,
		   RaidItems *items)
{
	MemoryContext caller = CurrentMemoryContext;
	int64		n_items;

	raid_check_model_name(model);
	check_k(k);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	raid_lookup_served_model(model, model_id, dim, &n_items);
	raid_model_items(*model_id, *dim, n_items, items, caller);
}

/* Fills b from the cursor's current rows (user_id, embedding, item_ids). */
static void
fill_batch(UserBatch *b, const RaidItems *items, int dim)
{
	b->n = (int) SPI_processed;
	b->seen_off[0] = 0;
	for (int r = 0; r < b->n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		Datum		d;
		int64		pos = b->seen_off[r];

		b->ids[r] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		raid_copy_embedding(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull),
							dim, b->emb + (int64) r * dim, "user", b->ids[r]);
		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
			const int64 *seen = (const int64 *) ARR_DATA_PTR(arr);

			if (ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != INT8OID)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("stored training items of user " INT64_FORMAT " are not a bigint[] without NULLs",
								b->ids[r])));
			if (pos + n > b->seen_cap)
			{
				b->seen_cap = Max(2 * b->seen_cap, pos + n);
				raid_check_memory(4.0 * b->seen_cap, "the training items of a batch of users");
				b->seen_rows = repalloc_huge(b->seen_rows, sizeof(int32) * b->seen_cap);
			}
			for (int s = 0; s < n; s++)
			{
				int64	   *hit = bsearch(&seen[s], items->ids, items->n, sizeof(int64), raid_cmp_int64);

				if (hit)
					b->seen_rows[pos++] = (int32) (hit - items->ids);
			}
		}
		b->seen_off[r + 1] = pos;
	}
}

/*
 * raid.recommend_all(model, k): (user_id, rank, item_id, score) for every
 * user of the model, users in id order, each user's rows best first.
 * Long: the cursor loop reads, ranks and emits one batch at a time.
 */
Datum
raid_recommend_all(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		k = PG_GETARG_INT32(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	int64		model_id;
	int			dim;
	int			threads = raid_effective_threads(0);
	RaidItems	items;
	UserBatch	b;
	int64	   *out_index;
	float	   *out_score;
	int32	   *out_count;
	Portal		cursor;
	Oid			types[1] = {INT8OID};
	Datum		args[1];

	open_model(fcinfo, model, k, &model_id, &dim, &items);
	k = (int32) Min((int64) k, Max(items.n, 1));
	/* a batch: embeddings, ids, offsets, results, and the core's blocks */
	raid_check_memory((double) BATCH_USERS * (4.0 * dim + 24.0 + 12.0 * k) +
					  raid_topk_batch_memory(BATCH_USERS, items.n, dim, k, threads),
					  "ranking the users' items");
	b.ids = MemoryContextAlloc(caller, sizeof(int64) * BATCH_USERS);
	b.emb = MemoryContextAllocHuge(caller, sizeof(float) * dim * BATCH_USERS);
	b.seen_off = MemoryContextAlloc(caller, sizeof(int64) * (BATCH_USERS + 1));
	b.seen_cap = 16 * BATCH_USERS;
	b.seen_rows = MemoryContextAllocHuge(caller, sizeof(int32) * b.seen_cap);
	out_index = MemoryContextAllocHuge(caller, sizeof(int64) * k * BATCH_USERS);
	out_score = MemoryContextAllocHuge(caller, sizeof(float) * k * BATCH_USERS);
	out_count = MemoryContextAlloc(caller, sizeof(int32) * BATCH_USERS);
	args[0] = Int64GetDatum(model_id);
	cursor = SPI_cursor_open_with_args(NULL,
									   "SELECT e.user_id, e.embedding, i.item_ids FROM raid.user_embeddings e "
									   "LEFT JOIN raid.user_items i USING (model_id, user_id) "
									   "WHERE e.model_id = $1 ORDER BY e.user_id",
									   1, types, args, NULL, true, 0);
	for (;;)
	{
		raid_error	err;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(cursor, true, BATCH_USERS);
		if (SPI_processed == 0)
			break;
		fill_batch(&b, &items, dim);
		SPI_freetuptable(SPI_tuptable);
		raid_error_clear(&err);
		if (raid_topk_batch(b.emb, b.n, items.emb, items.n, dim, b.seen_off, b.seen_rows, k,
							threads, out_index, out_score, out_count, &err) != RAID_OK)
			raid_report_error(&err, "ranking the items");
		for (int r = 0; r < b.n; r++)
			for (int j = 0; j < out_count[r]; j++)
			{
				Datum		values[4];
				bool		nulls[4] = {false, false, false, false};

				values[0] = Int64GetDatum(b.ids[r]);
				values[1] = Int32GetDatum(j + 1);
				values[2] = Int64GetDatum(items.ids[out_index[(int64) r * k + j]]);
				values[3] = Float4GetDatum(out_score[(int64) r * k + j]);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
	}
	SPI_cursor_close(cursor);
	SPI_finish();
	return (Datum) 0;
}

/*
 * raid.similar_items(model, item_id, k): the k items whose embeddings have
 * the largest cosine similarity with the item's, the item left out.
 */
Datum
raid_similar_items(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		item_id = PG_GETARG_INT64(1);
	int32		k = PG_GETARG_INT32(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		model_id;
	int			dim;
	RaidItems	items;
	int64	   *hit;
	uint8	   *exclude;
	int64	   *out_index;
	float	   *out_score;
	int32		n_out = 0;
	raid_error	err;

	open_model(fcinfo, model, k, &model_id, &dim, &items);
	SPI_finish();
	hit = bsearch(&item_id, items.ids, items.n, sizeof(int64), raid_cmp_int64);
	if (hit == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item " INT64_FORMAT " is not in model \"%s\"", item_id, model),
				 errdetail("The model was trained on items that have interactions.")));
	/* cosine: every row scaled to unit length (a zero row stays zero), in a copy */
	{
		float	   *copy;

		raid_check_memory(4.0 * dim * items.n, "a copy of the item embeddings");
		copy = palloc_extended(sizeof(float) * dim * Max(items.n, 1), MCXT_ALLOC_HUGE);

		memcpy(copy, items.emb, sizeof(float) * dim * items.n);
		items.emb = copy;
	}
	for (int64 j = 0; j < items.n; j++)
	{
		float	   *v = items.emb + j * dim;
		double		norm = 0;

		if ((j & 65535) == 0)
			CHECK_FOR_INTERRUPTS();

		for (int c = 0; c < dim; c++)
			norm += (double) v[c] * v[c];
		if (norm > 0)
			for (int c = 0; c < dim; c++)
				v[c] = (float) (v[c] / sqrt(norm));
	}
	exclude = palloc0(Max(items.n, 1));
	exclude[hit - items.ids] = 1;
	k = (int32) Min((int64) k, Max(items.n, 1));
	out_index = palloc(sizeof(int64) * k);
	out_score = palloc(sizeof(float) * k);
	raid_error_clear(&err);
	if (raid_topk(items.emb + (hit - items.ids) * dim, items.emb, items.n, dim, exclude, k,
				  out_index, out_score, &n_out, &err) != RAID_OK)
		raid_report_error(&err, "ranking the items");
	for (int r = 0; r < n_out; r++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(items.ids[out_index[r]]);
		values[1] = Float4GetDatum(out_score[r]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * serve.c: raid.create_index and raid.drop_index, an HNSW index (pgvector)
 * over one model's item embeddings, which raid.recommend then uses.
 *
 * The index is a partial expression index on raid.item_embeddings:
 *   CREATE INDEX item_embeddings_hnsw_<model_id> ON raid.item_embeddings
 *     USING hnsw ((CAST(embedding AS vector(dim))) vector_ip_ops)
 *     WHERE model_id = <model_id>
 * so it holds that model's items only (one model's index never mixes with
 * another's), needs no copy of the embeddings and cannot go stale: the rows
 * it indexes are written once, at training.  raid.item_indexes keeps the
 * build's settings; a trigger on raid.models drops the index with its
 * model (raid.drop_model, a retrain with replace, raid.drop_owned).
 * pgvector is optional: only these functions and the indexed path of
 * raid.recommend need it.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_create_index);
PG_FUNCTION_INFO_V1(raid_drop_index);

int			raid_ef_search = RAID_DEFAULT_EF_SEARCH;
int			raid_item_cache_mb = RAID_DEFAULT_ITEM_CACHE_MB;

/* pgvector's HNSW limits (vector type, hnsw access method) */
#define HNSW_MAX_DIM 2000
#define HNSW_MIN_M 2
#define HNSW_MAX_M 100
#define HNSW_MIN_EF 4
#define HNSW_MAX_EF 1000

char *
raid_item_index_name(int64 model_id)
{
	return psprintf("item_embeddings_hnsw_" INT64_FORMAT, model_id);
}

bool
raid_item_index(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};

	if (SPI_execute_with_args("SELECT 1 FROM raid.item_indexes WHERE model_id = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the model's index");
	if (SPI_processed == 0)
		return false;
	/* gone with DROP EXTENSION vector CASCADE: the row alone is no index */
	return OidIsValid(get_relname_relid(raid_item_index_name(model_id), get_namespace_oid("raid", false)));
}

char *
raid_item_index_expr(const char *vs, int dim)
{
	return psprintf("CAST(embedding AS %s.vector(%d))", vs, dim);
}

char *
raid_vector_schema(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e "
					"JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
					"WHERE e.extname = 'vector'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the extension \"vector\"");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return pstrdup(quote_identifier(NameStr(*DatumGetName(d))));
}

void
raid_lookup_served_model(const char *name, int64 *model_id, int *dim, int64 *n_items)
{
	bool		isnull;

	raid_select_model(name, "model_id, (options->>'dim')::int4, items", false);
	*model_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*dim = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull || *dim <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" has no valid \"dim\" in its options", name)));
	*n_items = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
}

void
raid_copy_embedding(Datum d, int dim, float *dst, const char *what, int64 id)
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

int
raid_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

void
raid_read_items(int64 model_id, int dim, int64 n_items, RaidItems *out, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	bool		isnull;

	/* the item rows as SPI returns them (about twice the values) and their copy */
	raid_check_memory((double) n_items * (12.0 * dim + 128.0), "reading the item embeddings");
	if (SPI_execute_with_args("SELECT item_id, embedding FROM raid.item_embeddings "
							  "WHERE model_id = $1 ORDER BY item_id",
							  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the item embeddings");
	out->n = (int64) SPI_processed;
	out->emb = MemoryContextAllocHuge(cxt, sizeof(float) * dim * Max(out->n, 1));
	out->ids = MemoryContextAllocHuge(cxt, sizeof(int64) * Max(out->n, 1));
	for (int64 j = 0; j < out->n; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];

		if ((j & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		out->ids[j] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		raid_copy_embedding(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull),
							dim, out->emb + j * dim, "item", out->ids[j]);
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The items of the last model this backend served, kept between calls: a
 * model's item embeddings never change once stored, and reading 200,000 of
 * them through SPI takes 0.7 s where ranking them takes milliseconds.  The
 * key is the database, the model id and the model's created_at: ids restart
 * after DROP EXTENSION, the creation time does not repeat.  One model at a
 * time, and only if its items (4 dim + 8 bytes each) fit in raid.item_cache:
 * every backend that serves keeps its own copy.
 */
static struct
{
	MemoryContext cxt;			/* NULL: empty */
	Oid			db;
	int64		model_id;		/* -1 while being filled */
	TimestampTz created;
	int			dim;
	RaidItems	items;
}			item_cache;

void
raid_model_items(int64 model_id, int dim, int64 n_items, RaidItems *out, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	TimestampTz created;
	bool		isnull;

	if (SPI_execute_with_args("SELECT created_at FROM raid.models WHERE model_id = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read model " INT64_FORMAT, model_id);
	created = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (item_cache.cxt != NULL && item_cache.db == MyDatabaseId && item_cache.model_id == model_id &&
		item_cache.created == created && item_cache.dim == dim)
	{
		*out = item_cache.items;
		return;
	}
	if (item_cache.cxt != NULL)
		MemoryContextDelete(item_cache.cxt);
	item_cache.cxt = NULL;
	if ((double) n_items * (4.0 * dim + 8.0) > (double) raid_item_cache_mb * 1024.0 * 1024.0)
	{
		/* too large to keep (raid.item_cache): read for this call only */
		raid_read_items(model_id, dim, n_items, out, cxt);
		return;
	}
	item_cache.cxt = AllocSetContextCreate(TopMemoryContext, "raid item cache", ALLOCSET_DEFAULT_SIZES);
	item_cache.model_id = -1;	/* an error while reading leaves it unmatched */
	raid_read_items(model_id, dim, n_items, &item_cache.items, item_cache.cxt);
	item_cache.db = MyDatabaseId;
	item_cache.created = created;
	item_cache.dim = dim;
	item_cache.model_id = model_id;
	*out = item_cache.items;
}

void
raid_serve_define_settings(void)
{
	DefineCustomIntVariable("raid.ef_search",
							"Candidates raid.recommend's indexed search keeps (hnsw.ef_search).",
							"With an HNSW index (raid.create_index), at least k.  Larger finds more "
							"of the exact top k and takes longer.",
							&raid_ef_search,
							RAID_DEFAULT_EF_SEARCH, 1, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raid.item_cache",
							"Memory a backend may keep for the item embeddings of the last model it served.",
							"Exact raid.recommend, raid.recommend_all, raid.similar_items and fold-ins "
							"rank from it instead of reading the items on every call; a model whose items "
							"do not fit is read for each call.  0 turns it off.",
							&raid_item_cache_mb,
							RAID_DEFAULT_ITEM_CACHE_MB, 0, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
}

static void
check_range(const char *name, int v, int lo, int hi)
{
	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d, got %d", name, lo, hi, v)));
}

/*
 * raid.create_index(model, m, ef_construction): builds the model's HNSW index
 * and returns it.  The build holds a SHARE lock on raid.item_embeddings
 * (other sessions' trainings wait to store their items until it ends).
 */
Datum
raid_create_index(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		m = PG_GETARG_INT32(1);
	int32		ef = PG_GETARG_INT32(2);
	char	   *vs;
	char	   *name;
	int64		model_id;
	int64		n_items;
	int			dim;
	RaidUserSwitch sw;
	Oid			index;
	instr_time	start;

	raid_check_model_name(model);
	check_range("m", m, HNSW_MIN_M, HNSW_MAX_M);
	check_range("ef_construction", ef, HNSW_MIN_EF, HNSW_MAX_EF);
	if (ef < 2 * m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be at least twice m, got %d with m %d", ef, m)));
	raid_lock_model(GetUserId(), model, false, false);

	SPI_connect();
	raid_lookup_served_model(model, &model_id, &dim, &n_items);
	vs = raid_vector_schema();
	if (vs == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("raid.create_index needs the extension \"vector\" (pgvector)"),
				 errhint("Install pgvector and run CREATE EXTENSION vector in this database; raid.recommend scores every item exactly without an index.")));
	if (dim > HNSW_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model \"%s\" has dimension %d; pgvector's HNSW index takes at most %d",
						model, dim, HNSW_MAX_DIM),
				 errhint("raid.recommend scores every item exactly without an index.")));
	name = raid_item_index_name(model_id);
	if (raid_item_index(model_id))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already has an index", model),
				 errhint("Drop it first with raid.drop_index('%s').", model)));
	INSTR_TIME_SET_CURRENT(start);
	INSTR_TIME_SET_CURRENT(start);
	raid_become_owner(&sw);
	if (SPI_execute(psprintf("CREATE INDEX %s ON raid.item_embeddings USING hnsw "
							 "((%s) %s.vector_ip_ops) "
							 "WITH (m = %d, ef_construction = %d) WHERE model_id = " INT64_FORMAT,
							 quote_identifier(name), raid_item_index_expr(vs, dim), vs,
							 m, ef, model_id),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the index of model \"%s\"", model);
	{
		Oid			types[5] = {INT8OID, NAMEOID, INT4OID, INT4OID, FLOAT8OID};
		Datum		args[5] = {Int64GetDatum(model_id), (Datum) 0, Int32GetDatum(m), Int32GetDatum(ef),
			Float8GetDatum(raid_elapsed_seconds(start))};

		args[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
		if (SPI_execute_with_args("INSERT INTO raid.item_indexes (model_id, index_name, m, "
								  "ef_construction, seconds) VALUES ($1, $2, $3, $4, $5)",
								  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the index of model \"%s\"", model);
	}
	raid_restore_user(&sw);
	index = get_relname_relid(name, get_namespace_oid("raid", false));
	SPI_finish();
	PG_RETURN_OID(index);
}

/* raid.drop_index(model, if_exists): drops the model's index. */
Datum
raid_drop_index(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		if_exists = PG_GETARG_BOOL(1);
	int64		model_id;
	int64		n_items;
	int			dim;
	bool		found;
	RaidUserSwitch sw;

	raid_check_model_name(model);
	raid_lock_model(GetUserId(), model, false, false);
	SPI_connect();
	raid_lookup_served_model(model, &model_id, &dim, &n_items);
	found = raid_item_index(model_id);
	if (found)
	{
		raid_become_owner(&sw);
		if (SPI_execute(psprintf("DROP INDEX IF EXISTS raid.%s", quote_identifier(raid_item_index_name(model_id))),
						false, 0) != SPI_OK_UTILITY ||
			SPI_execute(psprintf("DELETE FROM raid.item_indexes WHERE model_id = " INT64_FORMAT, model_id),
						false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not drop the index of model \"%s\"", model);
		raid_restore_user(&sw);
	}
	SPI_finish();
	if (found)
		PG_RETURN_BOOL(true);
	if (!if_exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no index", model)));
	ereport(NOTICE,
			(errmsg("model \"%s\" has no index, skipping", model)));
	PG_RETURN_BOOL(false);
}

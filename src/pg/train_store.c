/*
 * train_store.c: writing a trained model: its raid.models row, its
 * embeddings and its users' training items.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "train.h"

/* Executes a prepared INSERT, raising an error unless it inserted rows. */
static void
execute_insert(SPIPlanPtr plan, Datum *values)
{
	int			rc = SPI_execute_plan(plan, values, NULL, false, 0);

	if (rc != SPI_OK_INSERT)
		elog(ERROR, "storing the model failed: %s", SPI_result_code_string(rc));
}

/*
 * Writes one embedding row per id, STORE_BATCH rows per statement: the batch's
 * embeddings travel as one flat real[] that SQL slices per row.
 */
void
raid_store_embeddings(const char *table, const char *idcol, int64 model_id,
				 const int64 *ids, const float *emb, int64 n, int dim)
{
	char	   *sql = psprintf("INSERT INTO raid.%s (model_id, %s, embedding) "
							   "SELECT $1, u.id, $3[((u.n - 1) * $4 + 1)::int4 : (u.n * $4)::int4] "
							   "FROM unnest($2) WITH ORDINALITY AS u(id, n)",
							   table, idcol);
	Oid			types[4] = {INT8OID, INT8ARRAYOID, FLOAT4ARRAYOID, INT4OID};
	SPIPlanPtr	plan = SPI_prepare(sql, 4, types);
	Datum	   *idd = palloc(sizeof(Datum) * STORE_BATCH);
	Datum	   *ed = palloc(sizeof(Datum) * (size_t) STORE_BATCH * dim);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int64 start = 0; start < n; start += STORE_BATCH)
	{
		int			b = (int) Min(STORE_BATCH, n - start);
		Datum		values[4];

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < b; r++)
			idd[r] = Int64GetDatum(ids[start + r]);
		for (int64 e = 0; e < (int64) b * dim; e++)
			ed[e] = Float4GetDatum(emb[start * dim + e]);
		values[0] = Int64GetDatum(model_id);
		values[1] = PointerGetDatum(construct_array(idd, b, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(ed, b * dim, FLOAT4OID, 4, true, TYPALIGN_INT));
		values[3] = Int32GetDatum(dim);
		execute_insert(plan, values);
		pfree(DatumGetPointer(values[1]));
		pfree(DatumGetPointer(values[2]));
	}
	SPI_freeplan(plan);
}

/* Writes each user's training items (original ids), batch by batch. */
void
raid_store_user_items(int64 model_id, const raid_dataset *ds, int64 n_users)
{
	const char *sql = "INSERT INTO raid.user_items (model_id, user_id, item_ids) "
		"SELECT $1, u.id, $3[($4[u.n] + 1)::int4 : $4[u.n + 1]::int4] "
		"FROM unnest($2) WITH ORDINALITY AS u(id, n)";
	Oid			types[4] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	SPIPlanPtr	plan = SPI_prepare(sql, 4, types);
	const int64 *user_ids = raid_dataset_user_ids(ds);
	const int64 *item_ids = raid_dataset_item_ids(ds);
	const int64 *indptr = raid_dataset_train_indptr(ds);
	const int32 *indices = raid_dataset_train_indices(ds);
	Datum	   *idd = palloc(sizeof(Datum) * STORE_BATCH);
	Datum	   *offd = palloc(sizeof(Datum) * (STORE_BATCH + 1));

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int64 start = 0; start < n_users; start += STORE_BATCH)
	{
		int			b = (int) Min(STORE_BATCH, n_users - start);
		int64		base = indptr[start];
		int64		total = indptr[start + b] - base;
		Datum	   *itd = palloc(sizeof(Datum) * Max(total, 1));
		Datum		values[4];

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < b; r++)
		{
			idd[r] = Int64GetDatum(user_ids[start + r]);
			offd[r] = Int64GetDatum(indptr[start + r] - base);
		}
		offd[b] = Int64GetDatum(total);
		for (int64 e = 0; e < total; e++)
			itd[e] = Int64GetDatum(item_ids[indices[base + e]]);
		values[0] = Int64GetDatum(model_id);
		values[1] = PointerGetDatum(construct_array(idd, b, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(itd, (int) total, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[3] = PointerGetDatum(construct_array(offd, b + 1, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		execute_insert(plan, values);
		pfree(DatumGetPointer(values[1]));
		pfree(DatumGetPointer(values[2]));
		pfree(DatumGetPointer(values[3]));
		pfree(itd);
	}
	SPI_freeplan(plan);
}

/* Inserts the models row and returns its model_id. */
int64
raid_insert_model_row(const TrainArgs *a, const raid_dataset_info *info,
				 const char *metrics, Oid owner)
{
	const char *sql = "INSERT INTO raid.models (name, base_model, defense, options, "
		"interactions_table, user_col, item_col, attributes_table, attribute_col, "
		"users, items, interactions, metrics, owner) "
		"VALUES ($1, 'mf', $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13) "
		"RETURNING model_id";
	Oid			types[13] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, NAMEOID, NAMEOID,
	TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, TEXTOID, REGROLEOID};
	Datum		values[13];
	char		nulls[13];
	bool		isnull;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(a->model);
	values[1] = CStringGetTextDatum(a->defense);
	values[2] = CStringGetTextDatum(raid_train_options_json(&a->opts));
	values[3] = CStringGetTextDatum(raid_qualified_relname(a->interactions));
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(a->user_col));
	values[5] = DirectFunctionCall1(namein, CStringGetDatum(a->item_col));
	if (OidIsValid(a->attributes))
	{
		values[6] = CStringGetTextDatum(raid_qualified_relname(a->attributes));
		values[7] = CStringGetTextDatum(a->attribute_col);
	}
	else
	{
		nulls[6] = nulls[7] = 'n';
		values[6] = values[7] = (Datum) 0;
	}
	values[8] = Int64GetDatum(info->n_users);
	values[9] = Int64GetDatum(info->n_items);
	values[10] = Int64GetDatum(info->n_interactions);
	values[11] = CStringGetTextDatum(metrics);
	values[12] = ObjectIdGetDatum(owner);

	if (SPI_execute_with_args(sql, 13, types, values, nulls, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not insert the model row");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Deletes the current role's model of that name (embeddings cascade). */
void
raid_delete_model(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};

	if (SPI_execute_with_args("DELETE FROM raid.models WHERE model_id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the earlier model");
}

/* Records the store time once it is known. */
void
raid_update_store_seconds(int64 model_id, double seconds)
{
	Oid			types[2] = {INT8OID, FLOAT8OID};
	Datum		values[2] = {Int64GetDatum(model_id), Float8GetDatum(seconds)};

	if (SPI_execute_with_args("UPDATE raid.models SET metrics = metrics || "
							  "jsonb_build_object('store_seconds', round($2::numeric, 4)) "
							  "WHERE model_id = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the model's metrics");
}


/*
 * synthetic.c: raid.synthetic, a deterministic interactions table and users
 * table whose categorical attribute shapes the users' preferences.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_synthetic_sql);

/* pairs written per INSERT statement */
#define SYNTH_BATCH 1000000

/*
 * Parses a possibly qualified table name and returns it schema-qualified and
 * quoted for SQL: an unqualified name goes where CREATE TABLE would put it
 * under the caller's search_path, resolved before raid pins its own.
 */
static char *
quoted_table_name(text *name, const char *argname)
{
	List	   *names = textToQualifiedNameList(name);
	RangeVar   *rv = makeRangeVarFromNameList(names);
	Oid			nsp;

	if (rv->catalogname != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s must not name a database", argname)));
	if (rv->relpersistence == RELPERSISTENCE_TEMP ||
		(rv->schemaname && strcmp(rv->schemaname, "pg_temp") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s must not be a temporary table", argname)));
	nsp = RangeVarGetCreationNamespace(rv);
	/* the error CREATE TABLE would raise, but before minutes of generation */
	if (OidIsValid(get_relname_relid(rv->relname, nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists", rv->relname),
				 errhint("Drop it, or pass another %s.", argname)));
	return quote_qualified_identifier(get_namespace_name(nsp), rv->relname);
}

static void
run_sql(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "\"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/*
 * Long: argument checks, generation and the two table writes share the SPI
 * connection and the role switch.
 */
Datum
raid_synthetic_sql(PG_FUNCTION_ARGS)
{
	static const char *const argnames[] = {
		"interactions_table", "users_table", "n_users", "n_items",
		"interactions_per_user", "classes", "signal", "seed", "signal_kind"
	};
	static const char *const kinds[] = {"mean", "covariance", "nonlinear"};
	char	   *itable;
	char	   *utable;
	raid_synthetic_options o;
	raid_error	err;
	RaidCoreHandles *h;
	TupleDesc	tupdesc;
	int64		n_inter;
	const int64 *iu;
	const int64 *ii;
	const int32 *classes;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int			guc_level;

	for (int i = 0; i < (int) lengthof(argnames); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"%s\" must not be NULL", argnames[i])));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "raid.synthetic must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	itable = quoted_table_name(PG_GETARG_TEXT_PP(0), "interactions_table");
	utable = quoted_table_name(PG_GETARG_TEXT_PP(1), "users_table");
	raid_synthetic_options_default(&o);
	o.n_users = PG_GETARG_INT64(2);
	o.n_items = PG_GETARG_INT64(3);
	o.interactions_per_user = PG_GETARG_INT32(4);
	o.classes = PG_GETARG_INT32(5);
	o.signal = PG_GETARG_FLOAT8(6);
	if (PG_GETARG_INT64(7) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seed must not be negative, got " INT64_FORMAT, PG_GETARG_INT64(7))));
	o.seed = (uint64) PG_GETARG_INT64(7);
	{
		char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(8));

		o.signal_kind = -1;
		for (int k = 0; k < (int) lengthof(kinds); k++)
			if (strcmp(kind, kinds[k]) == 0)
				o.signal_kind = k;
		if (o.signal_kind < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown signal_kind \"%s\"", kind),
					 errhint("Valid kinds are: mean (the classes' tastes differ on average), "
							 "covariance (in spread only), nonlinear (in clusters only).")));
	}
	o.threads = raid_effective_threads(0);

	raid_error_clear(&err);
	if (raid_synthetic_options_validate(&o, &err) != RAID_OK)
		raid_report_error(&err, "checking the arguments of raid.synthetic");

	h = raid_core_handles_create();
	h->synthetic = raid_synthetic_generate(&o, &err);
	if (h->synthetic == NULL)
		raid_report_error(&err, "generating synthetic data");
	n_inter = raid_synthetic_n_interactions(h->synthetic);
	iu = raid_synthetic_interaction_users(h->synthetic);
	ii = raid_synthetic_interaction_items(h->synthetic);
	classes = raid_synthetic_user_classes(h->synthetic);

	SPI_connect();
	/* every statement below runs under a search_path no role can plant objects in */
	guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	run_sql(psprintf("CREATE TABLE %s (user_id bigint NOT NULL, item_id bigint NOT NULL)", itable),
			SPI_OK_UTILITY);
	run_sql(psprintf("CREATE TABLE %s (user_id bigint PRIMARY KEY, attribute text NOT NULL)", utable),
			SPI_OK_UTILITY);

	{
		Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
		SPIPlanPtr	plan = SPI_prepare(psprintf("INSERT INTO %s (user_id, item_id) "
												"SELECT * FROM unnest($1, $2)", itable),
									   2, types);
		int64		batch = Min(n_inter, SYNTH_BATCH);
		Datum	   *ud = palloc(sizeof(Datum) * Max(batch, 1));
		Datum	   *id = palloc(sizeof(Datum) * Max(batch, 1));

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		for (int64 start = 0; start < n_inter; start += SYNTH_BATCH)
		{
			int			b = (int) Min(SYNTH_BATCH, n_inter - start);
			Datum		v[2];

			CHECK_FOR_INTERRUPTS();
			for (int r = 0; r < b; r++)
			{
				ud[r] = Int64GetDatum(iu[start + r]);
				id[r] = Int64GetDatum(ii[start + r]);
			}
			v[0] = PointerGetDatum(construct_array(ud, b, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			v[1] = PointerGetDatum(construct_array(id, b, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			if (SPI_execute_plan(plan, v, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not insert synthetic interactions");
			pfree(DatumGetPointer(v[0]));
			pfree(DatumGetPointer(v[1]));
		}
	}
	{
		Oid			types[1] = {INT4ARRAYOID};
		Datum	   *cd = palloc(sizeof(Datum) * o.n_users);
		Datum		v[1];

		for (int64 u = 0; u < o.n_users; u++)
			cd[u] = Int32GetDatum(classes[u]);
		v[0] = PointerGetDatum(construct_array(cd, (int) o.n_users, INT4OID, 4, true, TYPALIGN_INT));
		if (SPI_execute_with_args(psprintf("INSERT INTO %s (user_id, attribute) "
										   "SELECT n, 'c' || c FROM unnest($1) WITH ORDINALITY AS t(c, n)",
										   utable),
								  1, types, v, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert synthetic users");
	}
	AtEOXact_GUC(true, guc_level);
	SPI_finish();
	raid_core_handles_release(h);

	values[0] = Int64GetDatum(o.n_users);
	values[1] = Int64GetDatum(o.n_items);
	values[2] = Int64GetDatum(n_inter);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * audit_data.c: what an audit reads: the (user id, embedding, attribute)
 * rows of its source, the attribute's classes, and the model it audits.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "audit.h"

/* Checks that an embedding column is real[], double precision[] or pgvector's vector. */
void
raid_audit_check_embedding_column(Oid relid, const char *col)
{
	Oid			type = raid_column_type(relid, col, NULL);
	HeapTuple	tup;
	bool		is_vector = false;

	if (type == FLOAT4ARRAYOID || type == FLOAT8ARRAYOID)
		return;
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_type t = (Form_pg_type) GETSTRUCT(tup);

		is_vector = strcmp(NameStr(t->typname), "vector") == 0;
		ReleaseSysCache(tup);
	}
	if (!is_vector)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table %s must be real[], double precision[] or vector, not %s",
						col, raid_qualified_relname(relid), format_type_be(type))));
}

/* Appends one user's row, validating the embedding. */
static void
add_row(AuditData *d, int64 id, Datum emb, char *label)
{
	ArrayType  *arr = DatumGetArrayTypeP(emb);
	bool		is_double = ARR_ELEMTYPE(arr) == FLOAT8OID;
	int			len;

	if (ARR_NDIM(arr) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding of user " INT64_FORMAT " is empty", id)));
	if (ARR_NDIM(arr) != 1 || (ARR_ELEMTYPE(arr) != FLOAT4OID && !is_double))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding of user " INT64_FORMAT " is not a one-dimensional array", id)));
	if (ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding of user " INT64_FORMAT " contains NULL", id)));
	len = ARR_DIMS(arr)[0];
	if (d->n == 0)
	{
		if (len < 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("embedding of user " INT64_FORMAT " is empty", id)));
		d->dim = len;
	}
	else if (len != d->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding of user " INT64_FORMAT " has %d elements, expected %d like the others",
						id, len, d->dim)));
	if (d->n == d->capacity)
	{
		d->capacity = d->capacity ? d->capacity * 2 : 1024;
		/* ids, labels (pointer and a short string) and features; the core checks its copy */
		raid_check_memory((double) d->capacity * (sizeof(int64) + sizeof(char *) + 16.0 + 4.0 * d->dim),
						  "reading the embeddings");
		d->ids = d->ids ? repalloc_huge(d->ids, sizeof(int64) * d->capacity)
			: palloc_extended(sizeof(int64) * d->capacity, MCXT_ALLOC_HUGE);
		d->labels = d->labels ? repalloc_huge(d->labels, sizeof(char *) * d->capacity)
			: palloc_extended(sizeof(char *) * d->capacity, MCXT_ALLOC_HUGE);
		d->X = d->X ? repalloc_huge(d->X, sizeof(float) * d->capacity * d->dim)
			: palloc_extended(sizeof(float) * d->capacity * d->dim, MCXT_ALLOC_HUGE);
	}
	{
		const float *src = (const float *) ARR_DATA_PTR(arr);
		const double *src8 = (const double *) ARR_DATA_PTR(arr);
		float	   *dst = d->X + d->n * d->dim;

		for (int k = 0; k < len; k++)
		{
			double		v = is_double ? src8[k] : src[k];

			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("embedding of user " INT64_FORMAT " contains %s", id,
								isnan(v) ? "NaN" : "an infinite value")));
			if (fabs(v) > FLT_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("embedding of user " INT64_FORMAT " has a value outside the range of real: %g",
								id, v),
						 errdetail("Element %d; attackers work in single precision.", k + 1)));
			dst[k] = (float) v;
		}
	}
	d->ids[d->n] = id;
	d->labels[d->n] = label;
	d->n++;
}

/* Reads every row of the source; counts what is excluded. */
void
raid_audit_read_rows(const AuditSource *src, AuditData *d, MemoryContext keep)
{
	Portal		portal;
	bool		have_prev = false;
	int64		prev = 0;

	portal = SPI_cursor_open_with_args(NULL, src->rows_query, 0, NULL, NULL, NULL, true,
									   CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, AUDIT_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		idnull,
						enull,
						lnull;
			Datum		id = SPI_getbinval(tup, desc, 1, &idnull);
			Datum		emb = SPI_getbinval(tup, desc, 2, &enull);
			Datum		label = SPI_getbinval(tup, desc, 3, &lnull);
			MemoryContext old;

			if (idnull)
			{
				d->null_ids++;
				continue;
			}
			if (have_prev && DatumGetInt64(id) == prev)
				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("user " INT64_FORMAT " appears more than once", prev),
						 errdetail("Each user needs one embedding and at most one attribute row.")));
			have_prev = true;
			prev = DatumGetInt64(id);
			if (lnull)
			{
				d->without_attribute++;
				continue;
			}
			if (enull)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("embedding of user " INT64_FORMAT " is NULL", prev)));
			old = MemoryContextSwitchTo(keep);
			add_row(d, prev, emb, TextDatumGetCString(label));
			MemoryContextSwitchTo(old);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	if (SPI_execute(src->missing_query, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count users without an embedding");
	{
		bool		isnull;

		d->missing_embedding = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/* Maps labels to class indices in byte order of the labels; checks the classes. */
void
raid_audit_assign_classes(AuditData *d, const char *attribute, int folds, const char *empty_hint)
{
	if (d->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no user has both an embedding and a value of \"%s\"", attribute),
				 errdetail(INT64_FORMAT " users have no value of \"%s\"; " INT64_FORMAT
						   " users with a value have no embedding.",
						   d->without_attribute, attribute, d->missing_embedding),
				 empty_hint ? errhint("%s", empty_hint) : 0));

	{
		RaidClasses classes;

		d->classes = palloc_extended(sizeof(int32) * d->n, MCXT_ALLOC_HUGE);
		raid_map_classes(d->labels, d->n, attribute, d->classes, &classes);
		d->n_classes = classes.n_classes;
		d->class_names = classes.names;
		d->class_users = classes.counts;
	}

	if (d->n_classes < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attribute \"%s\" has a single class (\"%s\") among the " INT64_FORMAT " users",
						attribute, d->class_names[0], d->n),
				 errdetail("An attack needs at least two classes.")));
	for (int c = 0; c < d->n_classes; c++)
		if (d->class_users[c] < folds)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class \"%s\" of attribute \"%s\" has " INT64_FORMAT " users, fewer than the %d folds",
							d->class_names[c], attribute, d->class_users[c], folds),
					 errhint("Lower the \"folds\" option, or merge small classes.")));
}

/* Column col of SPI's first row as a string in context cxt, or NULL. */
static char *
spi_string(int col, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

/* The current role's model: id, attributes, user column. */
void
raid_audit_lookup_model(const char *name, int64 *model_id, char **attributes, char **attribute_col,
			 char **user_col)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		isnull;

	SPI_connect();
	raid_select_model(name, "model_id, attributes_table, attribute_col::text, user_col::text", false);
	*model_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*attributes = spi_string(2, caller);
	*attribute_col = spi_string(3, caller);
	*user_col = spi_string(4, caller);
	SPI_finish();
}

/* Resolves a table recorded as text in raid.models; 42P01 if it is gone. */
Oid
raid_audit_recorded_table(const char *qualified, const char *model)
{
	Oid			relid = DatumGetObjectId(DirectFunctionCall1(to_regclass,
															 CStringGetTextDatum(qualified)));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("attributes table %s of model \"%s\" does not exist", qualified, model)));
	return relid;
}


/*
 * train_data.c: reading a training's inputs: the (user, item) pairs of the
 * interaction table and the classes of the protected attributes.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"

#include "train.h"

/* Streams the non-NULL (user, item) pairs into the dataset; counts NULLs. */
int64
raid_load_interactions(const TrainArgs *a, raid_dataset *ds, int64 *loaded)
{
	StringInfoData q;
	Portal		portal;
	int64	   *users = palloc(sizeof(int64) * LOAD_BATCH);
	int64	   *items = palloc(sizeof(int64) * LOAD_BATCH);
	int64		skipped = 0;
	raid_error	err;

	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s::int8, %s::int8 FROM %s",
					 quote_identifier(a->user_col), quote_identifier(a->item_col),
					 raid_qualified_relname(a->interactions));
	portal = SPI_cursor_open_with_args(NULL, q.data, 0, NULL, NULL, NULL, true,
									   CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		size_t		n = 0;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, LOAD_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			bool		unull,
						inull;
			Datum		u = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &unull);
			Datum		i = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &inull);

			if (unull || inull)
			{
				skipped++;
				continue;
			}
			users[n] = DatumGetInt64(u);
			items[n] = DatumGetInt64(i);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
		*loaded += n;
		raid_error_clear(&err);
		if (n > 0 && raid_dataset_append(ds, users, items, n, &err) != RAID_OK)
			raid_report_error(&err, "loading the interactions");
	}
	SPI_cursor_close(portal);
	pfree(users);
	pfree(items);
	return skipped;
}

static int
cmp_int64_key(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Reads the protected attribute of the trained users: classes are the
 * attribute's values as text, in byte order.  Users without a value are
 * trained but not pulled; a user with two rows is an error.
 * Long: one query and one pass that sorts, checks and maps the labels.
 */
void
raid_load_user_classes(const TrainArgs *a, const char *column, const raid_dataset *ds, int64 n_users,
				  UserClasses *out)
{
	const int64 *ids = raid_dataset_user_ids(ds);
	LabelledUser *lab = palloc_extended(sizeof(LabelledUser) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	int64		n_lab = 0;
	int64		prev = 0;
	bool		have_prev = false;
	char	   *q = psprintf("SELECT a.%s::int8, a.%s::text FROM %s a "
							 "WHERE a.%s IS NOT NULL AND a.%s IS NOT NULL ORDER BY 1",
							 quote_identifier(a->user_col), quote_identifier(column),
							 raid_qualified_relname(a->attributes),
							 quote_identifier(a->user_col), quote_identifier(column));
	Portal		portal = SPI_cursor_open_with_args(NULL, q, 0, NULL, NULL, NULL, true,
												   CURSOR_OPT_NO_SCROLL);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, LOAD_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 1, &isnull));
			const int64 *hit;

			if (have_prev && id == prev)
				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("user " INT64_FORMAT " has more than one row in %s", id,
								raid_qualified_relname(a->attributes))));
			have_prev = true;
			prev = id;
			hit = bsearch(&id, ids, n_users, sizeof(int64), cmp_int64_key);
			if (hit == NULL)
				continue;		/* not among the trained users */
			lab[n_lab].user = (int32) (hit - ids);
			lab[n_lab].label = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
																 SPI_tuptable->tupdesc, 2, &isnull));
			n_lab++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);

	out->user_class = palloc_extended(sizeof(int32) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	for (int64 u = 0; u < n_users; u++)
		out->user_class[u] = -1;
	out->without = n_users - n_lab;
	{
		char	  **labels = palloc_extended(sizeof(char *) * Max(n_lab, 1), MCXT_ALLOC_HUGE);
		int32	   *cls = palloc_extended(sizeof(int32) * Max(n_lab, 1), MCXT_ALLOC_HUGE);
		RaidClasses classes;

		for (int64 i = 0; i < n_lab; i++)
			labels[i] = lab[i].label;
		raid_map_classes(labels, n_lab, column, cls, &classes);
		for (int64 i = 0; i < n_lab; i++)
			out->user_class[lab[i].user] = cls[i];
		out->n_classes = classes.n_classes;
		out->names = classes.names;
		out->counts = classes.counts;
		pfree(labels);
		pfree(cls);
	}
	if (out->n_classes < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("defense 'raid' needs at least two classes of \"%s\" among the trained users, found %d",
						column, out->n_classes),
				 out->n_classes == 1 ? errdetail("Every one of the " INT64_FORMAT " users with a value has \"%s\".",
												 n_lab, out->names[0]) : 0));
	for (int c = 0; c < out->n_classes; c++)
		if (out->counts[c] < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("class \"%s\" of attribute \"%s\" has " INT64_FORMAT " trained user; defense 'raid' needs at least 2 per class",
							out->names[c], column, out->counts[c]),
					 errhint("Merge small classes, for example with a view.")));
}


/*
 * train_warm.c: the training option warm_start, which starts training from
 * an earlier model's embeddings: users and items matched by id start where
 * that model left them, new ids start as usual (seeded N(0, init_std^2)),
 * and every Adagrad accumulator starts at zero.
 *
 * The option is a model name, not a number, so it is taken out of the
 * options object before the numeric options are parsed (and kept out of the
 * stored options: it is recorded in metrics.warm_start instead).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "train.h"

char *
raid_take_warm_start(Jsonb **options)
{
	JsonbValue	key;
	JsonbValue *v;
	char	   *name;

	if (*options == NULL || !JB_ROOT_IS_OBJECT(*options))
		return NULL;
	key.type = jbvString;
	key.val.string.val = "warm_start";
	key.val.string.len = strlen("warm_start");
	v = findJsonbValueFromContainer(&(*options)->root, JB_FOBJECT, &key);
	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("option \"warm_start\" must be a model name (a string)")));
	name = pnstrdup(v->val.string.val, v->val.string.len);
	raid_check_model_name(name);
	*options = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(*options),
												  CStringGetTextDatum("warm_start")));
	return name;
}

typedef struct IdIndex
{
	int64		id;
	int32		index;
} IdIndex;

static int
cmp_id_index(const void *a, const void *b)
{
	return raid_cmp_int64(&((const IdIndex *) a)->id, &((const IdIndex *) b)->id);
}

/*
 * Reads one of the earlier model's embedding tables into out (n x dim, dense
 * order of ids) and given; returns the rows matched.
 */
static int64
read_matched(const char *table, const char *idcol, int64 model_id, const int64 *ids, int64 n,
			 int dim, float *out, uint8 *given)
{
	IdIndex    *sorted = palloc_extended(sizeof(IdIndex) * Max(n, 1), MCXT_ALLOC_HUGE);
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	int64		matched = 0;

	for (int64 i = 0; i < n; i++)
	{
		sorted[i].id = ids[i];
		sorted[i].index = (int32) i;
	}
	qsort(sorted, n, sizeof(IdIndex), cmp_id_index);
	if (SPI_execute_with_args(psprintf("SELECT %s, embedding FROM raid.%s WHERE model_id = $1", idcol, table),
							  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the embeddings of the warm start");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		IdIndex		key;
		IdIndex    *hit;

		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		key.id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		hit = bsearch(&key, sorted, n, sizeof(IdIndex), cmp_id_index);
		if (hit == NULL)
			continue;
		raid_copy_embedding(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull),
							dim, out + (int64) hit->index * dim, table, key.id);
		given[hit->index] = 1;
		matched++;
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(sorted);
	return matched;
}

int64
raid_check_warm_start(const TrainArgs *a, int64 *n_items)
{
	int64		model_id;
	int			dim;

	raid_lookup_served_model(a->warm_start, &model_id, &dim, n_items);
	if (dim != a->opts.mf.dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" has dimension %d, this training %d", a->warm_start, dim, a->opts.mf.dim),
				 errhint("A warm start needs the same \"dim\"; set the option \"dim\" to %d.", dim)));
	return model_id;
}

void
raid_apply_warm_start(const TrainArgs *a, RaidCoreHandles *h, const raid_dataset_info *info,
					  WarmStart *log)
{
	const int	dim = a->opts.mf.dim;
	int64		model_id;
	int64		n_items;
	float	   *users;
	float	   *items;
	uint8	   *user_given;
	uint8	   *item_given;
	double		rows;
	bool		isnull;
	raid_error	err;

	model_id = raid_check_warm_start(a, &n_items);
	raid_select_model(a->warm_start, "users", false);
	rows = (double) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) +
		(double) n_items;
	/* the earlier rows as SPI returns them, and the two tables with their flags */
	raid_check_memory(rows * (12.0 * dim + 128.0) +
					  (double) (info->n_users + info->n_items) * (4.0 * dim + 17.0),
					  "the warm start");
	users = palloc_extended(sizeof(float) * dim * Max(info->n_users, 1), MCXT_ALLOC_HUGE);
	items = palloc_extended(sizeof(float) * dim * Max(info->n_items, 1), MCXT_ALLOC_HUGE);
	user_given = palloc_extended(Max(info->n_users, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	item_given = palloc_extended(Max(info->n_items, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	log->model = a->warm_start;
	log->users = read_matched("user_embeddings", "user_id", model_id, raid_dataset_user_ids(h->dataset),
							  info->n_users, dim, users, user_given);
	log->items = read_matched("item_embeddings", "item_id", model_id, raid_dataset_item_ids(h->dataset),
							  info->n_items, dim, items, item_given);
	raid_error_clear(&err);
	if (raid_mf_set_initial(h->trainer, users, user_given, items, item_given, &err) != RAID_OK)
		raid_report_error(&err, "starting from the earlier model");
	pfree(users);
	pfree(items);
	pfree(user_given);
	pfree(item_given);
}

void
raid_add_warm_start_metrics(RaidJson *j, const WarmStart *log)
{
	if (log->model == NULL)
		return;
	raid_json_object_begin(j, "warm_start");
	raid_json_string(j, "model", log->model);
	raid_json_int(j, "users", log->users);
	raid_json_int(j, "items", log->items);
	raid_json_object_end(j);
}

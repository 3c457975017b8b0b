/*
 * json_build.c: the JSON raid stores (model metrics, audit details), built
 * with PostgreSQL's jsonb API instead of format strings.
 *
 * A number that is not finite (NaN or infinite: a diverged figure) becomes
 * JSON null with a WARNING naming it, so one bad figure never fails the store
 * of a model that took minutes to train.  raid.debug_nonfinite_metric (a
 * hidden superuser setting for tests) makes the number of that key NaN.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/numeric.h"

#include "raid_pg.h"

char	   *raid_debug_nonfinite_metric = NULL;

/* Defines this module's setting (from _PG_init). */
void
raid_json_define_settings(void)
{
	/* a test hook: the number stored under this key becomes NaN */
	DefineCustomStringVariable("raid.debug_nonfinite_metric",
							   "Makes the stored metric of this name NaN (for tests).",
							   NULL,
							   &raid_debug_nonfinite_metric,
							   "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

static void
push_key(RaidJson *j, const char *key)
{
	JsonbValue	k;

	if (j->depth > 0 && j->in_array[j->depth - 1])
	{
		Assert(key == NULL);
		return;
	}
	Assert(key != NULL || j->depth == 0);
	if (key == NULL)
		return;
	k.type = jbvString;
	k.val.string.val = pstrdup(key);
	k.val.string.len = strlen(key);
	pushJsonbValue(&j->state, WJB_KEY, &k);
}

/* Pushes a scalar or a container value under key (or as the array's next element). */
static void
push_value(RaidJson *j, const char *key, JsonbValue *v)
{
	push_key(j, key);
	if (j->depth == 0)
	{
		/* a scalar at the top: wrap it as jsonb does (a raw scalar array) */
		elog(ERROR, "raid_json: a value outside an object or array");
	}
	pushJsonbValue(&j->state, j->in_array[j->depth - 1] ? WJB_ELEM : WJB_VALUE, v);
}

void
raid_json_init(RaidJson *j, const char *what)
{
	memset(j, 0, sizeof(*j));
	j->what = what;
}

static void
begin(RaidJson *j, const char *key, bool array)
{
	if (j->depth >= RAID_JSON_DEPTH)
		elog(ERROR, "raid_json: nested too deep");
	push_key(j, key);
	pushJsonbValue(&j->state, array ? WJB_BEGIN_ARRAY : WJB_BEGIN_OBJECT, NULL);
	j->in_array[j->depth] = array;
	j->keys[j->depth] = key;
	j->depth++;
}

static void
end(RaidJson *j, bool array)
{
	JsonbValue *res;

	Assert(j->depth > 0 && j->in_array[j->depth - 1] == array);
	j->depth--;
	res = pushJsonbValue(&j->state, array ? WJB_END_ARRAY : WJB_END_OBJECT, NULL);
	if (j->depth == 0)
		j->result = res;
}

void
raid_json_object_begin(RaidJson *j, const char *key)
{
	begin(j, key, false);
}

void
raid_json_object_end(RaidJson *j)
{
	end(j, false);
}

void
raid_json_array_begin(RaidJson *j, const char *key)
{
	begin(j, key, true);
}

void
raid_json_array_end(RaidJson *j)
{
	end(j, true);
}

void
raid_json_number(RaidJson *j, const char *key, double v, const char *format)
{
	JsonbValue	n;
	const char *name = key ? key : (j->depth > 0 && j->keys[j->depth - 1] ? j->keys[j->depth - 1] : "?");

	if (raid_debug_nonfinite_metric && raid_debug_nonfinite_metric[0] != '\0' &&
		strcmp(name, raid_debug_nonfinite_metric) == 0)
		v = get_float8_nan();
	if (!isfinite(v))
	{
		ereport(WARNING,
				(errmsg("%s: \"%s\" is %s, stored as null", j->what, name,
						isnan(v) ? "not a number" : "infinite")));
		raid_json_null(j, key);
		return;
	}
	n.type = jbvNumeric;
	n.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														CStringGetDatum(psprintf(format, v)),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
	push_value(j, key, &n);
}

void
raid_json_int(RaidJson *j, const char *key, int64 v)
{
	JsonbValue	n;

	n.type = jbvNumeric;
	n.val.numeric = int64_to_numeric(v);
	push_value(j, key, &n);
}

void
raid_json_bool(RaidJson *j, const char *key, bool v)
{
	JsonbValue	b;

	b.type = jbvBool;
	b.val.boolean = v;
	push_value(j, key, &b);
}

void
raid_json_string(RaidJson *j, const char *key, const char *v)
{
	JsonbValue	s;

	if (v == NULL)
	{
		raid_json_null(j, key);
		return;
	}
	s.type = jbvString;
	s.val.string.val = pstrdup(v);
	s.val.string.len = strlen(v);
	push_value(j, key, &s);
}

void
raid_json_null(RaidJson *j, const char *key)
{
	JsonbValue	n;

	n.type = jbvNull;
	push_value(j, key, &n);
}

void
raid_json_jsonb(RaidJson *j, const char *key, Jsonb *v)
{
	JsonbValue	b;

	b.type = jbvBinary;
	b.val.binary.data = &v->root;
	b.val.binary.len = VARSIZE(v) - VARHDRSZ;
	push_value(j, key, &b);
}

Jsonb *
raid_json_finish(RaidJson *j)
{
	if (j->depth != 0 || j->result == NULL)
		elog(ERROR, "raid_json: unfinished JSON value");
	return JsonbValueToJsonb(j->result);
}

char *
raid_json_finish_text(RaidJson *j)
{
	Jsonb	   *jb = raid_json_finish(j);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * options.c: the "options" jsonb of raid.train.
 *
 * Each option has a name, a JSON type and a range; an unknown key, a value of
 * the wrong JSON type or a value out of range is an error that names the key.
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "raid_pg.h"

typedef enum OptionKind
{
	OPTION_INT,
	OPTION_FLOAT,
	OPTION_BOOL
} OptionKind;

typedef struct OptionSpec
{
	const char *name;
	OptionKind	kind;
	double		min;
	double		max;
	bool		min_exclusive;
} OptionSpec;

/* Ranges mirror raid_mf_options_validate; the core checks them again. */
static const OptionSpec train_option_specs[] = {
	{"dim", OPTION_INT, 1, 1024, false},
	{"epochs", OPTION_INT, 1, 10000, false},
	{"lr", OPTION_FLOAT, 0, 10, true},
	{"negatives", OPTION_INT, 0, 1000, false},
	{"l2", OPTION_FLOAT, 0, 10, false},
	{"init_std", OPTION_FLOAT, 0, 10, true},
	{"seed", OPTION_INT, 0, 9223372036854775807.0, false},
	{"threads", OPTION_INT, 0, 1024, false},
	{"replace", OPTION_BOOL, 0, 0, false},
	{"holdout", OPTION_BOOL, 0, 0, false},
};

#define N_TRAIN_OPTIONS lengthof(train_option_specs)

static const char *
json_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		default:
			return "an array or object";
	}
}

static const OptionSpec *
find_spec(const char *key)
{
	for (int i = 0; i < (int) N_TRAIN_OPTIONS; i++)
		if (strcmp(train_option_specs[i].name, key) == 0)
			return &train_option_specs[i];
	return NULL;
}

static char *
option_names(void)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < (int) N_TRAIN_OPTIONS; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "", train_option_specs[i].name);
	return s.data;
}

/* Formats a range bound; integer bounds print exactly (even INT64_MAX). */
static char *
format_bound(double x, bool is_int)
{
	if (is_int && x >= (double) PG_INT64_MAX)
		return psprintf(INT64_FORMAT, PG_INT64_MAX);
	if (is_int)
		return psprintf("%.0f", x);
	return psprintf("%g", x);
}

/* Reads one value, checks its type and range, and stores it. */
static void
apply_option(const OptionSpec *spec, const JsonbValue *v, RaidTrainOptions *out)
{
	double		x = 0;
	int64		ix = 0;

	if (spec->kind == OPTION_BOOL)
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("option \"%s\" must be a boolean, got %s",
							spec->name, json_type_name(v))));
		if (strcmp(spec->name, "replace") == 0)
			out->replace = v->val.boolean;
		else
			out->holdout = v->val.boolean;
		return;
	}

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("option \"%s\" must be %s, got %s", spec->name,
						spec->kind == OPTION_INT ? "an integer" : "a number",
						json_type_name(v))));

	if (spec->kind == OPTION_INT)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(v->val.numeric)));
		char	   *end;

		char	   *dot = strchr(text, '.');

		/* 8.0 is an integer too: drop a fraction of zeros */
		if (dot && strspn(dot + 1, "0") == strlen(dot + 1))
			*dot = '\0';
		errno = 0;
		ix = strtoll(text, &end, 10);
		if (*end != '\0' || errno == ERANGE)
		{
			/* a fraction such as 1.5, or beyond int64 */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be an integer between %s and %s, got %s",
							spec->name, format_bound(spec->min, true),
							format_bound(spec->max, true), text)));
		}
		if ((double) ix < spec->min || (double) ix > spec->max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be between %s and %s, got %s",
							spec->name, format_bound(spec->min, true),
							format_bound(spec->max, true), text)));
	}
	else
	{
		x = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											   NumericGetDatum(v->val.numeric)));
		if (isnan(x) || x < spec->min || x > spec->max ||
			(spec->min_exclusive && x <= spec->min))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be %s %s and at most %s, got %g",
							spec->name,
							spec->min_exclusive ? "greater than" : "at least",
							format_bound(spec->min, false),
							format_bound(spec->max, false), x)));
	}

	if (strcmp(spec->name, "dim") == 0)
		out->mf.dim = (int32) ix;
	else if (strcmp(spec->name, "epochs") == 0)
		out->mf.epochs = (int32) ix;
	else if (strcmp(spec->name, "lr") == 0)
		out->mf.lr = x;
	else if (strcmp(spec->name, "negatives") == 0)
		out->mf.negatives = (int32) ix;
	else if (strcmp(spec->name, "l2") == 0)
		out->mf.l2 = x;
	else if (strcmp(spec->name, "init_std") == 0)
		out->mf.init_std = x;
	else if (strcmp(spec->name, "seed") == 0)
		out->mf.seed = (uint64) ix;
	else if (strcmp(spec->name, "threads") == 0)
		out->mf.threads = (int32) ix;
	else
		elog(ERROR, "option \"%s\" has no handler; please report a bug", spec->name);
}

void
raid_parse_train_options(Jsonb *options, RaidTrainOptions *out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	raid_error	err;

	raid_mf_options_default(&out->mf);
	out->replace = false;
	out->holdout = true;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example: '{\"dim\": 64, \"epochs\": 30}'.")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
		}
		else if (tok == WJB_VALUE)
		{
			const OptionSpec *spec = find_spec(key);

			if (spec == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\"", key),
						 errhint("Valid options are: %s.", option_names())));
			apply_option(spec, &v, out);
		}
	}

	/* the core's own check, in case it is stricter than the table above */
	raid_error_clear(&err);
	if (raid_mf_options_validate(&out->mf, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
}

char *
raid_train_options_json(const RaidTrainOptions *opts)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "{\"dim\": %d, \"epochs\": %d, \"lr\": %.15g, \"negatives\": %d, "
					 "\"l2\": %.15g, \"init_std\": %.15g, \"seed\": " UINT64_FORMAT ", "
					 "\"threads\": %d, \"replace\": %s, \"holdout\": %s}",
					 opts->mf.dim, opts->mf.epochs, opts->mf.lr, opts->mf.negatives,
					 opts->mf.l2, opts->mf.init_std, opts->mf.seed, opts->mf.threads,
					 opts->replace ? "true" : "false",
					 opts->holdout ? "true" : "false");
	return s.data;
}

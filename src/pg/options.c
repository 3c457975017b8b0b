/*
 * options.c: the "options" jsonb of raid.train and raid.audit.
 *
 * Each function has a table of option specs: a name, a kind, a range and
 * where the value goes in the target struct.  An unknown key, a value of the
 * wrong JSON type or a value out of range is an error that names the key.
 * The same tables print the options back, with every default filled in.
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
	OPTION_INT32,				/* int32 field */
	OPTION_UINT64,				/* uint64 field (seeds): 0 .. INT64_MAX */
	OPTION_FLOAT,				/* double field */
	OPTION_BOOL,				/* bool field */
	OPTION_BOOL_INT32,			/* JSON boolean stored as int32 0/1 */
	OPTION_ATTACKERS			/* JSON array of attacker names -> int32 bit mask */
} OptionKind;

typedef struct OptionSpec
{
	const char *name;
	OptionKind	kind;
	double		min;
	double		max;
	bool		min_exclusive;
	size_t		offset;
	int			group;			/* OPTION_GROUP_* this option belongs to */
} OptionSpec;

#define OPTION_GROUP_ALWAYS 0
#define OPTION_GROUP_RAID 1		/* only with defense => 'raid' */

#define INT64_MAX_D 9223372036854775807.0

/* Ranges mirror the core's Validate(); the core checks them again. */
static const OptionSpec train_specs[] = {
	{"dim", OPTION_INT32, 1, 1024, false, offsetof(RaidTrainOptions, mf.dim), OPTION_GROUP_ALWAYS},
	{"epochs", OPTION_INT32, 1, 10000, false, offsetof(RaidTrainOptions, mf.epochs), OPTION_GROUP_ALWAYS},
	{"lr", OPTION_FLOAT, 0, 10, true, offsetof(RaidTrainOptions, mf.lr), OPTION_GROUP_ALWAYS},
	{"negatives", OPTION_INT32, 0, 1000, false, offsetof(RaidTrainOptions, mf.negatives), OPTION_GROUP_ALWAYS},
	{"l2", OPTION_FLOAT, 0, 10, false, offsetof(RaidTrainOptions, mf.l2), OPTION_GROUP_ALWAYS},
	{"init_std", OPTION_FLOAT, 0, 10, true, offsetof(RaidTrainOptions, mf.init_std), OPTION_GROUP_ALWAYS},
	{"seed", OPTION_UINT64, 0, INT64_MAX_D, false, offsetof(RaidTrainOptions, mf.seed), OPTION_GROUP_ALWAYS},
	{"threads", OPTION_INT32, 0, 1024, false, offsetof(RaidTrainOptions, mf.threads), OPTION_GROUP_ALWAYS},
	{"replace", OPTION_BOOL, 0, 0, false, offsetof(RaidTrainOptions, replace), OPTION_GROUP_ALWAYS},
	{"holdout", OPTION_BOOL, 0, 0, false, offsetof(RaidTrainOptions, holdout), OPTION_GROUP_ALWAYS},
	{"phase1_epochs", OPTION_INT32, 0, 10000, false, offsetof(RaidTrainOptions, defense.phase1_epochs), OPTION_GROUP_RAID},
	{"eta", OPTION_FLOAT, 0, 1e6, true, offsetof(RaidTrainOptions, defense.eta), OPTION_GROUP_RAID},
	{"tau", OPTION_FLOAT, 1e-6, 100, false, offsetof(RaidTrainOptions, defense.tau), OPTION_GROUP_RAID},
	{"xi", OPTION_INT32, 1, 1000000, false, offsetof(RaidTrainOptions, defense.xi), OPTION_GROUP_RAID},
	{"m", OPTION_INT32, 2, 65536, false, offsetof(RaidTrainOptions, defense.m), OPTION_GROUP_RAID},
	{"sinkhorn_iters", OPTION_INT32, 1, 1000000, false, offsetof(RaidTrainOptions, defense.sinkhorn_iters), OPTION_GROUP_RAID},
	{"sinkhorn_tol", OPTION_FLOAT, 0, 1, true, offsetof(RaidTrainOptions, defense.sinkhorn_tol), OPTION_GROUP_RAID},
	{"sample", OPTION_INT32, 0, 100000000, false, offsetof(RaidTrainOptions, defense.sample), OPTION_GROUP_RAID},
	{"barycenter_iters", OPTION_INT32, 1, 1000, false, offsetof(RaidTrainOptions, defense.barycenter_iters), OPTION_GROUP_RAID},
	{"target", OPTION_FLOAT, 0, 0.5, false, offsetof(RaidTrainOptions, target), OPTION_GROUP_RAID},
	{"adapt", OPTION_BOOL, 0, 0, false, offsetof(RaidTrainOptions, adapt), OPTION_GROUP_RAID},
	{"checkpoints", OPTION_INT32, 1, 100, false, offsetof(RaidTrainOptions, checkpoints), OPTION_GROUP_RAID},
	{"align", OPTION_BOOL, 0, 0, false, offsetof(RaidTrainOptions, align), OPTION_GROUP_RAID},
	{"target_attackers", OPTION_ATTACKERS, 0, 0, false, offsetof(RaidTrainOptions, target_attackers), OPTION_GROUP_RAID},
};

/* The attackers by name, in the core's order (that of the results). */
static const struct
{
	int32		kind;
	const char *name;
}			attacker_names[] = {
	{RAID_ATTACKER_MLP, "mlp"},
	{RAID_ATTACKER_LOGISTIC, "logistic"},
	{RAID_ATTACKER_KNN, "knn"},
	{RAID_ATTACKER_QDA, "qda"},
	{RAID_ATTACKER_RBF, "rbf"},
};

static const OptionSpec audit_specs[] = {
	{"folds", OPTION_INT32, 2, RAID_MAX_FOLDS, false, offsetof(RaidAuditOptions, core.folds), OPTION_GROUP_ALWAYS},
	{"seed", OPTION_UINT64, 0, INT64_MAX_D, false, offsetof(RaidAuditOptions, core.seed), OPTION_GROUP_ALWAYS},
	{"threads", OPTION_INT32, 0, 1024, false, offsetof(RaidAuditOptions, core.threads), OPTION_GROUP_ALWAYS},
	{"attackers", OPTION_ATTACKERS, 0, 0, false, offsetof(RaidAuditOptions, core.attackers), OPTION_GROUP_ALWAYS},
	{"balance", OPTION_BOOL_INT32, 0, 0, false, offsetof(RaidAuditOptions, core.balance), OPTION_GROUP_ALWAYS},
	{"mlp_hidden", OPTION_INT32, 1, 4096, false, offsetof(RaidAuditOptions, core.mlp_hidden), OPTION_GROUP_ALWAYS},
	{"mlp_max_epochs", OPTION_INT32, 1, 100000, false, offsetof(RaidAuditOptions, core.mlp_max_epochs), OPTION_GROUP_ALWAYS},
	{"mlp_batch", OPTION_INT32, 1, 1000000, false, offsetof(RaidAuditOptions, core.mlp_batch), OPTION_GROUP_ALWAYS},
	{"mlp_lr", OPTION_FLOAT, 0, 1, true, offsetof(RaidAuditOptions, core.mlp_lr), OPTION_GROUP_ALWAYS},
	{"mlp_l2", OPTION_FLOAT, 0, 100, false, offsetof(RaidAuditOptions, core.mlp_l2), OPTION_GROUP_ALWAYS},
	{"mlp_validation", OPTION_FLOAT, 0, 0.5, true, offsetof(RaidAuditOptions, core.mlp_validation), OPTION_GROUP_ALWAYS},
	{"mlp_patience", OPTION_INT32, 1, 10000, false, offsetof(RaidAuditOptions, core.mlp_patience), OPTION_GROUP_ALWAYS},
	{"logistic_c", OPTION_FLOAT, 0, 1e6, true, offsetof(RaidAuditOptions, core.logistic_c), OPTION_GROUP_ALWAYS},
	{"logistic_max_iter", OPTION_INT32, 1, 100000, false, offsetof(RaidAuditOptions, core.logistic_max_iter), OPTION_GROUP_ALWAYS},
	{"knn_k", OPTION_INT32, 1, 1000, false, offsetof(RaidAuditOptions, core.knn_k), OPTION_GROUP_ALWAYS},
	{"qda_reg", OPTION_FLOAT, 0, 1, false, offsetof(RaidAuditOptions, core.qda_reg), OPTION_GROUP_ALWAYS},
	{"rbf_features", OPTION_INT32, 16, 16384, false, offsetof(RaidAuditOptions, core.rbf_features), OPTION_GROUP_ALWAYS},
	{"rbf_c", OPTION_FLOAT, 0, 1e6, true, offsetof(RaidAuditOptions, core.rbf_c), OPTION_GROUP_ALWAYS},
	{"store_folds", OPTION_BOOL, 0, 0, false, offsetof(RaidAuditOptions, store_folds), OPTION_GROUP_ALWAYS},
	{"null_run", OPTION_BOOL, 0, 0, false, offsetof(RaidAuditOptions, null_run), OPTION_GROUP_ALWAYS},
};

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

static char *
option_names(const OptionSpec *specs, int n, bool raid_group)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < n; i++)
		if (specs[i].group == OPTION_GROUP_ALWAYS || raid_group)
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", specs[i].name);
	return s.data;
}

/* Formats a range bound; integer bounds print exactly (even INT64_MAX). */
static char *
format_bound(double x, bool is_int)
{
	if (is_int && x >= INT64_MAX_D)
		return psprintf(INT64_FORMAT, PG_INT64_MAX);
	if (is_int)
		return psprintf("%.0f", x);
	return psprintf("%g", x);
}

/* Reads an integer-valued JSON number (8.0 counts) within the spec's range. */
static int64
read_integer(const OptionSpec *spec, const JsonbValue *v)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(v->val.numeric)));
	char	   *dot = strchr(text, '.');
	char	   *end;
	int64		ix;

	/* 8.0 is an integer too: drop a fraction of zeros */
	if (dot && strspn(dot + 1, "0") == strlen(dot + 1))
		*dot = '\0';
	errno = 0;
	ix = strtoll(text, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be an integer between %s and %s, got %s",
						spec->name, format_bound(spec->min, true),
						format_bound(spec->max, true), text)));
	if ((double) ix < spec->min || (double) ix > spec->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between %s and %s, got %s",
						spec->name, format_bound(spec->min, true),
						format_bound(spec->max, true), text)));
	return ix;
}

/* Raises the wrong-JSON-type error for an option. */
static void
type_error(const OptionSpec *spec, const char *expected, const JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("option \"%s\" must be %s, got %s", spec->name, expected,
					json_type_name(v))));
}

/* Reads ["mlp", "logistic"] (or one name as a string) into a bit mask. */
static int32
read_attackers(const OptionSpec *spec, const JsonbValue *v)
{
	int32		mask = 0;

	if (v->type == jbvString)
		return raid_attacker_from_name(pnstrdup(v->val.string.val, v->val.string.len));
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		type_error(spec, "an array of attacker names", v);
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (e.type != jbvString)
				type_error(spec, "an array of attacker names", &e);
			mask |= raid_attacker_from_name(pnstrdup(e.val.string.val, e.val.string.len));
		}
	}
	if (mask == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must name at least one attacker", spec->name)));
	return mask;
}

/* Checks one value against its spec and stores it into the target. */
static void
apply_option(const OptionSpec *spec, const JsonbValue *v, void *target)
{
	char	   *field = (char *) target + spec->offset;

	switch (spec->kind)
	{
		case OPTION_BOOL:
		case OPTION_BOOL_INT32:
			if (v->type != jbvBool)
				type_error(spec, "a boolean", v);
			if (spec->kind == OPTION_BOOL)
				*(bool *) field = v->val.boolean;
			else
				*(int32 *) field = v->val.boolean ? 1 : 0;
			break;
		case OPTION_INT32:
			if (v->type != jbvNumeric)
				type_error(spec, "an integer", v);
			*(int32 *) field = (int32) read_integer(spec, v);
			break;
		case OPTION_UINT64:
			if (v->type != jbvNumeric)
				type_error(spec, "an integer", v);
			*(uint64 *) field = (uint64) read_integer(spec, v);
			break;
		case OPTION_FLOAT:
			{
				double		x;

				if (v->type != jbvNumeric)
					type_error(spec, "a number", v);
				/* beyond float8 (1e400) is infinite here, so out of range below */
				x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													   NumericGetDatum(v->val.numeric)));
				if (isnan(x) || x < spec->min || x > spec->max ||
					(spec->min_exclusive && x <= spec->min))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"%s\" must be %s %s and at most %s, got %s",
									spec->name,
									spec->min_exclusive ? "greater than" : "at least",
									format_bound(spec->min, false),
									format_bound(spec->max, false),
									isinf(x) ? "a number beyond double precision" :
									psprintf("%g", x))));
				*(double *) field = x;
				break;
			}
		case OPTION_ATTACKERS:
			*(int32 *) field = read_attackers(spec, v);
			break;
	}
}

/* Parses a jsonb options object into target (already holding the defaults). */
static void
parse_options(Jsonb *options, const OptionSpec *specs, int nspecs, void *target,
			  const char *example, bool raid_group)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example: '%s'.", example)));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			const OptionSpec *spec = NULL;

			for (int i = 0; i < nspecs; i++)
				if (strcmp(specs[i].name, key) == 0)
					spec = &specs[i];
			if (spec == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\"", key),
						 errhint("Valid options are: %s.", option_names(specs, nspecs, raid_group))));
			if (spec->group == OPTION_GROUP_RAID && !raid_group)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" applies only to defense 'raid'", key)));
			apply_option(spec, &v, target);
		}
	}
}

/* Prints every option of the target as a JSON object. */
static char *
options_json(const OptionSpec *specs, int nspecs, const void *target, bool raid_group)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (int i = 0; i < nspecs; i++)
	{
		const char *field = (const char *) target + specs[i].offset;

		if (specs[i].group == OPTION_GROUP_RAID && !raid_group)
			continue;
		appendStringInfo(&s, "%s\"%s\": ", i ? ", " : "", specs[i].name);
		switch (specs[i].kind)
		{
			case OPTION_INT32:
				appendStringInfo(&s, "%d", *(const int32 *) field);
				break;
			case OPTION_UINT64:
				appendStringInfo(&s, UINT64_FORMAT, *(const uint64 *) field);
				break;
			case OPTION_FLOAT:
				appendStringInfo(&s, "%.15g", *(const double *) field);
				break;
			case OPTION_BOOL:
				appendStringInfoString(&s, *(const bool *) field ? "true" : "false");
				break;
			case OPTION_BOOL_INT32:
				appendStringInfoString(&s, *(const int32 *) field ? "true" : "false");
				break;
			case OPTION_ATTACKERS:
				{
					int32		mask = *(const int32 *) field;
					bool		first = true;

					appendStringInfoChar(&s, '[');
					for (int a = 0; a < (int) lengthof(attacker_names); a++)
						if (mask & attacker_names[a].kind)
						{
							appendStringInfo(&s, "%s\"%s\"", first ? "" : ", ", attacker_names[a].name);
							first = false;
						}
					appendStringInfoChar(&s, ']');
					break;
				}
		}
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

int32
raid_attacker_from_name(const char *name)
{
	for (int a = 0; a < (int) lengthof(attacker_names); a++)
		if (strcmp(name, attacker_names[a].name) == 0)
			return attacker_names[a].kind;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown attacker \"%s\"", name),
			 errhint("Valid attackers are: mlp, logistic, knn, qda, rbf.")));
	return 0;					/* keep the compiler quiet */
}

const char *
raid_attacker_name(int32 kind)
{
	for (int a = 0; a < (int) lengthof(attacker_names); a++)
		if (kind == attacker_names[a].kind)
			return attacker_names[a].name;
	return "unknown";
}

void
raid_parse_train_options(Jsonb *options, bool raid_defense, RaidTrainOptions *out)
{
	raid_error	err;

	raid_mf_options_default(&out->mf);
	raid_defense_options_default(&out->defense);
	out->replace = false;
	out->holdout = true;
	out->target = 0.03;
	out->adapt = true;
	out->checkpoints = 3;
	out->align = true;
	out->target_attackers = RAID_ATTACKER_LOGISTIC | RAID_ATTACKER_KNN | RAID_ATTACKER_QDA;
	out->raid_defense = raid_defense;
	parse_options(options, train_specs, lengthof(train_specs), out,
				  "{\"dim\": 64, \"epochs\": 30}", raid_defense);

	/* the core's own checks, in case they are stricter than the table above */
	raid_error_clear(&err);
	if (raid_mf_options_validate(&out->mf, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
	if (raid_defense && raid_defense_options_validate(&out->defense, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
}

char *
raid_train_options_json(const RaidTrainOptions *opts)
{
	return options_json(train_specs, lengthof(train_specs), opts, opts->raid_defense);
}

void
raid_parse_audit_options(Jsonb *options, RaidAuditOptions *out)
{
	raid_error	err;

	raid_audit_options_default(&out->core);
	out->store_folds = false;
	out->null_run = false;
	parse_options(options, audit_specs, lengthof(audit_specs), out,
				  "{\"folds\": 5, \"attackers\": [\"knn\", \"qda\"]}", false);

	raid_error_clear(&err);
	if (raid_audit_options_validate(&out->core, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
}

char *
raid_audit_options_json(const RaidAuditOptions *opts)
{
	return options_json(audit_specs, lengthof(audit_specs), opts, false);
}

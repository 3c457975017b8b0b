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

/*
 * The options of one SQL function: sections of option groups (raid_options.h),
 * each at an offset into the function's options struct.  Defense sections
 * apply only with defense => 'raid'.
 */
typedef struct OptionSection
{
	raid_option_group group;
	size_t		offset;
	int			defenses;		/* the RaidDefense bits it applies to; 0 = every call */
} OptionSection;

/* One option of a section, resolved to its place in the options struct. */
typedef struct OptionSpec
{
	const raid_option_info *info;
	size_t		offset;
	int			defenses;
} OptionSpec;

static const OptionSection train_sections[] = {
	{RAID_OPTION_GROUP_MF, offsetof(RaidTrainOptions, mf), 0},
	{RAID_OPTION_GROUP_TRAIN, offsetof(RaidTrainOptions, train), 0},
	{RAID_OPTION_GROUP_DEFENSE, offsetof(RaidTrainOptions, defense), RAID_DEFENSE_RAID},
	{RAID_OPTION_GROUP_TARGET, offsetof(RaidTrainOptions, leakage), RAID_DEFENSE_RAID},
	{RAID_OPTION_GROUP_DP, offsetof(RaidTrainOptions, dp), RAID_DEFENSE_DP},
	{RAID_OPTION_GROUP_UNLEARN, offsetof(RaidTrainOptions, unlearn), RAID_DEFENSE_UNLEARN},
	{RAID_OPTION_GROUP_ADVERSARIAL, offsetof(RaidTrainOptions, adversarial), RAID_DEFENSE_ADVERSARIAL},
};

static const OptionSection audit_sections[] = {
	{RAID_OPTION_GROUP_AUDIT, offsetof(RaidAuditOptions, core), 0},
	{RAID_OPTION_GROUP_AUDIT_RUN, offsetof(RaidAuditOptions, run), 0},
};

/* The attackers by name, in the core's order (that of the results). */
static const struct
{
	int32		kind;
	const char *name;
}			attacker_names[] = {
#define ATTACKER_NAME(kind, name) {kind, name},
	RAID_ATTACKER_LIST(ATTACKER_NAME)
#undef ATTACKER_NAME
};

/* The defenses by name, in the order the hints list them. */
static const struct
{
	int			kind;
	const char *name;
}			defense_names[] = {
	{RAID_DEFENSE_NONE, "none"},
	{RAID_DEFENSE_RAID, "raid"},
	{RAID_DEFENSE_DP, "dp"},
	{RAID_DEFENSE_CENTER, "center"},
	{RAID_DEFENSE_GAUSSIAN, "gaussian"},
	{RAID_DEFENSE_UNLEARN, "unlearn"},
	{RAID_DEFENSE_ADVERSARIAL, "adversarial"},
};

int
raid_defense_from_name(const char *name)
{
	for (int i = 0; i < (int) lengthof(defense_names); i++)
		if (strcmp(name, defense_names[i].name) == 0)
			return defense_names[i].kind;
	return 0;
}

const char *
raid_defense_name(int defense)
{
	for (int i = 0; i < (int) lengthof(defense_names); i++)
		if (defense & defense_names[i].kind)
			return defense_names[i].name;
	return "unknown";
}

/* The SQL options of some sections, in declaration order (palloc'd; *n their count). */
static OptionSpec *
section_specs(const OptionSection *sections, int nsections, int *n)
{
	OptionSpec *specs = palloc(sizeof(OptionSpec) * 128);

	*n = 0;
	for (int s = 0; s < nsections; s++)
	{
		int32		count = 0;
		const raid_option_info *infos = raid_option_infos(sections[s].group, &count);

		for (int i = 0; i < count; i++)
		{
			if (infos[i].flags & RAID_OPTION_INTERNAL)
				continue;
			Assert(*n < 128);
			specs[*n].info = &infos[i];
			specs[*n].offset = sections[s].offset + infos[i].offset;
			specs[*n].defenses = sections[s].defenses;
			(*n)++;
		}
	}
	return specs;
}

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

/* Whether an option applies to a call with this defense (a RaidDefense bit; 0 outside raid.train). */
static bool
applies(const OptionSpec *spec, int defense)
{
	return spec->defenses == 0 || (spec->defenses & defense) != 0;
}

static char *
option_names(const OptionSpec *specs, int n, int defense)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < n; i++)
		if (applies(&specs[i], defense))
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", specs[i].info->name);
	return s.data;
}

/* Formats a range bound; integer bounds print exactly (even INT64_MAX). */
static char *
format_bound(double x, bool is_int)
{
	if (is_int && x >= RAID_MAX_SEED)
		return psprintf(INT64_FORMAT, PG_INT64_MAX);
	if (is_int)
		return psprintf("%.0f", x);
	return psprintf("%g", x);
}

/* Reads an integer-valued JSON number (8.0 counts) within the option's range. */
static int64
read_integer(const raid_option_info *o, const JsonbValue *v)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(v->val.numeric)));
	char	   *dot = strchr(text, '.');
	char	   *end;
	int64		ix;
	bool		zero_ok = (o->flags & RAID_OPTION_ZERO_OK) != 0;

	/* 8.0 is an integer too: drop a fraction of zeros */
	if (dot && strspn(dot + 1, "0") == strlen(dot + 1))
		*dot = '\0';
	errno = 0;
	ix = strtoll(text, &end, 10);
	if (*end != '\0' || errno == ERANGE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be an integer between %s and %s, got %s",
						o->name, format_bound(zero_ok ? 0 : o->min, true),
						format_bound(o->max, true), text)));
	if ((ix != 0 || !zero_ok) && ((double) ix < o->min || (double) ix > o->max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be %sbetween %s and %s, got %s",
						o->name, zero_ok ? "0 or " : "", format_bound(o->min, true),
						format_bound(o->max, true), text)));
	return ix;
}

/* Raises the wrong-JSON-type error for an option. */
static void
type_error(const raid_option_info *o, const char *expected, const JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("option \"%s\" must be %s, got %s", o->name, expected,
					json_type_name(v))));
}

/* Reads ["mlp", "logistic"] (or one name as a string) into a bit mask. */
static int32
read_attackers(const raid_option_info *o, const JsonbValue *v)
{
	int32		mask = 0;

	if (v->type == jbvString)
		return raid_attacker_from_name(pnstrdup(v->val.string.val, v->val.string.len));
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		type_error(o, "an array of attacker names", v);
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (e.type != jbvString)
				type_error(o, "an array of attacker names", &e);
			mask |= raid_attacker_from_name(pnstrdup(e.val.string.val, e.val.string.len));
		}
	}
	if (mask == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must name at least one attacker", o->name)));
	return mask;
}

/* Checks one value against its option's declaration and stores it into the target. */
static void
apply_option(const OptionSpec *spec, const JsonbValue *v, void *target)
{
	const raid_option_info *o = spec->info;
	char	   *field = (char *) target + spec->offset;

	switch (o->type)
	{
		case RAID_OPTION_BOOL:
			if (v->type != jbvBool)
				type_error(o, "a boolean", v);
			*(int32 *) field = v->val.boolean ? 1 : 0;
			break;
		case RAID_OPTION_INT32:
			if (v->type != jbvNumeric)
				type_error(o, "an integer", v);
			*(int32 *) field = (int32) read_integer(o, v);
			break;
		case RAID_OPTION_INT64:
			if (v->type != jbvNumeric)
				type_error(o, "an integer", v);
			*(int64 *) field = read_integer(o, v);
			break;
		case RAID_OPTION_UINT64:
			if (v->type != jbvNumeric)
				type_error(o, "an integer", v);
			*(uint64 *) field = (uint64) read_integer(o, v);
			break;
		case RAID_OPTION_DOUBLE:
			{
				double		x;
				bool		exclusive = (o->flags & RAID_OPTION_MIN_EXCLUSIVE) != 0;

				if (v->type != jbvNumeric)
					type_error(o, "a number", v);
				/* beyond float8 (1e400) is infinite here, so out of range below */
				x = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													   NumericGetDatum(v->val.numeric)));
				if (isnan(x) || x < o->min || x > o->max || (exclusive && x <= o->min))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"%s\" must be %s %s and at most %s, got %s",
									o->name,
									exclusive ? "greater than" : "at least",
									format_bound(o->min, false),
									format_bound(o->max, false),
									isinf(x) ? "a number beyond double precision" :
									psprintf("%g", x))));
				*(double *) field = x;
				break;
			}
		case RAID_OPTION_ATTACKERS:
			*(int32 *) field = read_attackers(o, v);
			break;
	}
}

/*
 * Fills the sections' defaults into target, then parses a jsonb options
 * object over them.
 */
static void
parse_options(Jsonb *options, const OptionSection *sections, int nsections, void *target,
			  const char *example, int defense)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			nspecs;
	OptionSpec *specs = section_specs(sections, nsections, &nspecs);

	for (int s = 0; s < nsections; s++)
	{
		raid_error	err;

		raid_error_clear(&err);
		if (raid_options_default(sections[s].group, (char *) target + sections[s].offset,
								 &err) != RAID_OK)
			raid_report_error(&err, "filling the defaults");
	}
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
				if (strcmp(specs[i].info->name, key) == 0)
					spec = &specs[i];
			if (spec == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\"", key),
						 errhint("Valid options are: %s.", option_names(specs, nspecs, defense))));
			if (!applies(spec, defense))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" applies only to defense '%s'", key,
								raid_defense_name(spec->defenses))));
			apply_option(spec, &v, target);
		}
	}
}

/* Prints every SQL option of the sections as a JSON object. */
static char *
options_json(const OptionSection *sections, int nsections, const void *target, int defense)
{
	StringInfoData s;
	int			nspecs;
	OptionSpec *specs = section_specs(sections, nsections, &nspecs);
	bool		first = true;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (int i = 0; i < nspecs; i++)
	{
		const char *field = (const char *) target + specs[i].offset;

		if (!applies(&specs[i], defense))
			continue;
		appendStringInfo(&s, "%s\"%s\": ", first ? "" : ", ", specs[i].info->name);
		first = false;
		switch (specs[i].info->type)
		{
			case RAID_OPTION_INT32:
				appendStringInfo(&s, "%d", *(const int32 *) field);
				break;
			case RAID_OPTION_INT64:
				appendStringInfo(&s, INT64_FORMAT, *(const int64 *) field);
				break;
			case RAID_OPTION_UINT64:
				appendStringInfo(&s, UINT64_FORMAT, *(const uint64 *) field);
				break;
			case RAID_OPTION_DOUBLE:
				appendStringInfo(&s, "%.15g", *(const double *) field);
				break;
			case RAID_OPTION_BOOL:
				appendStringInfoString(&s, *(const int32 *) field ? "true" : "false");
				break;
			case RAID_OPTION_ATTACKERS:
				{
					int32		mask = *(const int32 *) field;
					bool		first_name = true;

					appendStringInfoChar(&s, '[');
					for (int a = 0; a < (int) lengthof(attacker_names); a++)
						if (mask & attacker_names[a].kind)
						{
							appendStringInfo(&s, "%s\"%s\"", first_name ? "" : ", ",
											 attacker_names[a].name);
							first_name = false;
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

/* A set of attackers as a JSON array of their names, in the core's order. */
void
raid_json_attackers(RaidJson *j, const char *key, int32 set)
{
	raid_json_array_begin(j, key);
	for (int a = 0; a < (int) lengthof(attacker_names); a++)
		if (set & attacker_names[a].kind)
			raid_json_string(j, NULL, attacker_names[a].name);
	raid_json_array_end(j);
}

void
raid_parse_train_options(Jsonb *options, int defense, RaidTrainOptions *out)
{
	raid_error	err;
	bool		raid_defense = defense == RAID_DEFENSE_RAID;

	parse_options(options, train_sections, lengthof(train_sections), out,
				  "{\"dim\": 64, \"epochs\": 30}", defense);
	out->defense_kind = defense;
	out->raid_defense = raid_defense;

	/* the core's own checks, which add cross-field ones to the declared ranges */
	raid_error_clear(&err);
	if (raid_mf_options_validate(&out->mf, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
	if (raid_defense && raid_defense_options_validate(&out->defense, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
}

char *
raid_train_options_json(const RaidTrainOptions *opts)
{
	return options_json(train_sections, lengthof(train_sections), opts, opts->defense_kind);
}

void
raid_parse_audit_options(Jsonb *options, RaidAuditOptions *out)
{
	raid_error	err;

	parse_options(options, audit_sections, lengthof(audit_sections), out,
				  "{\"folds\": 5, \"attackers\": [\"knn\", \"qda\"]}", 0);

	raid_error_clear(&err);
	if (raid_audit_options_validate(&out->core, &err) != RAID_OK)
		raid_report_error(&err, "checking the options");
}

char *
raid_audit_options_json(const RaidAuditOptions *opts)
{
	return options_json(audit_sections, lengthof(audit_sections), opts, 0);
}

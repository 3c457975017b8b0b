/*
 * train.c: raid.train, synchronous training of a model from an interaction
 * table.
 *
 * Stages: validate the arguments, load the (user, item) pairs through SPI,
 * build the dataset (remap, collapse duplicates, leave-one-out split), train
 * chunk by chunk with a cancellation check between chunks, evaluate, and
 * store the model, its embeddings and the users' training items.  Nothing is
 * written before training has finished, and everything is written in the
 * caller's transaction, so a failed or cancelled training leaves the earlier
 * model of that name intact and writes no partial rows.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_train);

/* rows fetched from the interaction table per SPI round trip */
#define LOAD_BATCH 50000
/* users or items written per INSERT statement */
#define STORE_BATCH 4096

typedef struct TrainArgs
{
	char	   *model;
	Oid			interactions;
	char	   *user_col;
	char	   *item_col;
	Oid			attributes;		/* InvalidOid if none */
	char	   *attribute_col;	/* NULL if none; normalised: "a, b" */
	char	  **attribute_cols; /* its columns */
	int			n_attributes;
	char	   *defense;
	bool		raid_defense;	/* defense => 'raid' */
	RaidTrainOptions opts;
} TrainArgs;

/* The protected attribute of the trained users, for the defense. */
typedef struct UserClasses
{
	int32	   *user_class;		/* per dense user: class index or -1 */
	int			n_classes;
	char	  **names;			/* sorted */
	int64	   *counts;
	int64		without;		/* trained users without a value */
} UserClasses;

/* more classes than this is almost certainly an unbinned numeric attribute */
#define MAX_CLASSES 100

typedef struct TrainTimes
{
	double		load;
	double		build;
	double		train;
	double		evaluate;
	double		store;
	double		target;			/* the final internal audit */
} TrainTimes;

/* Checks that a relation can be read as a table. */
static void
check_readable_relation(Oid relid)
{
	char		kind = get_rel_relkind(relid);

	if (kind != RELKIND_RELATION && kind != RELKIND_VIEW &&
		kind != RELKIND_MATVIEW && kind != RELKIND_PARTITIONED_TABLE &&
		kind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table or view", raid_qualified_relname(relid))));
}

/* Checks "defense": 'none' and 'raid' are available in this version. */
static void
check_defense(const char *defense)
{
	static const char *const later[] = {"dp", "unlearn", "adversarial"};

	if (strcmp(defense, "none") == 0 || strcmp(defense, "raid") == 0)
		return;
	for (int i = 0; i < (int) lengthof(later); i++)
		if (strcmp(defense, later[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("defense \"%s\" is not available in this version of raid", defense),
					 errhint("Use defense => 'none' or 'raid'.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown defense \"%s\"", defense),
			 errhint("Valid defenses are: none, raid, dp, unlearn, adversarial.")));
}

/* Reads and validates every argument before any work is done. */
static void
parse_args(FunctionCallInfo fcinfo, TrainArgs *a)
{
	raid_require_arg(fcinfo, 0, "model");
	raid_require_arg(fcinfo, 1, "interactions");
	raid_require_arg(fcinfo, 2, "user_col");
	raid_require_arg(fcinfo, 3, "item_col");
	raid_require_arg(fcinfo, 6, "defense");

	a->model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	a->interactions = PG_GETARG_OID(1);
	a->user_col = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	a->item_col = pstrdup(NameStr(*PG_GETARG_NAME(3)));
	a->attributes = PG_ARGISNULL(4) ? InvalidOid : PG_GETARG_OID(4);
	a->attribute_col = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	a->defense = text_to_cstring(PG_GETARG_TEXT_PP(6));

	raid_check_model_name(a->model);

	check_defense(a->defense);
	a->raid_defense = strcmp(a->defense, "raid") == 0;

	check_readable_relation(a->interactions);
	raid_check_integer_column(a->interactions, a->user_col);
	raid_check_integer_column(a->interactions, a->item_col);

	if (OidIsValid(a->attributes) != (a->attribute_col != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attributes and attribute_col must be given together")));
	if (a->raid_defense && !OidIsValid(a->attributes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("defense 'raid' needs the protected attribute"),
				 errhint("Name it with attributes => 'users', attribute_col => 'gender'.")));
	if (OidIsValid(a->attributes))
	{
		StringInfoData list;

		check_readable_relation(a->attributes);
		raid_check_integer_column(a->attributes, a->user_col);
		a->n_attributes = raid_split_attribute_cols(a->attribute_col, a->attributes,
													&a->attribute_cols);
		initStringInfo(&list);
		for (int i = 0; i < a->n_attributes; i++)
			appendStringInfo(&list, "%s%s", i ? ", " : "", a->attribute_cols[i]);
		a->attribute_col = list.data;
	}

	raid_parse_train_options(PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7), a->raid_defense,
							 &a->opts);
	a->opts.mf.threads = raid_effective_threads(a->opts.mf.threads);
}

/* The current role's model of that name; 0 if none. */
static int64
find_model(const char *name)
{
	bool		isnull;

	if (!raid_select_model(name, "model_id", true))
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Streams the non-NULL (user, item) pairs into the dataset; counts NULLs. */
static int64
load_interactions(const TrainArgs *a, raid_dataset *ds, int64 *loaded)
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

typedef struct LabelledUser
{
	char	   *label;
	int32		user;			/* dense index */
} LabelledUser;

static int
cmp_int64_key(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

static int
cmp_labelled(const void *a, const void *b)
{
	const LabelledUser *x = a;
	const LabelledUser *y = b;
	int			c = strcmp(x->label, y->label);

	return c != 0 ? c : (x->user > y->user) - (x->user < y->user);
}

/*
 * Reads the protected attribute of the trained users: classes are the
 * attribute's values as text, in byte order.  Users without a value are
 * trained but not pulled; a user with two rows is an error.
 */
static void
load_user_classes(const TrainArgs *a, const char *column, const raid_dataset *ds, int64 n_users,
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
	out->names = palloc(sizeof(char *) * MAX_CLASSES);
	out->counts = palloc0(sizeof(int64) * MAX_CLASSES);
	out->n_classes = 0;
	out->without = n_users - n_lab;
	qsort(lab, n_lab, sizeof(LabelledUser), cmp_labelled);
	for (int64 i = 0; i < n_lab; i++)
	{
		if (i == 0 || strcmp(lab[i].label, lab[i - 1].label) != 0)
		{
			if (out->n_classes == MAX_CLASSES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("attribute \"%s\" has more than %d distinct values",
								column, MAX_CLASSES),
						 errhint("Bin a numeric attribute into groups, for example with a view.")));
			out->names[out->n_classes++] = lab[i].label;
		}
		out->user_class[lab[i].user] = out->n_classes - 1;
		out->counts[out->n_classes - 1]++;
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

/* ------------------------------------------------------------------------
 * The leakage target: internal audits of the trained users
 * ------------------------------------------------------------------------ */

/* Users audited at a checkpoint and at the end (every k-th labelled user beyond these). */
#define CHECKPOINT_USERS 3000
#define FINAL_USERS 10000
/* Shuffles of the labels whose largest leakage is the noise floor. */
#define NULL_RUNS 3

/* What an internal audit found. */
typedef struct Leakage
{
	bool		measured;		/* false if a class was too small to audit */
	double		leakage;		/* the strongest attacker's |balanced accuracy - chance| */
	double		deviation;		/* its balanced accuracy - chance (signed) */
	int32		attacker;		/* the strongest attacker */
	double		noise_floor;	/* the same on shuffled labels (final check only), or -1 */
	double		above;			/* the largest balanced accuracy - chance (signed) */
	int32		above_attacker; /* whose it is */
} Leakage;

/* Runs one core audit of X (n x dim) with these labels; fills the strongest attacker. */
static void
audit_leakage(const float *X, const int64 *ids, const int32 *labels, int64 n, int dim,
			  int classes, int folds, uint64 seed, int threads, int32 attackers, Leakage *out)
{
	raid_audit_options ao;
	raid_attack_result results[RAID_MAX_ATTACKERS];
	int32		n_results = 0;
	raid_error	err;
	RaidCoreHandles *h = raid_core_handles_create();	/* frees the audit if a cancel unwinds */
	int			done = 0;
	double		fraction;

	raid_audit_options_default(&ao);
	ao.attackers = attackers;
	ao.folds = folds;
	ao.seed = seed;
	ao.threads = threads;
	raid_error_clear(&err);
	h->audit = raid_audit_create(X, ids, labels, n, dim, classes, &ao, &err);
	if (h->audit == NULL)
		raid_report_error(&err, "auditing the defended embeddings");
	while (!done)
	{
		CHECK_FOR_INTERRUPTS();
		if (raid_audit_step(h->audit, &done, &fraction, &err) != RAID_OK)
			raid_report_error(&err, "auditing the defended embeddings");
	}
	if (raid_audit_get_results(h->audit, results, RAID_MAX_ATTACKERS, &n_results, &err) != RAID_OK)
		raid_report_error(&err, "auditing the defended embeddings");
	raid_core_handles_release(h);
	out->measured = true;
	out->leakage = -1;
	out->above = -1;
	for (int i = 0; i < n_results; i++)
	{
		double		d = results[i].balanced_accuracy - results[i].chance;

		if (fabs(d) > out->leakage)
		{
			out->leakage = fabs(d);
			out->deviation = d;
			out->attacker = results[i].attacker;
		}
		if (d > out->above)
		{
			out->above = d;
			out->above_attacker = results[i].attacker;
		}
	}
}

/*
 * Audits the trainer's current user embeddings for the protected attribute,
 * with logistic regression, kNN and QDA under stratified cross-validation
 * (at most max_users labelled users, every k-th beyond that).  With
 * null_runs > 0, the same attackers on that many shufflings of the labels give the noise floor (the largest).
 */
static Leakage
internal_leakage(const float *U, const int64 *user_ids, const UserClasses *uc, int64 n_users,
				 int dim, const RaidTrainOptions *o, int64 max_users, int null_runs)
{
	int64		labelled = 0;
	int64		step;
	int64		n = 0;
	int64		n_max;
	int64		smallest = PG_INT64_MAX;
	int64	   *counts = palloc0(sizeof(int64) * uc->n_classes);
	float	   *X;
	int64	   *ids;
	int32	   *labels;
	int			folds;
	Leakage		out = {false, 0, 0, 0, -1, 0, 0};

	for (int64 u = 0; u < n_users; u++)
		labelled += uc->user_class[u] >= 0;
	step = Max(1, (labelled + max_users - 1) / max_users);
	/* every step-th labelled user: at most max_users of them */
	n_max = Max(Min(labelled, max_users), 1);
	raid_check_memory((double) n_max * (4.0 * dim + 12.0), "auditing the defended embeddings");
	X = palloc_extended(sizeof(float) * n_max * dim, MCXT_ALLOC_HUGE);
	ids = palloc_extended(sizeof(int64) * n_max, MCXT_ALLOC_HUGE);
	labels = palloc_extended(sizeof(int32) * n_max, MCXT_ALLOC_HUGE);
	for (int64 u = 0, k = 0; u < n_users; u++)
	{
		if (uc->user_class[u] < 0)
			continue;
		if (k++ % step != 0)
			continue;
		memcpy(X + n * dim, U + u * dim, sizeof(float) * dim);
		ids[n] = user_ids[u];	/* folds follow the ids, as in raid.audit */
		labels[n] = uc->user_class[u];
		counts[labels[n]]++;
		n++;
	}
	for (int c = 0; c < uc->n_classes; c++)
		smallest = Min(smallest, counts[c]);
	folds = (int) Min(5, smallest);
	if (folds < 2)
		return out;				/* a class too small to cross-validate */
	audit_leakage(X, ids, labels, n, dim, uc->n_classes, folds, o->mf.seed, o->mf.threads,
				  o->leakage.target_attackers, &out);
	if (null_runs > 0)
	{
		Leakage		floor = {false, 0, 0, 0, -1, 0, 0};
		pg_prng_state rng;

		/*
		 * The largest of NULL_RUNS shuffles: one shuffle is a single draw of
		 * the noise, often below its typical upper range (occupation, 21
		 * classes: one shuffle gave 0.011 while the labels' own leakage,
		 * 0.047, was noise too, and opened the gate).
		 */
		pg_prng_seed(&rng, o->mf.seed ^ UINT64CONST(0x6e756c6c72756e));
		out.noise_floor = 0;
		for (int r = 0; r < null_runs; r++)
		{
			for (int64 i = n - 1; i > 0; i--)
			{
				int64		j = (int64) pg_prng_uint64_range(&rng, 0, (uint64) i);
				int32		t = labels[i];

				labels[i] = labels[j];
				labels[j] = t;
			}
			audit_leakage(X, ids, labels, n, dim, uc->n_classes, folds, o->mf.seed, o->mf.threads,
						  o->leakage.target_attackers, &floor);
			out.noise_floor = Max(out.noise_floor, floor.leakage);
		}
	}
	pfree(X);
	pfree(ids);
	pfree(labels);
	return out;
}

/*
 * Whether the final audit met the target: the strongest attacker within the
 * target of chance, or (on data too small to measure leakage that finely)
 * within the noise floor, what the same attackers reach on shuffled labels.
 */
static bool
target_met(const RaidTrainOptions *o, const Leakage *l)
{
	return l->leakage <= Max(o->leakage.target, l->noise_floor);
}

/* One protected attribute: its classes and what the target did with it. */
typedef struct Protected
{
	const char *column;
	UserClasses uc;
	double		base_eta;		/* the strength asked for (see raid_train) */
	double		eta;			/* the current strength, 0 = paused */
	Leakage		candidate[3];	/* the final step's audits of this attribute */
	Leakage		final;
} Protected;

/* What the target did during training, for the metrics. */
typedef struct TargetLog
{
	StringInfoData checkpoints; /* JSON array */
	int			n_checkpoints;
	/* the final step: what each candidate leaked, which one was kept */
	int			n_candidates;
	double		worst[3];		/* per candidate: the largest leakage over the attributes */
	int			step_classes;	/* classes it aligned (their combinations, with several) */
	const char *kept;			/* "none", "mean", "gaussian"; NULL = no step */
	double		kept_shift;		/* RMS move of the kept step */
	double		step_seconds;
} TargetLog;

static const char *const final_step_name[3] = {"none", "mean", "gaussian"};

/* How far a leakage is beyond its bar: the target, or the noise floor if larger. */
static double
excess(const RaidTrainOptions *o, const Leakage *l, double noise_floor)
{
	return l->leakage - Max(o->leakage.target, noise_floor);
}

/* Whether every measured attribute met the target (see target_met). */
static bool
all_targets_met(const RaidTrainOptions *o, const Protected *prot, int n_prot)
{
	for (int a = 0; a < n_prot; a++)
		if (prot[a].final.measured && !target_met(o, &prot[a].final))
			return false;
	return true;
}

/* The measured attribute furthest beyond its bar at the end; -1 if none was measured. */
static int
worst_attribute(const RaidTrainOptions *o, const Protected *prot, int n_prot)
{
	int			worst = -1;

	for (int a = 0; a < n_prot; a++)
		if (prot[a].final.measured &&
			(worst < 0 || excess(o, &prot[a].final, prot[a].final.noise_floor) >
			 excess(o, &prot[worst].final, prot[worst].final.noise_floor)))
			worst = a;
	return worst;
}

typedef struct CodedUser
{
	int64		code;
	int32		user;
} CodedUser;

static int
cmp_coded(const void *a, const void *b)
{
	const CodedUser *x = a;
	const CodedUser *y = b;

	if (x->code != y->code)
		return (x->code > y->code) - (x->code < y->code);
	return (x->user > y->user) - (x->user < y->user);
}

/*
 * The classes the final step aligns: with one attribute its classes; with
 * several, the combinations of their values that occur (a missing value
 * counts as one more value; users without any value stay -1).  Aligning each
 * combination onto a random group of its size aligns every attribute's
 * classes too: a class of one attribute is a union of combinations, so it
 * moves onto a union of independent draws of random groups, itself distributed
 * as a random group of the class's size.  Returns the number of classes.
 */
static int
step_classes(const Protected *prot, int n_prot, int64 n_users, int32 *out)
{
	CodedUser  *coded;
	int64		n = 0;
	int			classes = 0;

	if (n_prot == 1)
	{
		memcpy(out, prot[0].uc.user_class, sizeof(int32) * n_users);
		return prot[0].uc.n_classes;
	}
	coded = palloc_extended(sizeof(CodedUser) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	for (int64 u = 0; u < n_users; u++)
	{
		int64		code = 0;
		bool		any = false;

		/* mixed radix, digit c + 1 in base n_classes + 1: at most 101^8 < 2^63 */
		for (int a = 0; a < n_prot; a++)
		{
			int32		c = prot[a].uc.user_class[u];

			code = code * (prot[a].uc.n_classes + 1) + (c + 1);
			any = any || c >= 0;
		}
		out[u] = -1;
		if (any)
		{
			coded[n].code = code;
			coded[n].user = (int32) u;
			n++;
		}
	}
	qsort(coded, n, sizeof(CodedUser), cmp_coded);
	for (int64 i = 0; i < n; i++)
	{
		if (i > 0 && coded[i].code != coded[i - 1].code)
			classes++;
		out[coded[i].user] = classes;
	}
	pfree(coded);
	return n > 0 ? classes + 1 : 0;
}

/* Audits rows U for every attribute into candidate slot i; the worst leakage over them. */
static double
audit_candidate(const float *U, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users,
				const RaidTrainOptions *o, int i, bool null_run)
{
	double		worst = 0;

	for (int a = 0; a < n_prot; a++)
	{
		prot[a].candidate[i] = internal_leakage(U, user_ids, &prot[a].uc, n_users, o->mf.dim, o,
												FINAL_USERS, null_run ? NULL_RUNS : 0);
		if (prot[a].candidate[i].measured)
			worst = Max(worst, prot[a].candidate[i].leakage);
	}
	return worst;
}

/* A candidate's score: the largest excess over the attributes' bars (lower is better). */
static double
candidate_score(const RaidTrainOptions *o, const Protected *prot, int n_prot, int i)
{
	double		score = -1e300;

	for (int a = 0; a < n_prot; a++)
		if (prot[a].candidate[0].measured && prot[a].candidate[i].measured)
			score = Max(score, excess(o, &prot[a].candidate[i], prot[a].candidate[0].noise_floor));
	return score;
}

/*
 * The defense's calibrated last step (core/ot/null_align.h, option align):
 * audits the trained embeddings as they are, with each class's mean moved
 * onto a draw of a random group's, and with its mean and covariance mapped
 * onto such a draw, with the final audit's attackers and users, and keeps the
 * least leaky (the embeddings as they are on a tie).  Neither mode helps on
 * every dataset: the mean step removes what the pull left in the means, the
 * Gaussian map also what it left in the spread, and either can add a little
 * where little was left (many small classes); measuring picks the right one
 * without a hand-set choice.  With several attributes the step aligns the
 * combinations of their classes (step_classes) and a candidate is judged by
 * its worst attribute, each against its own bar.  Works on copies: a cancel
 * leaves the trained embeddings as they were.
 */
static void
final_step(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot, int64 n_users,
		   const RaidTrainOptions *o, TargetLog *log)
{
	const int	dim = o->mf.dim;
	const float *U = raid_mf_user_embeddings(tr);
	size_t		bytes = sizeof(float) * (size_t) n_users * dim;
	int32	   *classes;
	int			n_classes;
	int			last_mode = RAID_NULL_ALIGN_GAUSSIAN;
	float	   *best;
	float	   *work;
	int			kept = 0;
	bool		measured = false;
	bool		within = true;
	instr_time	start;
	raid_error	err;

	INSTR_TIME_SET_CURRENT(start);
	/* the classes (4 bytes a user) and, with several attributes, their codes (16) */
	raid_check_memory(20.0 * Max(n_users, 1), "the defense's final alignment");
	classes = palloc_extended(sizeof(int32) * Max(n_users, 1), MCXT_ALLOC_HUGE);
	n_classes = step_classes(prot, n_prot, n_users, classes);
	log->step_classes = n_classes;
	/*
	 * The Gaussian map keeps two d x d matrices per class: with many
	 * combinations of classes it may not fit, and the mean step alone runs.
	 */
	if (raid_max_memory > 0 &&
		4.0 * n_users + 2.0 * bytes +
		raid_null_align_memory(n_users, dim, n_classes, RAID_NULL_ALIGN_GAUSSIAN) >
		(double) raid_max_memory * 1024.0 * 1024.0)
		last_mode = RAID_NULL_ALIGN_MEAN;
	raid_check_memory(4.0 * n_users + 2.0 * bytes +
					  raid_null_align_memory(n_users, dim, n_classes, last_mode),
					  "the defense's final alignment");
	log->worst[0] = audit_candidate(U, user_ids, prot, n_prot, n_users, o, 0, true);
	log->n_candidates = 1;
	for (int a = 0; a < n_prot; a++)
	{
		measured = measured || prot[a].candidate[0].measured;
		if (prot[a].candidate[0].measured && excess(o, &prot[a].candidate[0], prot[a].candidate[0].noise_floor) > 0)
			within = false;
	}
	if (!measured)
		return;					/* a class too small to cross-validate: nothing to compare */
	log->kept = final_step_name[0];
	log->kept_shift = 0;
	/*
	 * Already within the target and the noise floor: nothing to remove, and
	 * aligning would only fit the alignment to noise (each class's mean set
	 * independently of its members, which cross-validated attackers read
	 * below chance: kNN 0.047 below on random labels).
	 */
	if (within)
	{
		log->step_seconds = raid_elapsed_seconds(start);
		if (raid_verbose)
			ereport(NOTICE,
					(errmsg("final step: leakage %.3f as trained, within the target and the noise floor; kept none",
							log->worst[0])));
		return;
	}
	best = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	work = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	for (int mode = RAID_NULL_ALIGN_MEAN; mode <= last_mode; mode++)
	{
		raid_null_align_summary summary;
		int			i = log->n_candidates;

		memcpy(work, U, bytes);
		if (raid_null_align(work, n_users, dim, classes, n_classes, o->mf.seed, mode,
							&summary, &err) != RAID_OK)
			raid_report_error(&err, "aligning the defended embeddings");
		log->worst[i] = audit_candidate(work, user_ids, prot, n_prot, n_users, o, i, false);
		log->n_candidates++;
		if (candidate_score(o, prot, n_prot, i) < candidate_score(o, prot, n_prot, kept))
		{
			float	   *t = best;

			best = work;
			work = t;
			kept = i;
			log->kept_shift = summary.mean_shift;
		}
	}
	if (kept > 0 && raid_mf_set_user_embeddings(tr, best, &err) != RAID_OK)
		raid_report_error(&err, "storing the aligned embeddings");
	pfree(best);
	pfree(work);
	pfree(classes);
	log->kept = final_step_name[kept];
	log->step_seconds = raid_elapsed_seconds(start);
	if (raid_verbose)
		ereport(NOTICE,
				(errmsg("final step: leakage %.3f as trained, %.3f mean%s; kept %s",
						log->worst[0], log->worst[1],
						log->n_candidates > 2 ? psprintf(", %.3f gaussian", log->worst[2]) : "",
						log->kept)));
}

/*
 * At a checkpoint (the end of Phase I, then every few Phase II epochs):
 * audits the current embeddings and runs the pull only while it is needed.
 * The pull's fixed point is the classes aligned exactly, whatever eta: eta
 * sets how fast it gets there, not how far it goes, and aligned more exactly
 * than random groups of users are, the classes leak again (attackers below
 * chance; on random labels the 0.1.0 pull reached QDA 0.16 below chance).  So,
 * for each protected attribute on its own:
 *   - any attacker above chance by more than the target plus the noise
 *     floor (shuffled labels, audited alongside): the pull runs; at the
 *     gate or when paused at the eta asked for; a running pull doubles (at
 *     most 4x the eta asked for) only if an attacker is still above the bar
 *     after the final step's Gaussian map (audited on a copy);
 *   - otherwise, at the gate or when paused: the pull pauses (eta 0, no
 *     recomputations) until a checkpoint sees leakage again;
 *   - otherwise a running pull halves (at least eta / 8) when the strongest
 *     attacker is more than the bar below chance, and keeps its strength
 *     within the bar.
 * Signal above chance outranks a reading below it: the pull over-aligns the
 * class means long before it removes signal beyond them (the synthetic
 * nonlinear clusters at epoch 13: logistic regression 0.13 to 0.15 below
 * chance while kNN is 0.04 to 0.08 above; the covariance signal: 0.17 below
 * and 0.15 above at epoch 21), and the final step's fresh means repair the first but not
 * the second; halving there left kNN 0.065 above chance after the final
 * step, doubling 0.032 (BENCHMARKS.md, "Fresh targets").  And what the
 * final step removes need not be pulled: the synthetic covariance signal
 * stays 0.15 above chance under the pull and vanishes under the Gaussian
 * map, and doubling for it ended 0.039 from chance at 0.828x NDCG@10,
 * keeping the strength 0.020 at 0.864x.
 * The default is the gate and two checkpoints in Phase II (checkpoints 3):
 * the pull aligns MovieLens age groups within five epochs and then
 * over-aligns them; the later checkpoints halve it, which keeps 0.985x of
 * the undefended NDCG@10 instead of 0.916x at the same leakage (BENCHMARKS.md,
 * "Checkpoints").
 */
static void
adapt_at_checkpoint(raid_trainer *tr, const int64 *user_ids, Protected *prot, int n_prot,
					int64 n_users, const RaidTrainOptions *o, int epoch, TargetLog *log)
{
	const int	dim = o->mf.dim;
	size_t		bytes = sizeof(float) * (size_t) n_users * dim;
	float	   *aligned = NULL;

	for (int a = 0; a < n_prot; a++)
	{
		bool		gate = epoch == o->defense.phase1_epochs;
		const float *U = raid_mf_user_embeddings(tr);
		bool		after_step = false;
		double		step_above = 1;		/* above, after the Gaussian step */
		int32		step_attacker = 0;
		Leakage		l;
		double		eta = prot[a].eta;	/* the current strength, 0 = paused */
		double		bar;
		raid_error	err;

		/*
		 * Whether a pull runs at all (the gate, or resuming a paused one) is
		 * decided against the largest of NULL_RUNS shuffles; a running pull's
		 * strength against one shuffle, so that those checkpoints cost two
		 * audits, not four.  One shuffle also for resuming reopened the pull
		 * on noise (MovieLens occupation, 0.97x NDCG@10); a floor kept from
		 * the gate left the pull running where it had over-aligned (age
		 * groups: 0.951x NDCG@10 against 0.985x).
		 */
		l = internal_leakage(U, user_ids, &prot[a].uc, n_users, o->mf.dim, o, CHECKPOINT_USERS,
							 gate || prot[a].eta == 0 ? NULL_RUNS : 1);
		if (!l.measured)
			continue;

		bar = o->leakage.target + l.noise_floor;

		/*
		 * A running pull doubles only for signal that the final step would
		 * leave: when an attacker is above the bar as the embeddings are,
		 * they are audited again after the Gaussian step (on a copy), and
		 * that audit must find an attacker above the bar too.
		 */
		if (!gate && prot[a].eta > 0 && o->leakage.align && l.above > bar)
		{
			Leakage		g;
			raid_null_align_summary summary;
			raid_error	err2;

			raid_check_memory((double) bytes +
							  raid_null_align_memory(n_users, dim, prot[a].uc.n_classes,
													 RAID_NULL_ALIGN_GAUSSIAN),
							  "auditing the defended embeddings");
			if (aligned == NULL)
				aligned = palloc_extended(Max(bytes, 1), MCXT_ALLOC_HUGE);
			memcpy(aligned, U, bytes);
			raid_error_clear(&err2);
			if (raid_null_align(aligned, n_users, dim, prot[a].uc.user_class, prot[a].uc.n_classes,
								o->mf.seed, RAID_NULL_ALIGN_GAUSSIAN, &summary, &err2) != RAID_OK)
				raid_report_error(&err2, "aligning the defended embeddings");
			g = internal_leakage(aligned, user_ids, &prot[a].uc, n_users, o->mf.dim, o,
								 CHECKPOINT_USERS, 0);
			after_step = true;
			step_above = g.measured ? g.above : l.above;
			step_attacker = g.measured ? g.above_attacker : l.above_attacker;
		}

		/*
		 * Leakage counts beyond the bar, the target plus what the same
		 * attackers find on shuffled labels.  Both the leakage and the floor are single
		 * noisy draws (on random labels the strongest of three attackers on
		 * 943 users is often 0.02 to 0.05 from chance), and a pull started
		 * on noise aligns classes that do not differ, which leaves them
		 * separable the other way (random labels, seed 1: gate at 0.034 over
		 * a floor of 0.02, then kNN 0.08 below chance).  Below the bar the
		 * final step still removes what is there.
		 */
		if (gate)
			eta = l.above > bar ? prot[a].base_eta : 0;
		else if (eta == 0)
			eta = l.above > bar ? prot[a].base_eta : 0;
		else if (l.above > bar && step_above > bar)
			eta = Min(eta * 2.0, 4.0 * prot[a].base_eta);
		else if (l.deviation < -bar)
			eta = Max(eta / 2.0, prot[a].base_eta / 8.0);
		appendStringInfo(&log->checkpoints, "%s{\"epoch\": %d, \"attribute\": ",
						 log->n_checkpoints ? ", " : "", epoch);
		escape_json(&log->checkpoints, prot[a].column);
		if (after_step)
			appendStringInfo(&log->checkpoints, ", \"above_after_step\": %.6f, \"above_after_step_attacker\": \"%s\"",
							 step_above, raid_attacker_name(step_attacker));
		appendStringInfo(&log->checkpoints, ", \"leakage\": %.6f, \"deviation\": %.6f, "
						 "\"attacker\": \"%s\", \"above\": %.6f, \"above_attacker\": \"%s\", "
						 "\"noise_floor\": %.6f, \"eta\": %.6g, \"next_eta\": %.6g}",
						 l.leakage, l.deviation, raid_attacker_name(l.attacker), l.above,
						 raid_attacker_name(l.above_attacker), l.noise_floor, prot[a].eta, eta);
		log->n_checkpoints++;
		if (eta != prot[a].eta)
		{
			raid_error_clear(&err);
			if (raid_mf_set_defense_eta(tr, a, eta, &err) != RAID_OK)
				raid_report_error(&err, "adapting the defense");
		}
		if (raid_verbose)
			ereport(NOTICE,
					(errmsg("epoch %d: leakage of \"%s\" %.3f (%s), eta %.4g -> %.4g%s", epoch,
							prot[a].column, l.leakage, raid_attacker_name(l.attacker), prot[a].eta,
							eta, eta == 0 ? " (pull paused)" : "")));
		prot[a].eta = eta;
	}
	if (aligned != NULL)
		pfree(aligned);
}

/* Appends an attribute's classes and their user counts. */
static void
append_classes(StringInfo s, const UserClasses *uc)
{
	appendStringInfoString(s, "\"classes\": [");
	for (int c = 0; c < uc->n_classes; c++)
	{
		if (c)
			appendStringInfoString(s, ", ");
		escape_json(s, uc->names[c]);
	}
	appendStringInfoString(s, "], \"class_users\": [");
	for (int c = 0; c < uc->n_classes; c++)
		appendStringInfo(s, "%s" INT64_FORMAT, c ? ", " : "", uc->counts[c]);
	appendStringInfo(s, "], \"users_without_attribute\": " INT64_FORMAT, uc->without);
}

/* Appends a final leakage's fields (after a key of the object they go in). */
static void
append_leakage(StringInfo s, const Leakage *l)
{
	appendStringInfo(s, ", \"leakage\": %.6f, \"deviation\": %.6f, \"strongest_attacker\": \"%s\", "
					 "\"noise_floor\": %.6f",
					 l->leakage, l->deviation, raid_attacker_name(l->attacker), l->noise_floor);
}

/*
 * Appends the defense's summary to the metrics JSON: with one attribute its
 * classes and its defense's figures at the top level, as before several
 * were possible; with several, the counters summed over the attributes, and
 * per attribute its classes, figures and leakage in "attributes".  The
 * target's figures at the top level are those of the attribute furthest
 * beyond its bar.
 */
static void
append_defense_metrics(StringInfo s, raid_trainer *tr, const Protected *prot, int n_prot,
					   const RaidTrainOptions *o, const TargetLog *log, double target_seconds)
{
	raid_defense_summary d[RAID_MAX_ATTRIBUTES];
	raid_defense_summary t;
	raid_error	err;
	int			worst = worst_attribute(o, prot, n_prot);

	for (int a = 0; a < n_prot; a++)
		if (raid_mf_get_defense_summary(tr, a, &d[a], &err) != RAID_OK)
			raid_report_error(&err, "reading the defense summary");
	t = d[0];
	for (int a = 1; a < n_prot; a++)
	{
		t.recomputations += d[a].recomputations;
		t.sinkhorn_calls += d[a].sinkhorn_calls;
		t.sinkhorn_iterations += d[a].sinkhorn_iterations;
		t.sinkhorn_converged += d[a].sinkhorn_converged;
		t.max_marginal_error = Max(t.max_marginal_error, d[a].max_marginal_error);
		t.ot_seconds += d[a].ot_seconds;
		t.defense_loss += d[a].defense_loss;
	}
	appendStringInfoString(s, ", \"defense\": {");
	if (n_prot == 1)
	{
		append_classes(s, &prot[0].uc);
		appendStringInfo(s, ", \"pulled_users\": " INT64_FORMAT ", ", t.pulled_users);
	}
	appendStringInfo(s, "\"recomputations\": " INT64_FORMAT
					 ", \"sinkhorn_calls\": " INT64_FORMAT ", \"sinkhorn_iterations\": " INT64_FORMAT
					 ", \"sinkhorn_converged\": " INT64_FORMAT ", \"max_marginal_error\": %.6g"
					 ", \"ot_seconds\": %.4f, \"phase1_seconds\": %.4f, \"phase2_seconds\": %.4f"
					 ", \"phase1_epoch_seconds\": %.4f, \"phase2_epoch_seconds\": %.4f"
					 ", \"defense_loss\": %.6g",
					 t.recomputations, t.sinkhorn_calls, t.sinkhorn_iterations, t.sinkhorn_converged,
					 t.max_marginal_error, t.ot_seconds, t.phase1_seconds, t.phase2_seconds,
					 t.phase1_epoch_seconds, t.phase2_epoch_seconds, t.defense_loss);
	if (n_prot == 1)
		appendStringInfo(s, ", \"class_distance_before\": %.6g, \"class_distance_after\": %.6g"
						 ", \"spread_before\": %.6g, \"spread_after\": %.6g, \"eta_final\": %.6g",
						 t.class_distance_before, t.class_distance_after, t.spread_before,
						 t.spread_after, prot[0].eta);
	appendStringInfo(s, ", \"target\": %.6g, \"adapt\": %s, \"checkpoints\": [%s]",
					 o->leakage.target, o->leakage.adapt ? "true" : "false",
					 log->checkpoints.data ? log->checkpoints.data : "");
	if (log->kept != NULL)
	{
		appendStringInfo(s, ", \"final_step\": {\"kept\": \"%s\", \"shift\": %.6g, "
						 "\"seconds\": %.4f, \"classes\": %d, \"leakage\": {",
						 log->kept, log->kept_shift, log->step_seconds, log->step_classes);
		for (int i = 0; i < log->n_candidates; i++)
			appendStringInfo(s, "%s\"%s\": %.6f", i ? ", " : "", final_step_name[i], log->worst[i]);
		appendStringInfoString(s, "}");
		if (n_prot == 1)
			appendStringInfo(s, ", \"noise_floor\": %.6f", prot[0].candidate[0].noise_floor);
		appendStringInfoString(s, "}");
	}
	if (n_prot > 1)
	{
		appendStringInfoString(s, ", \"attributes\": [");
		for (int a = 0; a < n_prot; a++)
		{
			appendStringInfo(s, "%s{\"attribute\": ", a ? ", " : "");
			escape_json(s, prot[a].column);
			appendStringInfoString(s, ", ");
			append_classes(s, &prot[a].uc);
			appendStringInfo(s, ", \"pulled_users\": " INT64_FORMAT ", \"recomputations\": " INT64_FORMAT
							 ", \"class_distance_before\": %.6g, \"class_distance_after\": %.6g"
							 ", \"spread_before\": %.6g, \"spread_after\": %.6g, \"eta_final\": %.6g",
							 d[a].pulled_users, d[a].recomputations, d[a].class_distance_before,
							 d[a].class_distance_after, d[a].spread_before, d[a].spread_after,
							 prot[a].eta);
			if (log->kept != NULL && prot[a].candidate[0].measured)
			{
				appendStringInfo(s, ", \"final_step_leakage\": {");
				for (int i = 0; i < log->n_candidates; i++)
					appendStringInfo(s, "%s\"%s\": %.6f", i ? ", " : "", final_step_name[i],
									 prot[a].candidate[i].leakage);
				appendStringInfoString(s, "}");
			}
			if (o->leakage.target > 0 && prot[a].final.measured)
			{
				append_leakage(s, &prot[a].final);
				appendStringInfo(s, ", \"target_met\": %s", target_met(o, &prot[a].final) ? "true" : "false");
			}
			appendStringInfoString(s, "}");
		}
		appendStringInfoString(s, "]");
	}
	if (o->leakage.target > 0 && worst >= 0)
	{
		appendStringInfoString(s, ", \"attribute\": ");
		escape_json(s, prot[worst].column);
		append_leakage(s, &prot[worst].final);
		appendStringInfo(s, ", \"target_met\": %s, \"target_seconds\": %.4f}",
						 all_targets_met(o, prot, n_prot) ? "true" : "false", target_seconds);
	}
	else
		appendStringInfo(s, ", \"target_met\": null}");
}

/* Runs every epoch, checking for interrupts between chunks. */
/* phase1_epochs < 0: no defense, so no phases to report. */
static void
run_training(raid_trainer *tr, int phase1_epochs, StringInfo epochs_json,
			 const int64 *user_ids, Protected *prot, int n_prot, int64 n_users,
			 const RaidTrainOptions *o, TargetLog *log)
{
	raid_progress p;
	raid_error	err;
	int			done = 0;
	bool		first = true;

	appendStringInfoChar(epochs_json, '[');
	while (!done)
	{
		CHECK_FOR_INTERRUPTS();
		raid_error_clear(&err);
		if (raid_mf_step(tr, &p, &done, &err) != RAID_OK)
			raid_report_error(&err, "training the model");
		raid_report_progress(p.fraction, p.epoch,
							 phase1_epochs < 0 ? "training" :
							 p.epoch < phase1_epochs ? "training: phase I" : "training: phase II");
		if (p.epoch_finished)
		{
			appendStringInfo(epochs_json, "%s{\"epoch\": %d, \"loss\": %.6g, \"seconds\": %.4f}",
							 first ? "" : ", ", p.epoch, p.loss, p.epoch_seconds);
			first = false;
			if (raid_verbose)
				ereport(NOTICE,
						(errmsg("epoch %d/%d%s: loss %.4f", p.epoch, p.epochs,
								phase1_epochs < 0 ? "" : p.epoch <= phase1_epochs ? " (phase I)" : " (phase II)",
								p.loss),
						 errdetail("The epoch took %.2f s.", p.epoch_seconds)));
			/*
			 * checkpoints: the end of Phase I, then the starts of the other
			 * checkpoints parts of Phase II
			 */
			if (o != NULL && o->leakage.adapt && o->leakage.target > 0 && p.epoch >= phase1_epochs && p.epoch < p.epochs)
			{
				int			phase2 = p.epochs - phase1_epochs;

				for (int k = 0; k < o->leakage.checkpoints; k++)
					if (p.epoch == phase1_epochs + (int) ((int64) k * phase2 / o->leakage.checkpoints))
					{
						adapt_at_checkpoint(tr, user_ids, prot, n_prot, n_users, o, p.epoch, log);
						break;
					}
			}
		}
	}
	appendStringInfoChar(epochs_json, ']');
}

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
static void
store_embeddings(const char *table, const char *idcol, int64 model_id,
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
static void
store_user_items(int64 model_id, const raid_dataset *ds, int64 n_users)
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

/* Appends a metric that may be missing (NULL in SQL, null in JSON). */
static void
append_metric(StringInfo s, const char *key, double value, bool present)
{
	if (present)
		appendStringInfo(s, ", \"%s\": %.6f", key, value);
	else
		appendStringInfo(s, ", \"%s\": null", key);
}

/* Inserts the models row and returns its model_id. */
static int64
insert_model_row(const TrainArgs *a, const raid_dataset_info *info,
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
static void
delete_model(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};

	if (SPI_execute_with_args("DELETE FROM raid.models WHERE model_id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the earlier model");
}

/* Records the store time once it is known. */
static void
update_store_seconds(int64 model_id, double seconds)
{
	Oid			types[2] = {INT8OID, FLOAT8OID};
	Datum		values[2] = {Int64GetDatum(model_id), Float8GetDatum(seconds)};

	if (SPI_execute_with_args("UPDATE raid.models SET metrics = metrics || "
							  "jsonb_build_object('store_seconds', round($2::numeric, 4)) "
							  "WHERE model_id = $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the model's metrics");
}

Datum
raid_train(PG_FUNCTION_ARGS)
{
	TrainArgs	a;
	TupleDesc	tupdesc;
	RaidCoreHandles *h;
	raid_error	err;
	raid_dataset_info info;
	raid_eval_result ev = {0},
				pop = {0};
	bool		have_eval = false;
	int64		skipped;
	int64		loaded = 0;
	int64		existing;
	int64		model_id;
	TrainTimes	t = {0};
	Protected  *prot = NULL;
	int			n_prot = 0;
	TargetLog	target_log = {0};
	RaidUserSwitch sw;
	instr_time	start,
				stage;
	StringInfoData epochs_json;
	StringInfoData metrics;
	Datum		values[11];
	bool		nulls[11] = {0};

	INSTR_TIME_SET_CURRENT(start);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "raid.train must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);

	parse_args(fcinfo, &a);
	/* one training (or drop) of a name at a time, decided now, not at the store */
	if (!raid_lock_model(GetUserId(), a.model, true, true))
		raid_model_busy_error(a.model);
	h = raid_core_handles_create();

	SPI_connect();

	existing = find_model(a.model);
	if (existing != 0 && !a.opts.train.replace)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already exists", a.model),
				 errhint("Pass options => '{\"replace\": true}' to replace it, or drop it with raid.drop_model().")));

	/* load */
	INSTR_TIME_SET_CURRENT(stage);
	raid_error_clear(&err);
	h->dataset = raid_dataset_create(&err);
	if (h->dataset == NULL)
		raid_report_error(&err, "creating the dataset");
	skipped = load_interactions(&a, h->dataset, &loaded);
	t.load = raid_elapsed_seconds(stage);

	/* build: remap, collapse, split */
	INSTR_TIME_SET_CURRENT(stage);
	if (loaded == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("table %s has no interactions to train on",
						raid_qualified_relname(a.interactions)),
				 skipped > 0 ? errdetail("All " INT64_FORMAT " rows have a NULL user or item id.", skipped) : 0));
	if (skipped > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " rows with a NULL user or item id", skipped)));
	if (raid_dataset_finalize(h->dataset, a.opts.train.holdout ? 1 : 0, a.opts.mf.seed, &err) != RAID_OK ||
		raid_dataset_get_info(h->dataset, &info, &err) != RAID_OK)
		raid_report_error(&err, "building the dataset");
	t.build = raid_elapsed_seconds(stage);

	/* train */
	INSTR_TIME_SET_CURRENT(stage);
	h->trainer = raid_mf_create(h->dataset, &a.opts.mf, &err);
	if (h->trainer == NULL)
		raid_report_error(&err, "creating the trainer");
	if (a.raid_defense)
	{
		/*
		 * eta is the strength of the whole pull: each of A attributes pulls
		 * at eta / sqrt(A), so that pulls in unrelated directions add up to
		 * one attribute's.  At eta / 1 each, gender and age groups on
		 * MovieLens 100K both ended below chance (age: logistic 0.059 below)
		 * and NDCG@10 lost 9% before the final step (BENCHMARKS.md, "Several
		 * attributes").
		 */
		raid_defense_options each = a.opts.defense;

		n_prot = a.n_attributes;
		each.eta = a.opts.defense.eta / sqrt((double) n_prot);
		/* per attribute: its labelled users while reading (16 bytes each), its classes (4) */
		raid_check_memory((double) n_prot * (sizeof(LabelledUser) + sizeof(int32)) * Max(info.n_users, 1),
						  "reading the protected attributes");
		prot = palloc0(sizeof(Protected) * n_prot);
		for (int i = 0; i < n_prot; i++)
		{
			prot[i].column = a.attribute_cols[i];
			prot[i].base_eta = prot[i].eta = each.eta;
			load_user_classes(&a, prot[i].column, h->dataset, info.n_users, &prot[i].uc);
			if (raid_mf_set_defense(h->trainer, prot[i].uc.user_class, prot[i].uc.n_classes,
									&each, &err) != RAID_OK)
				raid_report_error(&err, "setting up the defense");
		}
	}
	initStringInfo(&epochs_json);
	initStringInfo(&target_log.checkpoints);
	run_training(h->trainer, a.raid_defense ? a.opts.defense.phase1_epochs : -1, &epochs_json,
				 raid_dataset_user_ids(h->dataset), prot, n_prot, info.n_users,
				 a.raid_defense ? &a.opts : NULL, &target_log);
	t.train = raid_elapsed_seconds(stage);

	/* the leakage target: the final step, then audit with the noise floor */
	if (a.raid_defense && a.opts.leakage.target > 0)
	{
		INSTR_TIME_SET_CURRENT(stage);
		if (a.opts.leakage.align)
			final_step(h->trainer, raid_dataset_user_ids(h->dataset), prot, n_prot, info.n_users,
					   &a.opts, &target_log);
		/*
		 * Kept as trained, the final step's first audit (same users, folds
		 * and shuffles) is the final audit; an aligned copy is audited again
		 * with its own noise floor.
		 */
		for (int i = 0; i < n_prot; i++)
			prot[i].final = target_log.kept == final_step_name[0] ? prot[i].candidate[0] :
				internal_leakage(raid_mf_user_embeddings(h->trainer), raid_dataset_user_ids(h->dataset),
								 &prot[i].uc, info.n_users, a.opts.mf.dim, &a.opts, FINAL_USERS, NULL_RUNS);
		t.target = raid_elapsed_seconds(stage);
	}

	/* evaluate */
	INSTR_TIME_SET_CURRENT(stage);
	if (a.opts.train.holdout && info.n_heldout > 0)
	{
		if (raid_evaluate(h->dataset, raid_mf_user_embeddings(h->trainer),
						  raid_mf_item_embeddings(h->trainer), a.opts.mf.dim,
						  a.opts.mf.threads, &ev, &err) != RAID_OK ||
			raid_evaluate_popularity(h->dataset, a.opts.mf.threads, &pop, &err) != RAID_OK)
			raid_report_error(&err, "evaluating the model");
		have_eval = true;
	}
	t.evaluate = raid_elapsed_seconds(stage);
	CHECK_FOR_INTERRUPTS();

	/* store: replace the earlier model in this same transaction */
	INSTR_TIME_SET_CURRENT(stage);
	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"load_seconds\": %.4f, \"build_seconds\": %.4f, "
					 "\"train_seconds\": %.4f, \"evaluate_seconds\": %.4f, "
					 "\"threads\": %d, \"skipped_null_ids\": " INT64_FORMAT ", "
					 "\"duplicates\": " INT64_FORMAT ", \"heldout_users\": " INT64_FORMAT,
					 t.load, t.build, t.train, t.evaluate, a.opts.mf.threads, skipped,
					 info.n_pairs - info.n_interactions, info.n_heldout);
	append_metric(&metrics, "ndcg_at_10", ev.ndcg_at_10, have_eval);
	append_metric(&metrics, "hr_at_10", ev.hr_at_10, have_eval);
	append_metric(&metrics, "popularity_ndcg_at_10", pop.ndcg_at_10, have_eval);
	append_metric(&metrics, "popularity_hr_at_10", pop.hr_at_10, have_eval);
	if (a.raid_defense)
		append_defense_metrics(&metrics, h->trainer, prot, n_prot, &a.opts, &target_log, t.target);
	appendStringInfo(&metrics, ", \"epochs\": %s}", epochs_json.data);

	raid_become_owner(&sw);
	if (existing != 0)
		delete_model(existing);
	model_id = insert_model_row(&a, &info, metrics.data, sw.caller);
	store_embeddings("user_embeddings", "user_id", model_id,
					 raid_dataset_user_ids(h->dataset),
					 raid_mf_user_embeddings(h->trainer), info.n_users, a.opts.mf.dim);
	store_embeddings("item_embeddings", "item_id", model_id,
					 raid_dataset_item_ids(h->dataset),
					 raid_mf_item_embeddings(h->trainer), info.n_items, a.opts.mf.dim);
	store_user_items(model_id, h->dataset, info.n_users);
	t.store = raid_elapsed_seconds(stage);
	update_store_seconds(model_id, t.store);
	raid_restore_user(&sw);

	raid_core_handles_release(h);
	SPI_finish();

	/* one WARNING per attribute that misses the target */
	for (int i = 0; a.raid_defense && a.opts.leakage.target > 0 && i < n_prot; i++)
	{
		const Leakage *l = &prot[i].final;

		if (!l->measured || target_met(&a.opts, l))
			continue;
		ereport(WARNING,
				(errmsg("model \"%s\" misses its leakage target: attacker %s is %.3f from chance on \"%s\", the target is %.3g",
						a.model, raid_attacker_name(l->attacker), l->leakage, prot[i].column, a.opts.leakage.target),
				 errdetail("The model is stored with metrics.defense.target_met = false.  On shuffled labels the same attackers reach %.3f (the noise floor, which the leakage must not exceed either).",
						   l->noise_floor),
				 a.opts.leakage.adapt && a.opts.leakage.align ?
				 errhint("The pull ended at eta %.4g (0: paused, no leakage at the end of Phase I); a larger eta or more epochs may help.  Audit the model with raid.audit() before relying on it.",
						 prot[i].eta) :
				 errhint("Set the options \"adapt\" and \"align\" to true (their defaults), or change eta.  Audit the model with raid.audit() before relying on it.")));
	}

	values[0] = CStringGetTextDatum(a.model);
	values[1] = Int64GetDatum(model_id);
	values[2] = Int64GetDatum(info.n_users);
	values[3] = Int64GetDatum(info.n_items);
	values[4] = Int64GetDatum(info.n_interactions);
	values[5] = Int64GetDatum(skipped);
	values[6] = Float8GetDatum(raid_elapsed_seconds(start));
	values[7] = Float8GetDatum(ev.ndcg_at_10);
	values[8] = Float8GetDatum(ev.hr_at_10);
	values[9] = Float8GetDatum(pop.ndcg_at_10);
	values[10] = Float8GetDatum(pop.hr_at_10);
	nulls[7] = nulls[8] = nulls[9] = nulls[10] = !have_eval;

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

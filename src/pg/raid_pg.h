/*
 * raid_pg.h: shared declarations of the PostgreSQL glue.
 *
 * The glue is the only code that includes PostgreSQL headers.  It reaches the
 * C++ core through src/capi/raid_capi.h only, never calls PostgreSQL inside
 * the core's parallel regions (the core runs them, the glue only sees plain
 * return codes), and raises errors only once core calls have returned.
 */
#ifndef RAID_PG_H
#define RAID_PG_H

#include "postgres.h"

#include "fmgr.h"

#include "access/attnum.h"
#include "raid_capi.h"
#include "portability/instr_time.h"
#include "utils/jsonb.h"

/* GUCs */
extern int	raid_max_threads;
extern int	raid_max_memory;		/* MB, 0 = no limit */
extern int	raid_ef_search;			/* raid.ef_search */
#define RAID_DEFAULT_EF_SEARCH 200
extern int	raid_item_cache_mb;		/* raid.item_cache */
#define RAID_DEFAULT_ITEM_CACHE_MB 512

/*
 * Raises 53200 unless `bytes` fit in raid.max_memory; for the glue's own
 * buffers (the core checks its own).
 */
extern void raid_check_memory(double bytes, const char *what);
extern bool raid_progress_notices;
extern bool raid_verbose;

/* whether per-epoch NOTICEs are on (raid.progress_notices or its old name) */
static inline bool
raid_notices_on(void)
{
	return raid_progress_notices || raid_verbose;
}

/*
 * An attribute's classes (classes.c): its distinct values as text in byte
 * order, numbered from 0; at most RAID_MAX_CLASSES of them.
 */
#define RAID_MAX_CLASSES 100
typedef struct RaidClasses
{
	int			n_classes;
	char	  **names;			/* sorted */
	int64	   *counts;			/* labels per class */
} RaidClasses;

/*
 * Maps n labels to their classes: out_class[i] is labels[i]'s class index.
 * More than RAID_MAX_CLASSES distinct values is an error (22023) naming the
 * attribute.
 */
extern void raid_map_classes(char **labels, int64 n, const char *attribute, int32 *out_class,
							 RaidClasses *out);

/*
 * JSON built with PostgreSQL's jsonb API (json_build.c): objects and arrays
 * opened and closed in order; key is the member's name inside an object and
 * NULL inside an array (or for the outermost value).  A number that is not
 * finite is stored as null with a WARNING naming it and what is built.
 */
#define RAID_JSON_DEPTH 16
typedef struct RaidJson
{
	JsonbParseState *state;
	JsonbValue *result;
	int			depth;
	bool		in_array[RAID_JSON_DEPTH];
	const char *keys[RAID_JSON_DEPTH];
	const char *what;			/* for WARNINGs, e.g. "model \"m\"" */
} RaidJson;

extern void raid_json_init(RaidJson *j, const char *what);
extern void raid_json_object_begin(RaidJson *j, const char *key);
extern void raid_json_object_end(RaidJson *j);
extern void raid_json_array_begin(RaidJson *j, const char *key);
extern void raid_json_array_end(RaidJson *j);
/* format: a printf format for one double, e.g. "%.6f" or "%.6g" */
extern void raid_json_number(RaidJson *j, const char *key, double v, const char *format);
extern void raid_json_int(RaidJson *j, const char *key, int64 v);
extern void raid_json_bool(RaidJson *j, const char *key, bool v);
extern void raid_json_string(RaidJson *j, const char *key, const char *v);	/* NULL: null */
extern void raid_json_null(RaidJson *j, const char *key);
extern void raid_json_jsonb(RaidJson *j, const char *key, Jsonb *v);
extern Jsonb *raid_json_finish(RaidJson *j);
extern char *raid_json_finish_text(RaidJson *j);
extern char *raid_debug_nonfinite_metric;

/*
 * Progress of the running operation (training or audit): fraction done in
 * 0..1, the epoch (0 if not applicable) and a short phase name.  Called
 * between chunks of work, never inside the core.  A hook (set by background
 * jobs) publishes it; without one it shows in this backend's
 * pg_stat_activity.query, until raid_progress_done().
 */
typedef void (*raid_progress_hook_type) (double fraction, int epoch, const char *phase);
extern raid_progress_hook_type raid_progress_hook;
extern void raid_report_progress(double fraction, int epoch, const char *phase);
extern void raid_progress_done(void);

/* ------------------------------------------------------------------------
 * Background jobs (jobs.c)
 * ------------------------------------------------------------------------ */

/* Jobs that may run at once, at most (bounds raid.max_workers). */
#define RAID_JOB_SLOTS 32

extern int	raid_max_workers;		/* raid.max_workers (PGC_SIGHUP) */
extern char *raid_database_name;	/* raid.database_name (PGC_POSTMASTER) */

/*
 * Under shared_preload_libraries only: requests the shared memory of the job
 * slots and registers the launcher.  Starts no thread.
 */
extern void raid_jobs_preload_init(void);

/* Each module defines its own settings, from _PG_init. */
extern void raid_jobs_define_settings(void);
extern void raid_json_define_settings(void);

/* Raises the error a core call reported, prefixed by what was being done. */
extern void raid_report_error(const raid_error *err, const char *doing) pg_attribute_noreturn();

/* Threads to pass to the core for a requested count (0 = default). */
extern int	raid_effective_threads(int requested);

/*
 * Core objects are freed by a reset callback of the current memory context,
 * so an ERROR (or a cancel) anywhere after creation still frees them.
 */
typedef struct RaidCoreHandles
{
	raid_dataset *dataset;
	raid_trainer *trainer;
	raid_synthetic *synthetic;
	raid_audit *audit;
} RaidCoreHandles;

extern RaidCoreHandles *raid_core_handles_create(void);
extern void raid_core_handles_release(RaidCoreHandles *h);

/* "schema"."table" of a relation, quoted for SQL. */
extern char *raid_qualified_relname(Oid relid);

/*
 * Checks that a column exists in a relation and returns its type; raises
 * 42703 naming both when it does not.
 */
extern Oid	raid_column_type(Oid relid, const char *colname, AttrNumber *attnum);

/*
 * Splits attribute_col, one column or a comma-separated list of them
 * ("gender, age_group"), into its column names: spaces around each name are
 * dropped, the names are otherwise taken exactly (case kept, no quoting), as
 * a single name always was.  Raises 22023 for an empty name, a name given
 * twice or more than RAID_MAX_ATTRIBUTES names; checks that each column
 * exists in relid (42703).  Returns the count.
 */
extern int	raid_split_attribute_cols(const char *list, Oid relid, char ***cols);

/* Raises 22004 naming the argument when argument argno is NULL. */
extern void raid_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);

/* Raises 42703 / 42804 unless the column exists and has an integer type. */
extern void raid_check_integer_column(Oid relid, const char *col);

/*
 * Inside SPI: selects `columns` of the current role's model of that name into
 * SPI_tuptable->vals[0].  Returns false if there is none and missing_ok,
 * else raises 42704.
 */
extern bool raid_select_model(const char *name, const char *columns, bool missing_ok);

/* ------------------------------------------------------------------------
 * Who writes raid's tables (raid.c)
 *
 * Roles may only read raid's tables (SELECT, row-level security).  raid's
 * functions check the caller, then write as the tables' owner (the
 * extension's owner) with raid_become_owner() / raid_restore_user(); an
 * ERROR restores the caller's identity when the (sub)transaction aborts.
 * Everything run as the owner filters rows by the caller's OID explicitly
 * (the owner bypasses row-level security).
 * ------------------------------------------------------------------------ */

typedef struct RaidUserSwitch
{
	Oid			caller;			/* GetUserId() before the switch */
	int			sec_context;
} RaidUserSwitch;

extern Oid	raid_tables_owner(void);
extern void raid_become_owner(RaidUserSwitch *sw);
extern void raid_restore_user(const RaidUserSwitch *sw);

/*
 * The per-(owner, model name) lock, held to the end of the transaction:
 * training and dropping take it exclusively without waiting (false if another
 * session holds it), audits take it shared and wait.
 */
extern bool raid_lock_model(Oid owner, const char *name, bool exclusive, bool nowait);

/* Raises 55P03 naming the model: another session trains, drops or audits it. */
extern void raid_model_busy_error(const char *name) pg_attribute_noreturn();

/* Raises 22023/42622 unless a model name is non-empty and short enough. */
extern void raid_check_model_name(const char *name);

/*
 * serve.c: a model's HNSW index over its item embeddings (pgvector).
 * raid_vector_schema runs inside SPI: the quoted schema of the extension
 * "vector", or NULL if it is not installed in this database.
 */
extern char *raid_item_index_name(int64 model_id);
extern bool raid_item_index(int64 model_id);	/* inside SPI */
extern char *raid_item_index_expr(const char *vs, int dim);
extern char *raid_vector_schema(void);
/* Inside SPI: the caller's model's id, dimension and items (42704 if none). */
extern void raid_lookup_served_model(const char *name, int64 *model_id, int *dim, int64 *n_items);
extern void raid_serve_define_settings(void);

/* Copies a stored real[] embedding of length dim into dst (XX001 otherwise). */
extern void raid_copy_embedding(Datum d, int dim, float *dst, const char *what, int64 id);
extern int	raid_cmp_int64(const void *a, const void *b);

/* A model's items in id order, read inside SPI into cxt. */
typedef struct RaidItems
{
	int64		n;
	int64	   *ids;			/* ascending */
	float	   *emb;			/* n x dim */
} RaidItems;
extern void raid_read_items(int64 model_id, int dim, int64 n_items, RaidItems *out,
							MemoryContext cxt);
/*
 * The same, kept between calls for the last model served (read-only); read
 * into cxt for this call only when it does not fit in raid.item_cache.
 */
extern void raid_model_items(int64 model_id, int dim, int64 n_items, RaidItems *out,
							 MemoryContext cxt);

/* Longest model name in bytes (that of a PostgreSQL identifier). */
#define RAID_MAX_MODEL_NAME (NAMEDATALEN - 1)

/* jobs.c: raises 55006 while background jobs of this database run. */
extern void raid_jobs_check_drop_extension(void);

/* admin.c: installs the DROP EXTENSION guard (from _PG_init). */
extern void raid_admin_init(void);

/* Seconds between two instr_time readings. */
extern double raid_elapsed_seconds(instr_time start);

/* ------------------------------------------------------------------------
 * Options (options.c)
 * ------------------------------------------------------------------------ */

/*
 * raid.train's defenses, as bits (option sections say which they apply to).
 * 'raid' trains with the pull; the others train undefended and then change
 * the user embeddings (the post-hoc baselines, core/posthoc).
 */
typedef enum RaidDefense
{
	RAID_DEFENSE_NONE = 1,
	RAID_DEFENSE_RAID = 2,
	RAID_DEFENSE_DP = 4,
	RAID_DEFENSE_CENTER = 8,
	RAID_DEFENSE_GAUSSIAN = 16,
	RAID_DEFENSE_UNLEARN = 32,
	RAID_DEFENSE_ADVERSARIAL = 64
} RaidDefense;

/* The RaidDefense of a name; 0 if unknown. */
extern int	raid_defense_from_name(const char *name);
/* The name of a RaidDefense bit (the lowest set). */
extern const char *raid_defense_name(int defense);
/* The names of every defense, comma-separated, for hints. */
#define RAID_DEFENSE_NAMES "none, raid, dp, center, gaussian, unlearn, adversarial"

typedef struct RaidTrainOptions
{
	raid_mf_options mf;			/* RAID_MF_OPTIONS */
	raid_train_options train;	/* RAID_TRAIN_OPTIONS: replace, holdout */
	int			defense_kind;	/* the RaidDefense */
	bool		raid_defense;	/* defense => 'raid': the two groups below apply */
	raid_defense_options defense;	/* RAID_DEFENSE_OPTIONS: the pull */
	raid_target_options leakage;	/* RAID_TARGET_OPTIONS: target, adapt, ... */
	raid_dp_options dp;			/* RAID_DP_OPTIONS: defense => 'dp' */
	raid_unlearn_options unlearn;	/* RAID_UNLEARN_OPTIONS: defense => 'unlearn' */
	raid_adversarial_options adversarial;	/* RAID_ADVERSARIAL_OPTIONS */
} RaidTrainOptions;

/*
 * Parses a jsonb options object over the defaults; errors name the key.
 * A defense's own options are accepted only with that defense.
 */
extern void raid_parse_train_options(Jsonb *options, int defense,
									 RaidTrainOptions *out);

/* The options with every default filled in, as JSON text. */
extern char *raid_train_options_json(const RaidTrainOptions *opts);

typedef struct RaidAuditOptions
{
	raid_audit_options core;	/* RAID_AUDIT_OPTIONS */
	raid_audit_run_options run; /* RAID_AUDIT_RUN_OPTIONS: null_run, store_folds */
} RaidAuditOptions;

extern void raid_parse_audit_options(Jsonb *options, RaidAuditOptions *out);
extern char *raid_audit_options_json(const RaidAuditOptions *opts);

/* "mlp" / "logistic" / "knn" / "qda" <-> raid_attacker_kind; unknown names raise 22023. */
extern int32 raid_attacker_from_name(const char *name);
extern const char *raid_attacker_name(int32 kind);
extern void raid_json_attackers(RaidJson *j, const char *key, int32 set);

#endif							/* RAID_PG_H */

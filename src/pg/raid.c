/*
 * raid.c: module entry point, GUCs and helpers shared by the glue.
 */
#include "postgres.h"

#include <ctype.h>

#include <limits.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "raid_pg.h"

PG_MODULE_MAGIC;

int			raid_max_threads = 0;
int			raid_max_memory = 0;	/* MB; set in _PG_init */
bool		raid_progress_notices = false;
bool		raid_verbose = false;
raid_progress_hook_type raid_progress_hook = NULL;

void		_PG_init(void);

/*
 * The core's cancellation check: true once PostgreSQL would act on a cancel
 * or terminate request at its next CHECK_FOR_INTERRUPTS().  The core calls
 * it from any thread, inside parallel regions too: it only reads flags that
 * the signal handlers set, and calls nothing.
 */
static int
raid_interrupt_check(void)
{
	if (InterruptHoldoffCount != 0 || CritSectionCount != 0)
		return 0;
	return ProcDiePending || (QueryCancelPending && QueryCancelHoldoffCount == 0);
}

/* A quarter of the machine's memory in MB: the default memory budget. */
static int
default_max_memory(void)
{
	long		pages = sysconf(_SC_PHYS_PAGES);
	long		page_size = sysconf(_SC_PAGESIZE);
	double		mb;

	if (pages <= 0 || page_size <= 0)
		return 4096;
	mb = (double) pages * (double) page_size / 4.0 / (1024.0 * 1024.0);
	return (int) Max(Min(mb, (double) INT_MAX), 64.0);
}

static void
assign_max_memory(int newval, void *extra)
{
	raid_set_memory_limit((uint64) newval * 1024 * 1024);
}

/*
 * Defines the GUCs.  Under shared_preload_libraries this runs in the
 * postmaster: it must not start threads or touch OpenMP.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("raid.max_threads",
							"Caps the threads a raid computation may use (0 = all cores).",
							"Applies to training, evaluation and data generation; "
							"the \"threads\" option asks for fewer.",
							&raid_max_threads,
							0, 0, 1024,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("raid.max_memory",
							"Memory one raid operation may use (0 = no limit).",
							"Training, evaluation, the defense, audits and synthetic data estimate "
							"their memory before allocating it and refuse with SQLSTATE 53200 "
							"beyond this budget.  The default is a quarter of the machine's RAM.",
							&raid_max_memory,
							default_max_memory(), 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MB,
							NULL, assign_max_memory, NULL);
	raid_serve_define_settings();
	raid_set_interrupt_check(raid_interrupt_check);
	DefineCustomBoolVariable("raid.progress_notices",
							 "Reports training progress as a NOTICE per epoch.",
							 NULL,
							 &raid_progress_notices,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	/* 0.1.0's name, kept for this release: "verbose" must be quoted in SET */
	DefineCustomBoolVariable("raid.verbose",
							 "Deprecated name of raid.progress_notices (either turns the notices on).",
							 NULL,
							 &raid_verbose,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	raid_json_define_settings();
	raid_jobs_define_settings();
	MarkGUCPrefixReserved("raid");
	raid_admin_init();

	/* the launcher and its shared memory exist only under preload */
	if (process_shared_preload_libraries_in_progress)
		raid_jobs_preload_init();
}

/* what the last progress report of a synchronous call showed */
static int	sync_percent = -1;
static int	sync_epoch = -1;
static char sync_phase[64];
static double sync_fraction = 0.0;
static instr_time sync_start;

/*
 * Reports progress: to the hook when one is set (a background job), else in
 * this backend's pg_stat_activity.query, as "[raid: PHASE, epoch E, P%, about
 * S s left] QUERY", so that other sessions see how far a synchronous call
 * is.  Updates only when the percentage, the epoch or the phase change.  The
 * time left is extrapolated from the time since the fraction last restarted.
 */
void
raid_report_progress(double fraction, int epoch, const char *phase)
{
	char		activity[256];
	char		left[48] = "";
	int			percent;

	if (raid_progress_hook)
	{
		raid_progress_hook(fraction, epoch, phase);
		return;
	}
	if (!(fraction >= 0.0))
		fraction = 0.0;
	if (fraction > 1.0)
		fraction = 1.0;
	if (phase == NULL)
		phase = "";
	if (sync_percent < 0 || fraction < sync_fraction || fraction == 0.0)
		INSTR_TIME_SET_CURRENT(sync_start);
	sync_fraction = fraction;
	percent = (int) (fraction * 100.0);
	if (percent == sync_percent && epoch == sync_epoch && strcmp(phase, sync_phase) == 0)
		return;
	sync_percent = percent;
	sync_epoch = epoch;
	strlcpy(sync_phase, phase, sizeof(sync_phase));
	if (fraction >= 0.02 && fraction < 1.0)
		snprintf(left, sizeof(left), ", about %.0f s left",
				 raid_elapsed_seconds(sync_start) * (1.0 - fraction) / fraction);
	if (epoch > 0)
		snprintf(activity, sizeof(activity), "[raid: %s, epoch %d, %d%%%s] ", phase, epoch, percent, left);
	else if (fraction > 0.0)
		snprintf(activity, sizeof(activity), "[raid: %s, %d%%%s] ", phase, percent, left);
	else
		snprintf(activity, sizeof(activity), "[raid: %s] ", phase);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("%s%s", activity, debug_query_string ? debug_query_string : ""));
}

/* Ends a synchronous call's progress: pg_stat_activity shows the query again. */
void
raid_progress_done(void)
{
	if (raid_progress_hook)
		return;
	sync_percent = -1;
	sync_epoch = -1;
	sync_phase[0] = '\0';
	sync_fraction = 0.0;
	if (debug_query_string)
		pgstat_report_activity(STATE_RUNNING, debug_query_string);
}

/* Maps a core status to a SQLSTATE. */
static int
raid_errcode(raid_status code)
{
	switch (code)
	{
		case RAID_INVALID_ARGUMENT:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case RAID_DATA_ERROR:
			return ERRCODE_DATA_EXCEPTION;
		case RAID_LIMIT_EXCEEDED:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case RAID_OUT_OF_MEMORY:
			return ERRCODE_OUT_OF_MEMORY;
		case RAID_INTERRUPTED:
			return ERRCODE_QUERY_CANCELED;
		case RAID_OK:
		case RAID_INTERNAL:
			break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

void
raid_report_error(const raid_error *err, const char *doing)
{
	char		message[RAID_ERROR_MESSAGE_SIZE];

	/* copy first: the error may live in memory the callback frees */
	strlcpy(message, err->message, sizeof(message));

	if (err->code == RAID_INTERRUPTED)
		CHECK_FOR_INTERRUPTS();
	if (err->code == RAID_OUT_OF_MEMORY)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("%s", message),
				 errcontext("%s", doing),
				 raid_max_memory > 0 ?
				 errhint("The limit is raid.max_memory (%d MB), which a superuser may raise; "
						 "a smaller dim, sample or fewer threads need less.", raid_max_memory) : 0));
	if (err->code == RAID_INTERNAL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("%s failed: %s", doing, message),
				 errhint("This is a bug in raid; please report it.")));
	ereport(ERROR,
			(errcode(raid_errcode(err->code)),
			 errmsg("%s", message),
			 errcontext("%s", doing)));
}

int
raid_effective_threads(int requested)
{
	if (raid_max_threads > 0 && (requested == 0 || requested > raid_max_threads))
		return raid_max_threads;
	return requested;
}

/* Frees whatever core objects are still attached. */
void
raid_core_handles_release(RaidCoreHandles *h)
{
	if (h->trainer)
		raid_mf_free(h->trainer);
	h->trainer = NULL;
	if (h->dataset)
		raid_dataset_free(h->dataset);
	h->dataset = NULL;
	if (h->synthetic)
		raid_synthetic_free(h->synthetic);
	h->synthetic = NULL;
	if (h->audit)
		raid_audit_free(h->audit);
	h->audit = NULL;
}

static void
raid_core_handles_callback(void *arg)
{
	raid_core_handles_release((RaidCoreHandles *) arg);
}

RaidCoreHandles *
raid_core_handles_create(void)
{
	RaidCoreHandles *h = palloc0(sizeof(RaidCoreHandles));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

	cb->func = raid_core_handles_callback;
	cb->arg = h;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return h;
}

char *
raid_qualified_relname(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

Oid
raid_column_type(Oid relid, const char *colname, AttrNumber *attnum)
{
	AttrNumber	n = get_attnum(relid, colname);

	if (n == InvalidAttrNumber || n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in table %s",
						colname, raid_qualified_relname(relid))));
	if (attnum)
		*attnum = n;
	return get_atttype(relid, n);
}

int
raid_split_attribute_cols(const char *list, Oid relid, char ***cols)
{
	char	  **out = palloc(sizeof(char *) * RAID_MAX_ATTRIBUTES);
	int			n = 0;
	const char *p = list;

	for (;;)
	{
		const char *end = strchr(p, ',');
		const char *stop = end ? end : p + strlen(p);
		const char *b = p;
		const char *e = stop;

		while (b < e && isspace((unsigned char) *b))
			b++;
		while (e > b && isspace((unsigned char) e[-1]))
			e--;
		if (b == e)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("attribute_col \"%s\" has an empty column name", list),
					 errhint("Name one column, or several separated by commas: 'gender, age_group'.")));
		if (n == RAID_MAX_ATTRIBUTES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("attribute_col names more than %d columns", RAID_MAX_ATTRIBUTES)));
		out[n] = pnstrdup(b, e - b);
		for (int i = 0; i < n; i++)
			if (strcmp(out[i], out[n]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("attribute_col names column \"%s\" twice", out[n])));
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	for (int i = 0; i < n; i++)
		(void) raid_column_type(relid, out[i], NULL);
	*cols = out;
	return n;
}

void
raid_require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", name)));
}

void
raid_check_integer_column(Oid relid, const char *col)
{
	Oid			type = raid_column_type(relid, col, NULL);
	Oid			base = getBaseType(type);	/* a domain over an integer type is one */

	if (base != INT2OID && base != INT4OID && base != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table %s must be of an integer type, not %s",
						col, raid_qualified_relname(relid), format_type_be(type))));
}

bool
raid_select_model(const char *name, const char *columns, bool missing_ok)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(GetUserId())};
	char	   *sql = psprintf("SELECT %s FROM raid.models WHERE name = $1 AND owner = $2",
							   columns);

	if (SPI_execute_with_args(sql, 2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up model \"%s\"", name);
	if (SPI_processed > 0)
		return true;
	if (!missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	return false;
}

double
raid_elapsed_seconds(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

Oid
raid_tables_owner(void)
{
	Oid			nsp = get_namespace_oid("raid", false);
	Oid			relid = get_relname_relid("models", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table raid.models does not exist"),
				 errhint("Recreate the extension: DROP EXTENSION raid; CREATE EXTENSION raid.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

void
raid_become_owner(RaidUserSwitch *sw)
{
	Oid			owner = raid_tables_owner();

	GetUserIdAndSecContext(&sw->caller, &sw->sec_context);
	SetUserIdAndSecContext(owner, sw->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
raid_restore_user(const RaidUserSwitch *sw)
{
	SetUserIdAndSecContext(sw->caller, sw->sec_context);
}

/* field4 of raid's advisory lock tags, apart from pg_advisory_lock's 1 and 2 */
#define RAID_LOCK_CLASS 0x5241

bool
raid_lock_model(Oid owner, const char *name, bool exclusive, bool nowait)
{
	LOCKTAG		tag;
	uint32		h = hash_bytes((const unsigned char *) name, (int) strlen(name));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, owner, h, RAID_LOCK_CLASS);
	return LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, nowait) !=
		LOCKACQUIRE_NOT_AVAIL;
}

void
raid_model_busy_error(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("model \"%s\" is in use by another session", name),
			 errdetail("Another session is training, dropping or auditing it."),
			 errhint("Wait for that session to finish, or use another model name.")));
}

void
raid_check_model_name(const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	if (strlen(name) > RAID_MAX_MODEL_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name is too long (%zu bytes)", strlen(name)),
				 errdetail("A model name has at most %d bytes.", RAID_MAX_MODEL_NAME)));
}

void
raid_check_memory(double bytes, const char *what)
{
	if (raid_max_memory > 0 && bytes > (double) raid_max_memory * 1024.0 * 1024.0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("%s needs an estimated %.1f MB of memory, more than the limit of %d MB",
						what, bytes / (1024.0 * 1024.0), raid_max_memory),
				 errhint("The limit is raid.max_memory, which a superuser may raise.")));
}

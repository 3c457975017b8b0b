/*
 * jobs.c: background jobs (raid.submit_train, raid.submit_audit).
 *
 * Vocabulary:
 *   job       a row of raid.job_records: kind ('train' | 'audit'), args by
 *             name, owner, status; raid.jobs is a view over it with live
 *             progress.
 *   launcher  a static background worker (registered under
 *             shared_preload_libraries) connected to raid.database_name; it
 *             starts queued jobs FIFO, at most raid.max_workers at once, and
 *             marks jobs whose worker vanished as failed.
 *   worker    a dynamic background worker that runs one job connected as the
 *             job's owner, so it has exactly that role's privileges.
 *   slot      the job's entry in shared memory: worker pid, cancel flag and
 *             live progress (the worker's transaction is open while it
 *             trains, so progress cannot go through the table).
 *
 * The skeleton follows pg_cron: signal handlers before unblocking, WaitLatch
 * with postmaster-death exit, a per-loop memory context, stale `running` rows
 * marked failed at start, one transaction and one parameterised SPI
 * statement per state change.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "raid_pg.h"

/* GUCs (defined in raid.c) */
int			raid_max_workers = 2;
char	   *raid_database_name = NULL;

#define JOB_PHASE_LEN 48

typedef struct RaidJobSlot
{
	int64		job_id;			/* 0: the slot is free */
	Oid			database;
	Oid			owner;			/* the role the job runs as */
	pid_t		pid;			/* the worker, once it runs */
	bool		cancellable;	/* the work transaction is running */
	bool		cancel_requested;
	bool		has_progress;
	double		fraction;
	int			epoch;
	char		phase[JOB_PHASE_LEN];
} RaidJobSlot;

typedef struct RaidJobsShared
{
	slock_t		mutex;
	RaidJobSlot slots[RAID_JOB_SLOTS];
} RaidJobsShared;

/* What the launcher passes to a worker in bgw_extra. */
typedef struct RaidWorkerArgs
{
	int64		job_id;
	Oid			database;
	Oid			role;
	int			slot;
} RaidWorkerArgs;

/* A worker the launcher started. */
typedef struct LauncherWorker
{
	int64		job_id;
	int			slot;
	BackgroundWorkerHandle *handle;
} LauncherWorker;

static RaidJobsShared *jobs_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* worker state */
static int	my_slot = -1;
static int64 my_job_id = 0;
static int	last_percent = -1;
static int	last_epoch = -1;
static char last_phase[JOB_PHASE_LEN];

PGDLLEXPORT void raid_jobs_launcher_main(Datum arg);
PGDLLEXPORT void raid_job_worker_main(Datum arg);

PG_FUNCTION_INFO_V1(raid_job_progress);
PG_FUNCTION_INFO_V1(raid_cancel_job);
PG_FUNCTION_INFO_V1(raid_job_check_submit);
PG_FUNCTION_INFO_V1(raid_enqueue_job);

/* ------------------------------------------------------------------------
 * Shared memory
 * ------------------------------------------------------------------------ */

static void
jobs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RaidJobsShared)));
}

static void
jobs_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	jobs_shared = ShmemInitStruct("raid jobs", sizeof(RaidJobsShared), &found);
	if (!found)
	{
		memset(jobs_shared, 0, sizeof(RaidJobsShared));
		SpinLockInit(&jobs_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Takes a free slot for a job; -1 if none is free. */
static int
slot_acquire(int64 job_id, Oid database, Oid owner)
{
	int			found = -1;

	SpinLockAcquire(&jobs_shared->mutex);
	for (int i = 0; i < RAID_JOB_SLOTS; i++)
	{
		if (jobs_shared->slots[i].job_id == 0)
		{
			memset(&jobs_shared->slots[i], 0, sizeof(RaidJobSlot));
			jobs_shared->slots[i].job_id = job_id;
			jobs_shared->slots[i].database = database;
			jobs_shared->slots[i].owner = owner;
			found = i;
			break;
		}
	}
	SpinLockRelease(&jobs_shared->mutex);
	return found;
}

/* Frees a slot if it still belongs to that job. */
static void
slot_release(int slot, int64 job_id)
{
	if (slot < 0 || slot >= RAID_JOB_SLOTS)
		return;
	SpinLockAcquire(&jobs_shared->mutex);
	if (jobs_shared->slots[slot].job_id == job_id)
		memset(&jobs_shared->slots[slot], 0, sizeof(RaidJobSlot));
	SpinLockRelease(&jobs_shared->mutex);
}

/* Copies the occupied slots of this database; returns how many slots are taken. */
static int
slots_snapshot(RaidJobSlot *out, int *n_here)
{
	int			taken = 0;

	*n_here = 0;
	SpinLockAcquire(&jobs_shared->mutex);
	for (int i = 0; i < RAID_JOB_SLOTS; i++)
	{
		if (jobs_shared->slots[i].job_id == 0)
			continue;
		taken++;
		if (jobs_shared->slots[i].database == MyDatabaseId)
			out[(*n_here)++] = jobs_shared->slots[i];
	}
	SpinLockRelease(&jobs_shared->mutex);
	return taken;
}

/* ------------------------------------------------------------------------
 * Registration (from _PG_init under shared_preload_libraries)
 * ------------------------------------------------------------------------ */

void
raid_jobs_preload_init(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = jobs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = jobs_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "raid", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "raid_jobs_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "raid job launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "raid job launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* ------------------------------------------------------------------------
 * Launcher
 * ------------------------------------------------------------------------ */

static LauncherWorker launcher_workers[RAID_JOB_SLOTS];
static int	n_launcher_workers = 0;

/* An int8[] of the job ids that have a worker (slot or handle). */
static Datum
busy_job_ids(const RaidJobSlot *slots, int n_slots)
{
	Datum	   *elems = palloc(sizeof(Datum) * (n_slots + n_launcher_workers + 1));
	int			n = 0;

	for (int i = 0; i < n_slots; i++)
		elems[n++] = Int64GetDatum(slots[i].job_id);
	for (int i = 0; i < n_launcher_workers; i++)
		elems[n++] = Int64GetDatum(launcher_workers[i].job_id);
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Runs one parameterised statement of the launcher. */
static void
launcher_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "raid job launcher: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/* Marks failed the job of each worker that stopped without finishing it. */
static void
launcher_reap(void)
{
	int			kept = 0;

	for (int i = 0; i < n_launcher_workers; i++)
	{
		LauncherWorker *w = &launcher_workers[i];
		pid_t		pid;

		if (GetBackgroundWorkerPid(w->handle, &pid) != BGWH_STOPPED)
		{
			launcher_workers[kept++] = *w;
			continue;
		}
		{
			Oid			types[1] = {INT8OID};
			Datum		values[1] = {Int64GetDatum(w->job_id)};

			launcher_exec("UPDATE raid.job_records SET status = 'failed', finished_at = now(), "
						  "message = CASE status WHEN 'queued' "
						  "THEN 'the worker could not start the job (see the server log)' "
						  "ELSE 'the worker exited unexpectedly' END "
						  "WHERE job_id = $1 AND status IN ('queued', 'running')",
						  1, types, values, SPI_OK_UPDATE);
		}
		slot_release(w->slot, w->job_id);
		pfree(w->handle);
	}
	n_launcher_workers = kept;
}

/* Starts a worker for a job; false if no worker could be registered. */
static bool
launcher_start(int64 job_id, Oid role)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	RaidWorkerArgs args;
	int			slot = slot_acquire(job_id, MyDatabaseId, role);
	MemoryContext old;
	bool		ok;

	if (slot < 0)
		return false;
	args.job_id = job_id;
	args.database = MyDatabaseId;
	args.role = role;
	args.slot = slot;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "raid", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "raid_job_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "raid job " INT64_FORMAT, job_id);
	strlcpy(worker.bgw_type, "raid job worker", BGW_MAXLEN);
	worker.bgw_main_arg = Int64GetDatum(job_id);
	memcpy(worker.bgw_extra, &args, sizeof(args));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		slot_release(slot, job_id);
		return false;
	}
	launcher_workers[n_launcher_workers].job_id = job_id;
	launcher_workers[n_launcher_workers].slot = slot;
	launcher_workers[n_launcher_workers].handle = handle;
	n_launcher_workers++;
	return true;
}

/* One pass: stale rows, finished workers, queued jobs. */
static void
launcher_iteration(bool *recovered, bool *warned)
{
	RaidJobSlot slots[RAID_JOB_SLOTS];
	int			n_here;
	int			taken;
	Oid			nsp;
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		values[2];
	int64		ids[RAID_JOB_SLOTS];
	Oid			roles[RAID_JOB_SLOTS];
	char	   *problems[RAID_JOB_SLOTS];
	int			n_queued = 0;
	int			room;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "raid job launcher: checking the queue");

	/* the extension may not be created in this database (yet) */
	nsp = get_namespace_oid("raid", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("job_records", nsp)))
		goto done;

	launcher_reap();

	/*
	 * A running job without a slot has lost its worker: at start that is a
	 * server restart, later a worker that died without recording its end.
	 * (A worker records its end before it frees its slot.)
	 */
	taken = slots_snapshot(slots, &n_here);
	values[0] = busy_job_ids(slots, n_here);
	launcher_exec(*recovered ?
				  "UPDATE raid.job_records SET status = 'failed', finished_at = now(), "
				  "message = 'the worker exited unexpectedly' "
				  "WHERE status = 'running' AND NOT (job_id = ANY ($1))" :
				  "UPDATE raid.job_records SET status = 'failed', finished_at = now(), "
				  "message = 'server restarted' "
				  "WHERE status = 'running' AND NOT (job_id = ANY ($1))",
				  1, types, values, SPI_OK_UPDATE);
	if (!*recovered && SPI_processed > 0)
		elog(LOG, "raid job launcher: marked " UINT64_FORMAT " interrupted jobs as failed",
			 SPI_processed);
	*recovered = true;

	room = Min(raid_max_workers, RAID_JOB_SLOTS) - taken;
	if (room <= 0)
		goto done;

	/* the oldest queued jobs of this database, FIFO */
	values[1] = Int32GetDatum(room);
	launcher_exec("SELECT j.job_id, j.owner::oid, r.rolname::text, r.rolcanlogin, "
				  "r.oid IS NOT NULL AND pg_catalog.has_database_privilege(r.oid, d.oid, 'CONNECT') "
				  "FROM raid.job_records j "
				  "JOIN pg_catalog.pg_database d ON d.datname = pg_catalog.current_database() "
				  "LEFT JOIN pg_catalog.pg_roles r ON r.oid = j.owner::oid "
				  "WHERE j.status = 'queued' AND j.database = pg_catalog.current_database() "
				  "AND NOT (j.job_id = ANY ($1)) ORDER BY j.job_id LIMIT $2",
				  2, types, values, SPI_OK_SELECT);
	for (uint64 r = 0; r < SPI_processed && n_queued < RAID_JOB_SLOTS; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		canlogin;
		bool		canconnect;
		char	   *rolname;
		Oid			owner;

		ids[n_queued] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		rolname = SPI_getvalue(tup, desc, 3);
		canlogin = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)) && !isnull;
		canconnect = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) && !isnull;
		roles[n_queued] = owner;
		problems[n_queued] = NULL;
		/* a worker connects as the owner: that role must exist, log in and connect */
		if (rolname == NULL)
			problems[n_queued] = psprintf("28000: the role (OID %u) that submitted the job no longer exists",
										  owner);
		else if (!canlogin)
			problems[n_queued] = psprintf("28000: role \"%s\" is not permitted to log in", rolname);
		else if (!canconnect)
			problems[n_queued] = psprintf("42501: role \"%s\" has no CONNECT privilege on database \"%s\"",
										  rolname, get_database_name(MyDatabaseId));
		n_queued++;
	}

	for (int i = 0; i < n_queued; i++)
	{
		if (problems[i] != NULL)
		{
			Oid			t[2] = {INT8OID, TEXTOID};
			Datum		v[2] = {Int64GetDatum(ids[i]), CStringGetTextDatum(problems[i])};

			launcher_exec("UPDATE raid.job_records SET status = 'failed', finished_at = now(), "
						  "message = $2 WHERE job_id = $1 AND status = 'queued'",
						  2, t, v, SPI_OK_UPDATE);
			continue;
		}
		if (!launcher_start(ids[i], roles[i]))
		{
			if (!*warned)
				ereport(LOG,
						(errmsg("raid job launcher: could not start a worker for job " INT64_FORMAT, ids[i]),
						 errhint("Raise max_worker_processes; the job stays queued.")));
			*warned = true;
			break;
		}
		*warned = false;
	}

done:
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
raid_jobs_launcher_main(Datum arg)
{
	MemoryContext loop_ctx;
	bool		recovered = false;
	bool		warned = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(raid_database_name, NULL, 0);
	pgstat_report_appname("raid job launcher");
	/* job states must survive a crash even where commits are asynchronous */
	SetConfigOption("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION);
	/* it runs as the bootstrap superuser: no object of any role's may shadow its SQL */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	ereport(LOG,
			(errmsg("raid job launcher started in database \"%s\"", raid_database_name)));

	loop_ctx = AllocSetContextCreate(TopMemoryContext, "raid job launcher loop",
									 ALLOCSET_DEFAULT_SIZES);

	while (!ShutdownRequestPending)
	{
		MemoryContextReset(loop_ctx);
		MemoryContextSwitchTo(loop_ctx);

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* an error (say, the extension dropped mid-pass) must not stop the launcher */
		PG_TRY();
		{
			launcher_iteration(&recovered, &warned);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(loop_ctx);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		PG_END_TRY();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 250L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/*
	 * Exit code 1: the postmaster starts the launcher again after its restart
	 * time (unless the server is shutting down), so pg_terminate_backend on it
	 * does not stop every job until the next restart, as exit code 0 would.
	 */
	proc_exit(1);
}

/* ------------------------------------------------------------------------
 * Worker
 * ------------------------------------------------------------------------ */

/* Publishes progress in the slot, pg_stat_activity and ps. */
static void
job_progress_hook(double fraction, int epoch, const char *phase)
{
	int			percent;

	if (!(fraction >= 0.0))
		fraction = 0.0;
	if (fraction > 1.0)
		fraction = 1.0;
	if (phase == NULL)
		phase = "";
	SpinLockAcquire(&jobs_shared->mutex);
	if (jobs_shared->slots[my_slot].job_id == my_job_id)
	{
		RaidJobSlot *s = &jobs_shared->slots[my_slot];

		s->has_progress = true;
		s->fraction = fraction;
		s->epoch = epoch;
		strlcpy(s->phase, phase, JOB_PHASE_LEN);
	}
	SpinLockRelease(&jobs_shared->mutex);

	percent = (int) (fraction * 100.0);
	if (percent != last_percent || epoch != last_epoch || strncmp(phase, last_phase, JOB_PHASE_LEN - 1) != 0)
	{
		char		activity[128];

		last_percent = percent;
		last_epoch = epoch;
		strlcpy(last_phase, phase, JOB_PHASE_LEN);
		if (epoch > 0)
			snprintf(activity, sizeof(activity), "raid job " INT64_FORMAT ": %s, epoch %d, %d%%",
					 my_job_id, phase, epoch, percent);
		else
			snprintf(activity, sizeof(activity), "raid job " INT64_FORMAT ": %s, %d%%",
					 my_job_id, phase, percent);
		pgstat_report_activity(STATE_RUNNING, activity);
		set_ps_display(activity);
	}
}

static void
worker_release_slot(int code, Datum arg)
{
	slot_release(my_slot, my_job_id);
}

/* One statement in its own transaction; returns SPI_processed. */
static uint64
worker_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
			int expected, char **kind)
{
	int			rc;
	uint64		n;
	RaidUserSwitch sw;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	/* the job's role may only read raid.job_records: its state is written as the owner */
	raid_become_owner(&sw);
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "raid job worker: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
	n = SPI_processed;
	if (kind && n > 0)
		*kind = MemoryContextStrdup(TopMemoryContext,
									SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	raid_restore_user(&sw);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return n;
}

static const char *const train_sql =
"SELECT row_to_json(t)::text FROM raid.job_records j, LATERAL raid.train("
"j.args->>'model', (j.args->>'interactions')::regclass, (j.args->>'user_col')::name, "
"(j.args->>'item_col')::name, (j.args->>'attributes')::regclass, "
"(j.args->>'attribute_col')::text, j.args->>'defense', "
"NULLIF(j.args->'options', 'null'::jsonb)) t WHERE j.job_id = $1";

static const char *const audit_sql =
"SELECT COALESCE(json_agg(a), '[]')::text FROM raid.job_records j, LATERAL raid.audit("
"j.args->>'model', (j.args->>'attributes')::regclass, (j.args->>'attribute_col')::text, "
"NULLIF(j.args->'options', 'null'::jsonb)) a WHERE j.job_id = $1";

void
raid_job_worker_main(Datum arg)
{
	RaidWorkerArgs args;
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID, INT4OID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	char	   *kind = NULL;
	char	   *volatile result = NULL;
	ErrorData  *volatile edata = NULL;
	bool		cancelled;
	const char *status;
	char	   *volatile message = NULL;
	RaidJobSlot slot;
	char		activity[64];

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	my_slot = args.slot;
	my_job_id = args.job_id;

	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, StatementCancelHandler);
	BackgroundWorkerUnblockSignals();

	if (jobs_shared == NULL || my_slot < 0 || my_slot >= RAID_JOB_SLOTS)
		proc_exit(0);
	SpinLockAcquire(&jobs_shared->mutex);
	if (jobs_shared->slots[my_slot].job_id == my_job_id)
		jobs_shared->slots[my_slot].pid = MyProcPid;
	else
		my_slot = -1;
	SpinLockRelease(&jobs_shared->mutex);
	if (my_slot < 0)
		proc_exit(0);
	before_shmem_exit(worker_release_slot, (Datum) 0);

	/* as the submitting role: its privileges, its results */
	BackgroundWorkerInitializeConnectionByOid(args.database, args.role, 0);
	snprintf(activity, sizeof(activity), "raid job " INT64_FORMAT, my_job_id);
	SetConfigOption("application_name", activity, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname(activity);
	SetConfigOption("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);

	/* a cancel takes effect only while the work runs */
	HOLD_CANCEL_INTERRUPTS();

	values[0] = Int64GetDatum(my_job_id);
	values[1] = Int32GetDatum(MyProcPid);
	{
		Oid			t[2] = {INT8OID, INT4OID};

		if (worker_exec("UPDATE raid.job_records SET status = 'running', started_at = now(), "
						"worker_pid = $2, progress = 0 "
						"WHERE job_id = $1 AND status = 'queued' RETURNING kind",
						2, t, values, NULL, SPI_OK_UPDATE_RETURNING, &kind) != 1)
			proc_exit(0);		/* cancelled (or taken) meanwhile */
	}

	PG_TRY();
	{
		Oid			t[1] = {INT8OID};
		int			rc;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		snprintf(activity, sizeof(activity), "raid job " INT64_FORMAT ": %s", my_job_id, kind);
		pgstat_report_activity(STATE_RUNNING, activity);

		SpinLockAcquire(&jobs_shared->mutex);
		jobs_shared->slots[my_slot].cancellable = true;
		if (jobs_shared->slots[my_slot].cancel_requested)
		{
			QueryCancelPending = true;
			InterruptPending = true;
		}
		SpinLockRelease(&jobs_shared->mutex);
		RESUME_CANCEL_INTERRUPTS();

		raid_progress_hook = job_progress_hook;
		rc = SPI_execute_with_args(strcmp(kind, "audit") == 0 ? audit_sql : train_sql,
								   1, t, values, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "raid job worker: running the job failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("job " INT64_FORMAT " disappeared", my_job_id)));
		result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (result)
			result = MemoryContextStrdup(TopMemoryContext, result);
		raid_progress_hook = NULL;

		HOLD_CANCEL_INTERRUPTS();
		SpinLockAcquire(&jobs_shared->mutex);
		jobs_shared->slots[my_slot].cancellable = false;
		SpinLockRelease(&jobs_shared->mutex);

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		raid_progress_hook = NULL;
		MemoryContextSwitchTo(TopMemoryContext);
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		QueryCancelHoldoffCount = 0;
		HOLD_CANCEL_INTERRUPTS();
		SpinLockAcquire(&jobs_shared->mutex);
		jobs_shared->slots[my_slot].cancellable = false;
		SpinLockRelease(&jobs_shared->mutex);
	}
	PG_END_TRY();
	QueryCancelPending = false;

	SpinLockAcquire(&jobs_shared->mutex);
	slot = jobs_shared->slots[my_slot];
	SpinLockRelease(&jobs_shared->mutex);

	cancelled = edata != NULL && slot.cancel_requested &&
		edata->sqlerrcode == ERRCODE_QUERY_CANCELED;
	if (edata == NULL)
		status = "succeeded";
	else if (cancelled)
	{
		status = "cancelled";
		message = "cancelled by raid.cancel_job()";
	}
	else
	{
		status = "failed";
		message = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode),
						   edata->message ? edata->message : "unknown error");
	}

	values[1] = CStringGetTextDatum(status);
	values[2] = message ? CStringGetTextDatum(message) : (Datum) 0;
	nulls[2] = message ? ' ' : 'n';
	values[3] = result ? CStringGetTextDatum(result) : (Datum) 0;
	nulls[3] = result ? ' ' : 'n';
	values[4] = Float8GetDatum(slot.fraction);
	nulls[4] = slot.has_progress ? ' ' : 'n';
	values[5] = CStringGetTextDatum(slot.phase);
	nulls[5] = slot.has_progress ? ' ' : 'n';
	values[6] = Int32GetDatum(slot.epoch);
	nulls[6] = slot.has_progress ? ' ' : 'n';
	pgstat_report_activity(STATE_RUNNING, "raid job: recording the outcome");
	worker_exec("UPDATE raid.job_records SET status = $2, message = $3, result = $4::jsonb, "
				"finished_at = now(), "
				"progress = CASE WHEN $2 = 'succeeded' THEN 1 ELSE COALESCE($5, progress) END, "
				"phase = COALESCE($6, phase), epoch = COALESCE($7, epoch) "
				"WHERE job_id = $1 AND status = 'running'",
				7, types, values, nulls, SPI_OK_UPDATE, NULL);
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------ */

/* Raises 55000 unless jobs can be submitted from this database. */
static void
check_submit(void)
{
	char	   *dbname;

	if (jobs_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("background jobs need raid in shared_preload_libraries"),
				 errhint("Add raid to shared_preload_libraries and restart the server, "
						 "or call raid.train() or raid.audit() directly.")));
	dbname = get_database_name(MyDatabaseId);
	if (raid_database_name == NULL || dbname == NULL || strcmp(dbname, raid_database_name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("background jobs run only in database \"%s\"",
						raid_database_name ? raid_database_name : ""),
				 errhint("Submit the job from database \"%s\", or set raid.database_name = '%s' "
						 "and restart the server.",
						 raid_database_name ? raid_database_name : "", dbname ? dbname : "")));
}

Datum
raid_job_check_submit(PG_FUNCTION_ARGS)
{
	check_submit();
	PG_RETURN_VOID();
}

/* The live progress of the jobs of this database that have a worker. */
Datum
raid_job_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RaidJobSlot slots[RAID_JOB_SLOTS];
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (jobs_shared == NULL)
		return (Datum) 0;
	slots_snapshot(slots, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {0};

		if (slots[i].owner != GetUserId() && !superuser())
			continue;

		values[0] = Int64GetDatum(slots[i].job_id);
		values[1] = Int32GetDatum((int32) slots[i].pid);
		nulls[1] = slots[i].pid == 0;
		values[2] = Float8GetDatum(slots[i].fraction);
		values[3] = Int32GetDatum(slots[i].epoch);
		values[4] = CStringGetTextDatum(slots[i].phase);
		nulls[2] = nulls[3] = nulls[4] = !slots[i].has_progress;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Cancels a job of the current role (a superuser: any job).  A queued job is
 * cancelled at once; a running one gets a cancel signal and records
 * `cancelled` when its work stops.  Returns false for a job that already
 * ended; an unknown job id, or another role's, raises 42704.
 */
Datum
raid_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	Oid			types[1] = {INT8OID};
	Datum		values[1];
	char	   *status;
	Oid			owner = InvalidOid;
	bool		isnull;
	bool		done = false;
	RaidUserSwitch sw;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"job_id\" must not be NULL")));
	job_id = PG_GETARG_INT64(0);
	values[0] = Int64GetDatum(job_id);

	SPI_connect();
	/* as the owner (roles cannot lock or write the rows): check the caller here */
	raid_become_owner(&sw);
	if (SPI_execute_with_args("SELECT status, owner::oid FROM raid.job_records "
							  "WHERE job_id = $1 FOR UPDATE",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read job " INT64_FORMAT, job_id);
	status = SPI_processed > 0 ?
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	if (SPI_processed > 0)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (status == NULL || (!superuser_arg(sw.caller) && owner != sw.caller))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id)));

	if (strcmp(status, "queued") == 0)
	{
		if (SPI_execute_with_args("UPDATE raid.job_records SET status = 'cancelled', "
								  "finished_at = now(), message = 'cancelled before it started' "
								  "WHERE job_id = $1",
								  1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not cancel job " INT64_FORMAT, job_id);
		done = true;
	}
	else if (strcmp(status, "running") == 0 && jobs_shared != NULL)
	{
		pid_t		pid = 0;

		SpinLockAcquire(&jobs_shared->mutex);
		for (int i = 0; i < RAID_JOB_SLOTS; i++)
		{
			RaidJobSlot *s = &jobs_shared->slots[i];

			if (s->job_id != job_id || s->database != MyDatabaseId)
				continue;
			/* signal once; the worker checks the flag when its work starts */
			if (!s->cancel_requested && s->cancellable)
				pid = s->pid;
			s->cancel_requested = true;
			done = true;
		}
		SpinLockRelease(&jobs_shared->mutex);
		if (pid != 0 && kill(pid, SIGINT) != 0)
			ereport(WARNING,
					(errmsg("could not send a cancel signal to the worker of job " INT64_FORMAT ": %m",
							job_id)));
	}
	raid_restore_user(&sw);
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * raid.enqueue_job(kind, args): queues a job of the caller in this database
 * and returns its id.  The row is written as the tables' owner (roles cannot
 * insert job rows), so the job id, owner, database and status are raid's.
 */
Datum
raid_enqueue_job(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *args = PG_GETARG_JSONB_P(1);
	Oid			types[4] = {TEXTOID, JSONBOID, REGROLEOID, TEXTOID};
	Datum		values[4];
	RaidUserSwitch sw;
	bool		isnull;
	int64		job_id;

	if (strcmp(kind, "train") != 0 && strcmp(kind, "audit") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown job kind \"%s\"", kind),
				 errhint("Submit jobs with raid.submit_train() or raid.submit_audit().")));
	if (!JB_ROOT_IS_OBJECT(args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job arguments must be a JSON object")));
	check_submit();
	values[0] = CStringGetTextDatum(kind);
	values[1] = JsonbPGetDatum(args);
	values[2] = ObjectIdGetDatum(GetUserId());
	values[3] = CStringGetTextDatum(get_database_name(MyDatabaseId));

	SPI_connect();
	raid_become_owner(&sw);
	if (SPI_execute_with_args("INSERT INTO raid.job_records (kind, args, owner, database) "
							  "VALUES ($1, $2, $3, $4) RETURNING job_id",
							  4, types, values, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "could not queue the job");
	job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	raid_restore_user(&sw);
	SPI_finish();
	PG_RETURN_INT64(job_id);
}

void
raid_jobs_check_drop_extension(void)
{
	int			running = 0;

	if (jobs_shared == NULL)
		return;
	SpinLockAcquire(&jobs_shared->mutex);
	for (int i = 0; i < RAID_JOB_SLOTS; i++)
		if (jobs_shared->slots[i].job_id != 0 && jobs_shared->slots[i].database == MyDatabaseId)
			running++;
	SpinLockRelease(&jobs_shared->mutex);
	if (running > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot drop extension raid while %d of its background jobs %s running",
						running, running == 1 ? "is" : "are"),
				 errdetail("A running job holds locks on raid's tables until it ends."),
				 errhint("Cancel them with raid.cancel_job(job_id) (see raid.jobs), or wait for them to end.")));
}

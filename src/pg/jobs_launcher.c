/*
 * jobs_launcher.c: the launcher, a static background worker that starts
 * queued jobs and marks those whose worker vanished as failed.
 * See jobs.h for the vocabulary.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "jobs.h"

/* the jobs' settings (raid_jobs_define_settings) */
int			raid_max_workers = 2;
char	   *raid_database_name = NULL;

PGDLLEXPORT void raid_jobs_launcher_main(Datum arg);

/* Defines the jobs' settings (from _PG_init). */
void
raid_jobs_define_settings(void)
{
	/*
	 * A PGC_POSTMASTER setting can only be defined while the postmaster
	 * loads the library: defining it when a backend loads raid without the
	 * preload is a FATAL error.  Without the preload there are no jobs, so
	 * the setting is not needed there.
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomStringVariable("raid.database_name",
								   "Database in which raid's background jobs run.",
								   "raid.submit_train() and raid.submit_audit() work only there.",
								   &raid_database_name,
								   "postgres",
								   PGC_POSTMASTER, 0,
								   NULL, NULL, NULL);
	DefineCustomIntVariable("raid.max_workers",
							"Maximum number of raid background jobs running at once.",
							"Further jobs wait in the queue, first in first out; "
							"each running job uses one of max_worker_processes.",
							&raid_max_workers,
							2, 0, RAID_JOB_SLOTS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

/* A worker the launcher started. */
typedef struct LauncherWorker
{
	int64		job_id;
	int			slot;
	BackgroundWorkerHandle *handle;
} LauncherWorker;

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
		raid_job_slot_release(w->slot, w->job_id);
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
	int			slot = raid_job_slot_acquire(job_id, MyDatabaseId, role);
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
		raid_job_slot_release(slot, job_id);
		return false;
	}
	launcher_workers[n_launcher_workers].job_id = job_id;
	launcher_workers[n_launcher_workers].slot = slot;
	launcher_workers[n_launcher_workers].handle = handle;
	n_launcher_workers++;
	return true;
}

/*
 * One pass: stale rows, finished workers, queued jobs.
 * Long: one pass of the launcher loop; stale rows, reaping and starting share
 * one snapshot of the slots.
 */
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
	taken = raid_job_slots_snapshot(slots, &n_here);
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


/*
 * jobs_worker.c: the worker, a dynamic background worker that runs one job
 * as its owner and publishes its progress.
 * See jobs.h for the vocabulary.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/ps_status.h"
#include "utils/snapmgr.h"

#include "jobs.h"

/* worker state */
static int	my_slot = -1;
static int64 my_job_id = 0;
static int	last_percent = -1;
static int	last_epoch = -1;
static char last_phase[JOB_PHASE_LEN];

PGDLLEXPORT void raid_job_worker_main(Datum arg);

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
	SpinLockAcquire(&raid_jobs_shared->mutex);
	if (raid_jobs_shared->slots[my_slot].job_id == my_job_id)
	{
		RaidJobSlot *s = &raid_jobs_shared->slots[my_slot];

		s->has_progress = true;
		s->fraction = fraction;
		s->epoch = epoch;
		strlcpy(s->phase, phase, JOB_PHASE_LEN);
	}
	SpinLockRelease(&raid_jobs_shared->mutex);

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
	raid_job_slot_release(my_slot, my_job_id);
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

/*
 * Binds this worker to its slot and connects as the job's owner (its
 * privileges, its results); false if the slot no longer holds the job.
 */
static bool
worker_attach(const RaidWorkerArgs *args)
{
	char		activity[64];

	my_slot = args->slot;
	my_job_id = args->job_id;
	if (raid_jobs_shared == NULL || my_slot < 0 || my_slot >= RAID_JOB_SLOTS)
		return false;
	SpinLockAcquire(&raid_jobs_shared->mutex);
	if (raid_jobs_shared->slots[my_slot].job_id == my_job_id)
		raid_jobs_shared->slots[my_slot].pid = MyProcPid;
	else
		my_slot = -1;
	SpinLockRelease(&raid_jobs_shared->mutex);
	if (my_slot < 0)
		return false;
	before_shmem_exit(worker_release_slot, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(args->database, args->role, 0);
	snprintf(activity, sizeof(activity), "raid job " INT64_FORMAT, my_job_id);
	SetConfigOption("application_name", activity, PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname(activity);
	SetConfigOption("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION);
	return true;
}

/* queued -> running; false if the job was cancelled (or taken) meanwhile. */
static bool
worker_claim(char **kind)
{
	Oid			t[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(my_job_id), Int32GetDatum(MyProcPid)};

	return worker_exec("UPDATE raid.job_records SET status = 'running', started_at = now(), "
					   "worker_pid = $2, progress = 0 "
					   "WHERE job_id = $1 AND status = 'queued' RETURNING kind",
					   2, t, values, NULL, SPI_OK_UPDATE_RETURNING, kind) == 1;
}

/* Marks the job cancellable (or not) in its slot. */
static void
set_cancellable(bool on)
{
	SpinLockAcquire(&raid_jobs_shared->mutex);
	raid_jobs_shared->slots[my_slot].cancellable = on;
	if (on && raid_jobs_shared->slots[my_slot].cancel_requested)
	{
		QueryCancelPending = true;
		InterruptPending = true;
	}
	SpinLockRelease(&raid_jobs_shared->mutex);
}

/*
 * Runs the job (raid.train or raid.audit on its arguments) in one
 * transaction, cancellable while it runs; returns its result as JSON text,
 * or NULL with *edata set if it failed or was cancelled.
 */
static char *
worker_run(const char *kind, ErrorData **edata)
{
	char	   *volatile result = NULL;
	char		activity[64];

	PG_TRY();
	{
		Oid			t[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(my_job_id)};
		int			rc;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		snprintf(activity, sizeof(activity), "raid job " INT64_FORMAT ": %s", my_job_id, kind);
		pgstat_report_activity(STATE_RUNNING, activity);
		set_cancellable(true);
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
		set_cancellable(false);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		raid_progress_hook = NULL;
		MemoryContextSwitchTo(TopMemoryContext);
		EmitErrorReport();
		*edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		QueryCancelHoldoffCount = 0;
		HOLD_CANCEL_INTERRUPTS();
		set_cancellable(false);
		result = NULL;
	}
	PG_END_TRY();
	QueryCancelPending = false;
	return result;
}

/*
 * running -> succeeded, failed or cancelled (a cancel asked for through
 * raid.cancel_job), with the result or the error and the last progress.
 */
static void
worker_record(const char *result, ErrorData *edata)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID, INT4OID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	const char *status;
	char	   *message = NULL;
	RaidJobSlot slot;

	SpinLockAcquire(&raid_jobs_shared->mutex);
	slot = raid_jobs_shared->slots[my_slot];
	SpinLockRelease(&raid_jobs_shared->mutex);

	if (edata == NULL)
		status = RAID_JOB_SUCCEEDED;
	else if (slot.cancel_requested && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		status = RAID_JOB_CANCELLED;
		message = "cancelled by raid.cancel_job()";
	}
	else
	{
		status = RAID_JOB_FAILED;
		message = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode),
						   edata->message ? edata->message : "unknown error");
	}

	values[0] = Int64GetDatum(my_job_id);
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
}

/* The worker: attaches, claims, runs and records one job, as its owner. */
void
raid_job_worker_main(Datum arg)
{
	RaidWorkerArgs args;
	char	   *kind = NULL;
	char	   *result;
	ErrorData  *edata = NULL;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	pqsignal(SIGINT, StatementCancelHandler);
	BackgroundWorkerUnblockSignals();

	if (!worker_attach(&args))
		proc_exit(0);
	/* a cancel takes effect only while the work runs */
	HOLD_CANCEL_INTERRUPTS();
	if (!worker_claim(&kind))
		proc_exit(0);			/* cancelled (or taken) meanwhile */
	result = worker_run(kind, &edata);
	worker_record(result, edata);
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}

/*
 * jobs.c: the SQL side of background jobs: submitting, progress, cancelling,
 * and the check before DROP EXTENSION.
 * See jobs.h for the vocabulary.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "pgstat.h"
#include "utils/builtins.h"

#include "jobs.h"

PG_FUNCTION_INFO_V1(raid_job_progress);
PG_FUNCTION_INFO_V1(raid_cancel_job);
PG_FUNCTION_INFO_V1(raid_job_check_submit);
PG_FUNCTION_INFO_V1(raid_enqueue_job);

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------ */

/* Raises 55000 unless jobs can be submitted from this database. */
static void
check_submit(void)
{
	char	   *dbname;

	if (raid_jobs_shared == NULL)
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
	if (raid_jobs_shared == NULL)
		return (Datum) 0;
	raid_job_slots_snapshot(slots, &n);
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

	if (strcmp(status, RAID_JOB_QUEUED) == 0)
	{
		if (SPI_execute_with_args("UPDATE raid.job_records SET status = 'cancelled', "
								  "finished_at = now(), message = 'cancelled before it started' "
								  "WHERE job_id = $1",
								  1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not cancel job " INT64_FORMAT, job_id);
		done = true;
	}
	else if (strcmp(status, RAID_JOB_RUNNING) == 0 && raid_jobs_shared != NULL)
	{
		pid_t		pid = 0;

		SpinLockAcquire(&raid_jobs_shared->mutex);
		for (int i = 0; i < RAID_JOB_SLOTS; i++)
		{
			RaidJobSlot *s = &raid_jobs_shared->slots[i];

			if (s->job_id != job_id || s->database != MyDatabaseId)
				continue;
			/* signal once; the worker checks the flag when its work starts */
			if (!s->cancel_requested && s->cancellable)
				pid = s->pid;
			s->cancel_requested = true;
			done = true;
		}
		SpinLockRelease(&raid_jobs_shared->mutex);
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

	if (raid_jobs_shared == NULL)
		return;
	SpinLockAcquire(&raid_jobs_shared->mutex);
	for (int i = 0; i < RAID_JOB_SLOTS; i++)
		if (raid_jobs_shared->slots[i].job_id != 0 && raid_jobs_shared->slots[i].database == MyDatabaseId)
			running++;
	SpinLockRelease(&raid_jobs_shared->mutex);
	if (running > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot drop extension raid while %d of its background jobs %s running",
						running, running == 1 ? "is" : "are"),
				 errdetail("A running job holds locks on raid's tables until it ends."),
				 errhint("Cancel them with raid.cancel_job(job_id) (see raid.jobs), or wait for them to end.")));
}

/*
 * jobs.h: what the files of background jobs share (jobs.c: the SQL
 * functions; jobs_shmem.c: shared memory and registration; jobs_launcher.c:
 * the launcher; jobs_worker.c: the worker).  Private to them.
 *
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
#ifndef RAID_JOBS_H
#define RAID_JOBS_H

#include "postgres.h"

#include "storage/spin.h"

#include "raid_pg.h"

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

/*
 * Job states (raid.job_records.status, checked there) and their transitions:
 *   queued  -> running     the worker claims the job (jobs_worker.c)
 *   queued  -> cancelled   raid.cancel_job (jobs.c)
 *   queued  -> failed      the launcher cannot start a worker (jobs_launcher.c)
 *   running -> succeeded, failed or cancelled: the worker records the outcome
 *   running -> failed      the launcher finds the worker gone (crash, restart)
 * Each transition is one UPDATE guarded by the state it leaves, so a race
 * (a cancel against a claim, a reap against a record) has one winner.
 */
#define RAID_JOB_QUEUED "queued"
#define RAID_JOB_RUNNING "running"
#define RAID_JOB_SUCCEEDED "succeeded"
#define RAID_JOB_FAILED "failed"
#define RAID_JOB_CANCELLED "cancelled"

/* The shared slots (NULL without shared_preload_libraries). */
extern RaidJobsShared *raid_jobs_shared;

/* Takes a free slot for a job; -1 if none is free. */
extern int	raid_job_slot_acquire(int64 job_id, Oid database, Oid owner);

/* Frees a slot if it still belongs to that job. */
extern void raid_job_slot_release(int slot, int64 job_id);

/* Copies the occupied slots of this database; returns how many slots are taken. */
extern int	raid_job_slots_snapshot(RaidJobSlot *out, int *n_here);

#endif							/* RAID_JOBS_H */

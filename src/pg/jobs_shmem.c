/*
 * jobs_shmem.c: the jobs' shared memory (one slot per running job: worker pid,
 * cancel flag, live progress) and their registration at preload.
 * See jobs.h for the vocabulary.
 */
#include "postgres.h"

#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "jobs.h"

RaidJobsShared *raid_jobs_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

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
	raid_jobs_shared = ShmemInitStruct("raid jobs", sizeof(RaidJobsShared), &found);
	if (!found)
	{
		memset(raid_jobs_shared, 0, sizeof(RaidJobsShared));
		SpinLockInit(&raid_jobs_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Takes a free slot for a job; -1 if none is free. */
int
raid_job_slot_acquire(int64 job_id, Oid database, Oid owner)
{
	int			found = -1;

	SpinLockAcquire(&raid_jobs_shared->mutex);
	for (int i = 0; i < RAID_JOB_SLOTS; i++)
	{
		if (raid_jobs_shared->slots[i].job_id == 0)
		{
			memset(&raid_jobs_shared->slots[i], 0, sizeof(RaidJobSlot));
			raid_jobs_shared->slots[i].job_id = job_id;
			raid_jobs_shared->slots[i].database = database;
			raid_jobs_shared->slots[i].owner = owner;
			found = i;
			break;
		}
	}
	SpinLockRelease(&raid_jobs_shared->mutex);
	return found;
}

/* Frees a slot if it still belongs to that job. */
void
raid_job_slot_release(int slot, int64 job_id)
{
	if (slot < 0 || slot >= RAID_JOB_SLOTS)
		return;
	SpinLockAcquire(&raid_jobs_shared->mutex);
	if (raid_jobs_shared->slots[slot].job_id == job_id)
		memset(&raid_jobs_shared->slots[slot], 0, sizeof(RaidJobSlot));
	SpinLockRelease(&raid_jobs_shared->mutex);
}

/* Copies the occupied slots of this database; returns how many slots are taken. */
int
raid_job_slots_snapshot(RaidJobSlot *out, int *n_here)
{
	int			taken = 0;

	*n_here = 0;
	SpinLockAcquire(&raid_jobs_shared->mutex);
	for (int i = 0; i < RAID_JOB_SLOTS; i++)
	{
		if (raid_jobs_shared->slots[i].job_id == 0)
			continue;
		taken++;
		if (raid_jobs_shared->slots[i].database == MyDatabaseId)
			out[(*n_here)++] = raid_jobs_shared->slots[i];
	}
	SpinLockRelease(&raid_jobs_shared->mutex);
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


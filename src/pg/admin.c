/*
 * admin.c: ownership and housekeeping: raid.caller, raid.drop_model,
 * raid.reassign_owned, raid.drop_owned, and the guard that keeps
 * DROP EXTENSION raid from deadlocking with running background jobs.
 *
 * Rows of raid's tables belong to a role by OID (regrole).  Roles only read
 * the tables; these functions check the caller and write as the tables'
 * owner (see raid_become_owner in raid.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "raid_pg.h"

PG_FUNCTION_INFO_V1(raid_caller);
PG_FUNCTION_INFO_V1(raid_drop_model);
PG_FUNCTION_INFO_V1(raid_reassign_owned);
PG_FUNCTION_INFO_V1(raid_drop_owned);

static ProcessUtility_hook_type prev_process_utility = NULL;

/* raid.caller(): the current role, whose rows the caller sees and creates. */
Datum
raid_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(GetUserId());
}

/* raid.drop_model(model, if_exists): drops the caller's model and its rows. */
Datum
raid_drop_model(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		if_exists = PG_GETARG_BOOL(1);
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	RaidUserSwitch sw;
	uint64		n;

	raid_check_model_name(model);
	if (!raid_lock_model(GetUserId(), model, true, true))
		raid_model_busy_error(model);
	values[0] = CStringGetTextDatum(model);
	values[1] = ObjectIdGetDatum(GetUserId());

	SPI_connect();
	raid_become_owner(&sw);
	if (SPI_execute_with_args("DELETE FROM raid.models WHERE name = $1 AND owner = $2",
							  2, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete model \"%s\"", model);
	n = SPI_processed;
	raid_restore_user(&sw);
	SPI_finish();

	if (n > 0)
		PG_RETURN_BOOL(true);
	if (if_exists)
	{
		ereport(NOTICE,
				(errmsg("model \"%s\" does not exist, skipping", model)));
		PG_RETURN_BOOL(false);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("model \"%s\" does not exist", model)));
}

/*
 * Raises 42501 unless the caller may act for role (as REASSIGN OWNED and
 * DROP OWNED require: the privileges of that role).  A dropped role's OID is
 * for superusers only.
 */
static void
check_acts_for(Oid role, const char *what)
{
	if (!has_privs_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s the rows of role %u", what, role),
				 errhint("Only a superuser or a member of that role with its privileges may do it.")));
}

/* Runs one statement with (old, new) role OIDs; returns the rows changed. */
static uint64
exec_roles(const char *sql, Oid a, Oid b, int expected)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(a), ObjectIdGetDatum(b)};

	if (SPI_execute_with_args(sql, 2, types, values, NULL, false, 0) != expected)
		elog(ERROR, "could not run \"%s\"", sql);
	return SPI_processed;
}

/* Inside SPI: raises 55006 while the role has a queued or running job. */
static void
refuse_while_jobs(Oid role)
{
	exec_roles("SELECT 1 FROM raid.job_records WHERE owner = $1 AND status IN ('queued', 'running') "
			   "LIMIT 1", role, role, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("role %u has queued or running background jobs", role),
				 errhint("Wait for them to end, or cancel them with raid.cancel_job().")));
}

/*
 * raid.reassign_owned(old_role, new_role): gives old_role's models, audits
 * and finished jobs to new_role.  Refuses when new_role already has a model of
 * the same name, or when old_role has a queued or running job.
 */
Datum
raid_reassign_owned(PG_FUNCTION_ARGS)
{
	Oid			from = PG_GETARG_OID(0);
	Oid			to = PG_GETARG_OID(1);
	RaidUserSwitch sw;
	uint64		n = 0;

	check_acts_for(from, "reassign");
	check_acts_for(to, "reassign");
	if (from == to)
		PG_RETURN_INT64(0);

	SPI_connect();
	raid_become_owner(&sw);
	/* lock the rows that move, so a concurrent training sees them or not */
	exec_roles("SELECT 1 FROM raid.models WHERE owner IN ($1, $2) FOR UPDATE", from, to, SPI_OK_SELECT);
	exec_roles("SELECT a.name FROM raid.models a JOIN raid.models b USING (name) "
			   "WHERE a.owner = $1 AND b.owner = $2 LIMIT 1", from, to, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("role %s already has a model named \"%s\"",
						GetUserNameFromId(to, false),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Drop or rename one of the two models first.")));
	refuse_while_jobs(from);
	n += exec_roles("UPDATE raid.models SET owner = $2 WHERE owner = $1", from, to, SPI_OK_UPDATE);
	n += exec_roles("UPDATE raid.audits SET owner = $2 WHERE owner = $1", from, to, SPI_OK_UPDATE);
	n += exec_roles("UPDATE raid.job_records SET owner = $2 WHERE owner = $1", from, to, SPI_OK_UPDATE);
	raid_restore_user(&sw);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/*
 * raid.drop_owned(role): drops the role's models (embeddings cascade),
 * audits and finished jobs.  Refuses while the role has a queued or running
 * job.
 */
Datum
raid_drop_owned(PG_FUNCTION_ARGS)
{
	Oid			role = PG_GETARG_OID(0);
	RaidUserSwitch sw;
	uint64		n = 0;

	check_acts_for(role, "drop");

	SPI_connect();
	raid_become_owner(&sw);
	refuse_while_jobs(role);
	n += exec_roles("DELETE FROM raid.audits WHERE owner = $1", role, role, SPI_OK_DELETE);
	n += exec_roles("DELETE FROM raid.models WHERE owner = $1", role, role, SPI_OK_DELETE);
	n += exec_roles("DELETE FROM raid.job_records WHERE owner = $1", role, role, SPI_OK_DELETE);
	raid_restore_user(&sw);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

/* True if a DROP statement would drop the extension raid. */
static bool
drops_raid(Node *parsetree)
{
	DropStmt   *drop;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	drop = (DropStmt *) parsetree;
	if (drop->removeType != OBJECT_EXTENSION &&
		!(drop->removeType == OBJECT_SCHEMA && drop->behavior == DROP_CASCADE))
		return false;
	foreach(lc, drop->objects)
	{
		Node	   *obj = lfirst(lc);

		if (IsA(obj, String) && strcmp(strVal(obj), "raid") == 0)
			return true;
	}
	return false;
}

/*
 * DROP EXTENSION raid while a background job runs would deadlock with it
 * (the job holds locks on raid's tables until it commits): refuse instead.
 */
static void
raid_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					 ProcessUtilityContext context, ParamListInfo params,
					 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (drops_raid(pstmt->utilityStmt))
		raid_jobs_check_drop_extension();
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
raid_admin_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = raid_process_utility;
}

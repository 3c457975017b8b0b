#!/usr/bin/env bash
# Background jobs, the common path: a submitted training shows progress
# while it runs and stores a model identical to a synchronous training's; a
# failing job records its SQLSTATE and the launcher serves later jobs; a
# submit rolled back never runs; submits from another database are refused.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster
q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null
q "DROP TABLE IF EXISTS jr_inter, jr_users, jr_nulls" >/dev/null
q "CREATE EXTENSION raid"
q "SELECT * FROM raid.synthetic('jr_inter', 'jr_users', n_users => 3000, n_items => 1500, interactions_per_user => 60)" >/dev/null

# wait_for SQL-BOOLEAN SECONDS
wait_for() {
    local deadline=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(q "SELECT ($1)::boolean")" = t ] && return 0
        sleep 0.1
    done
    return 1
}

# 1. progress, then the same model as a synchronous training
opts='{"dim": 16, "epochs": 40, "seed": 11}'
job=$(q "SELECT raid.submit_train('jr_async', 'jr_inter', options => '$opts')")
pass "submitted job $job"
seen=$(mktemp); trap 'rm -f "$seen"' EXIT
deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    row=$(q "SELECT status || ' ' || progress FROM raid.jobs WHERE job_id = $job")
    echo "$row" >>"$seen"
    q "SELECT 'view ' || percent || ' ' || phase FROM raid.progress WHERE job_id = $job" >>"$seen"
    case $row in succeeded*|failed*|cancelled*) break ;; esac
    sleep 0.1
done
distinct=$(grep '^running ' "$seen" | awk '$2 > 0 && $2 < 1 { print $2 }' | sort -u | wc -l)
check_true "progress took at least two distinct values while running ($distinct)" "$distinct >= 2"
grep -qE '^view [0-9]+ training' "$seen" || fail "raid.progress did not show the running job"
pass "raid.progress showed the job: $(grep -c '^view ' "$seen") samples"
check "the job succeeded" "$(q "SELECT status FROM raid.jobs WHERE job_id = $job")" "succeeded"
check "progress is 1 at the end" "$(q "SELECT progress FROM raid.jobs WHERE job_id = $job")" "1"
check "the result is the summary row" "$(q "SELECT result->>'model' || ':' || (result->>'users') FROM raid.jobs WHERE job_id = $job")" "jr_async:3000"
check_true "timestamps are ordered" "(SELECT submitted_at <= started_at AND started_at <= finished_at FROM raid.jobs WHERE job_id = $job)"
q "SELECT users FROM raid.train('jr_sync', 'jr_inter', options => '$opts')" >/dev/null
same="SELECT count(*) FROM raid.%s a JOIN raid.%s b USING (%s)
      WHERE a.model_id = (SELECT model_id FROM raid.models WHERE name = 'jr_async')
        AND b.model_id = (SELECT model_id FROM raid.models WHERE name = 'jr_sync')
        AND a.embedding = b.embedding"
check "user embeddings identical to a synchronous training" "$(q "$(printf "$same" user_embeddings user_embeddings user_id)")" "3000"
check "item embeddings identical to a synchronous training" "$(q "$(printf "$same" item_embeddings item_embeddings item_id)")" \
    "$(q "SELECT count(*) FROM raid.item_embeddings WHERE model_id = (SELECT model_id FROM raid.models WHERE name = 'jr_sync')")"

# 6. failing jobs record the error; the launcher keeps serving
# what the synchronous call checks before reading data fails at submit, with its SQLSTATE
err=$(psql -X -q -At -v VERBOSITY=verbose -c "SELECT raid.submit_train('jr_bad', 'jr_inter', user_col => 'no_such_col')" 2>&1 || true)
echo "$err" | grep -q "42703" || fail "a missing column is not refused at submit: $err"
err=$(psql -X -q -At -v VERBOSITY=verbose -c "SELECT raid.submit_train('jr_bad', 'jr_inter', options => '{\"no_such_option\": 1}')" 2>&1 || true)
echo "$err" | grep -q "22023" || fail "a bad option is not refused at submit: $err"
pass "a missing column (42703) and a bad option (22023) are refused at submit"
# what only the data shows fails in the job
q "CREATE TABLE jr_nulls (user_id int, item_id int)"
q "INSERT INTO jr_nulls VALUES (NULL, 1), (2, NULL)"
bad1=$(q "SELECT raid.submit_train('jr_bad', 'jr_nulls')")
bad3=$(q "SELECT raid.submit_audit('jr_no_such_model')")
wait_for "(SELECT count(*) = 2 FROM raid.jobs WHERE job_id IN ($bad1, $bad3) AND finished_at IS NOT NULL)" 30 ||
    fail "the failing jobs did not end"
q "SELECT job_id, status, message FROM raid.jobs WHERE job_id IN ($bad1, $bad3) ORDER BY job_id"
check "a table without usable rows fails with 22000" "$(q "SELECT status || ' ' || split_part(message, ':', 1) FROM raid.jobs WHERE job_id = $bad1")" "failed 22000"
check_true "an audit of a missing model fails with its error" "(SELECT status = 'failed' AND message LIKE '_____: %' FROM raid.jobs WHERE job_id = $bad3)"
check "no model of a failed job" "$(q "SELECT count(*) FROM raid.models WHERE name = 'jr_bad'")" "0"
ok=$(q "SELECT raid.submit_train('jr_after', 'jr_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "a later job succeeds" "$(q "SELECT status FROM raid.wait_job($ok, '30 s')")" "succeeded"

# 7. a submit rolled back never runs
rolled=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT raid.submit_train('jr_rolled', 'jr_inter', options => '{\"dim\": 4, \"epochs\": 1}')" -c "ROLLBACK")
pass "rolled back the submit of job $rolled"
later=$(q "SELECT raid.submit_train('jr_later', 'jr_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "the next job succeeds" "$(q "SELECT status FROM raid.wait_job($later, '30 s')")" "succeeded"
sleep 0.5
check "the rolled-back job does not exist" "$(q "SELECT count(*) FROM raid.job_records WHERE job_id = $rolled")" "0"
check "the rolled-back job trained nothing" "$(q "SELECT count(*) FROM raid.models WHERE name = 'jr_rolled'")" "0"

# wait_job's timeout returns the row as it is
slow=$(q "SELECT raid.submit_train('jr_slow', 'jr_inter', options => '{\"dim\": 16, \"epochs\": 10000}')")
check_true "wait_job returns at its timeout, the job unfinished" "(SELECT status IN ('queued', 'running') FROM raid.wait_job($slow, '0.3 s'))"
q "SELECT raid.cancel_job($slow)" >/dev/null
check "cancelled" "$(q "SELECT status FROM raid.wait_job($slow, '10 s')")" "cancelled"

# another database: refused with a hint that names raid.database_name
psql -X -q -c "DROP DATABASE IF EXISTS it_jobs_other" -c "CREATE DATABASE it_jobs_other" >/dev/null
psql -X -q -d it_jobs_other -c "CREATE EXTENSION raid" -c "CREATE TABLE t (user_id int, item_id int)" >/dev/null
err=$(psql -X -q -At -d it_jobs_other -v VERBOSITY=verbose -c "SELECT raid.submit_train('m', 't')" 2>&1 || true)
echo "$err"
echo "$err" | grep -q "55000" || fail "no 55000 from another database"
echo "$err" | grep -q "raid.database_name" || fail "the hint does not name raid.database_name"
pass "a submit from another database is refused, naming raid.database_name"
psql -X -q -c "DROP DATABASE it_jobs_other" >/dev/null
q "DROP EXTENSION raid CASCADE" >/dev/null
q "DROP TABLE jr_inter, jr_users, jr_nulls" >/dev/null

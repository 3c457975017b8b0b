#!/usr/bin/env bash
# raid.cancel_job: a running job is cancelled within 2 s, writes nothing and
# leaves the earlier model of that name intact; a queued job is cancelled at
# once; a finished job cannot be; an unknown job id is an error (42704).
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster
q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null
q "DROP TABLE IF EXISTS jc_inter, jc_users" >/dev/null
q "CREATE EXTENSION raid"
q "SELECT * FROM raid.synthetic('jc_inter', 'jc_users', n_users => 3000, n_items => 2000, interactions_per_user => 100)" >/dev/null
q "SELECT users FROM raid.train('jc', 'jc_inter', options => '{\"dim\": 8, \"epochs\": 2}')" >/dev/null
snapshot=$(snapshot_sql jc)
before=$(q "$snapshot")

# a running job
job=$(q "SELECT raid.submit_train('jc', 'jc_inter', options => '{\"epochs\": 10000, \"replace\": true}')")
for _ in $(seq 1 100); do
    [ "$(q "SELECT status = 'running' AND progress > 0 FROM raid.jobs WHERE job_id = $job")" = t ] && break
    sleep 0.1
done
check "the job is running" "$(q "SELECT status FROM raid.jobs WHERE job_id = $job")" "running"
sleep 1
t0=$(now)
check "cancel_job returns true" "$(q "SELECT raid.cancel_job($job)")" "t"
for _ in $(seq 1 50); do
    [ "$(q "SELECT status FROM raid.jobs WHERE job_id = $job")" = cancelled ] && break
    sleep 0.05
done
elapsed=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
check "the job is cancelled" "$(q "SELECT status FROM raid.jobs WHERE job_id = $job")" "cancelled"
check_true "cancelled within 2 s (${elapsed}s)" "$elapsed < 2.0"
check_true "it had made progress" "(SELECT progress > 0 AND progress < 1 AND finished_at IS NOT NULL FROM raid.jobs WHERE job_id = $job)"
check "no rows written, the earlier model intact" "$(q "$snapshot")" "$before"
check "the earlier model still recommends" "$(q "SELECT count(*) FROM raid.recommend('jc', 1, 10)")" "10"
check "cancelling a cancelled job returns false" "$(q "SELECT raid.cancel_job($job)")" "f"

# a queued job (cancelled in the submitting transaction: it never starts)
queued=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "BEGIN" \
    -c "SELECT raid.submit_train('jc_q', 'jc_inter', options => '{\"dim\": 4, \"epochs\": 1}')" \
    -c "SELECT raid.cancel_job(currval('raid.job_records_job_id_seq'))" -c "COMMIT" | sed -n 1p)
sleep 1
check "a queued job is cancelled at once" "$(q "SELECT status || ' ' || (started_at IS NULL) FROM raid.jobs WHERE job_id = $queued")" "cancelled true"
check "it trained nothing" "$(q "SELECT count(*) FROM raid.models WHERE name = 'jc_q'")" "0"

# a finished job, an unknown job
done_job=$(q "SELECT raid.submit_train('jc_done', 'jc_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "a small job succeeds" "$(q "SELECT status FROM raid.wait_job($done_job, '30 s')")" "succeeded"
check "cancelling a finished job returns false" "$(q "SELECT raid.cancel_job($done_job)")" "f"
check "it stays succeeded" "$(q "SELECT status FROM raid.jobs WHERE job_id = $done_job")" "succeeded"
err=$(psql -X -q -At -v VERBOSITY=verbose -c "SELECT raid.cancel_job(999999)" 2>&1 || true)
echo "$err" | grep -q "42704" || fail "an unknown job id: $err"
pass "an unknown job id raises 42704"
q "DROP EXTENSION raid CASCADE" >/dev/null
q "DROP TABLE jc_inter, jc_users" >/dev/null

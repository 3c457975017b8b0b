#!/usr/bin/env bash
# A job whose worker dies is marked failed with a reason and writes nothing:
# kill -9 of the worker (the postmaster restarts every process), the worker
# terminated with pg_terminate_backend, and pg_ctl restart -m immediate.
# Later jobs run normally.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster
# the test cluster commits asynchronously: make this script's commits survive the crash
export PGOPTIONS="-c synchronous_commit=on"
q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null
q "DROP TABLE IF EXISTS jk_inter, jk_users" >/dev/null
q "CREATE EXTENSION raid"
q "SELECT * FROM raid.synthetic('jk_inter', 'jk_users', n_users => 3000, n_items => 2000, interactions_per_user => 100)" >/dev/null
q "SELECT users FROM raid.train('jk', 'jk_inter', options => '{\"dim\": 8, \"epochs\": 2}')" >/dev/null
snapshot=$(snapshot_sql jk)
before=$(q "$snapshot")
long="SELECT raid.submit_train('jk', 'jk_inter', options => '{\"epochs\": 10000, \"replace\": true}')"

# running_pid JOB: waits until the job runs with progress, prints its worker pid
running_pid() {
    for _ in $(seq 1 100); do
        [ "$(q "SELECT status = 'running' AND progress > 0 FROM raid.jobs WHERE job_id = $1")" = t ] && break
        sleep 0.1
    done
    q "SELECT worker_pid FROM raid.jobs WHERE job_id = $1 AND status = 'running'"
}
# server_back: waits until the server accepts queries again
server_back() {
    for _ in $(seq 1 300); do
        psql -X -q -At -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "the server did not come back"
}
# ended JOB SECONDS: waits until the job has ended, prints "status: message"
ended() {
    for _ in $(seq 1 $(( $2 * 10 ))); do
        s=$(psql -X -q -At -c "SELECT status || ': ' || coalesce(message, '') FROM raid.jobs WHERE job_id = $1 AND finished_at IS NOT NULL" 2>/dev/null || true)
        [ -n "$s" ] && { echo "$s"; return 0; }
        sleep 0.1
    done
    echo "not ended"
}
later_job_runs() {
    local j
    j=$(q "SELECT raid.submit_train('jk_later_$1', 'jk_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
    check "a later job runs normally ($1)" "$(q "SELECT status FROM raid.wait_job($j, '30 s')")" "succeeded"
}

# 1. kill -9: crash and restart of every process
job=$(q "$long")
pid=$(running_pid "$job")
[ -n "$pid" ] || fail "the job did not start"
kill -9 "$pid"
pass "killed worker $pid of job $job with SIGKILL"
sleep 1
server_back
check "after the crash the job failed" "$(ended "$job" 30)" "failed: server restarted"
check "no partial model, the earlier one intact" "$(q "$snapshot")" "$before"
later_job_runs kill9
before=$(q "$snapshot")

# 2. pg_terminate_backend: the worker exits without a crash
job=$(q "$long")
pid=$(running_pid "$job")
[ -n "$pid" ] || fail "the job did not start"
q "SELECT pg_terminate_backend($pid)" >/dev/null
check "a terminated worker's job failed" "$(ended "$job" 10)" "failed: the worker exited unexpectedly"
check "no partial model" "$(q "$snapshot")" "$before"
later_job_runs terminate
before=$(q "$snapshot")

# 3. pg_ctl restart -m immediate
if [ -n "${RAID_PGD:-}" ] && [ -d "$RAID_PGD/data" ]; then
    job=$(q "$long")
    pid=$(running_pid "$job")
    [ -n "$pid" ] || fail "the job did not start"
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RAID_PGD/data" -l "$RAID_PGD/log" -m immediate -w restart >/dev/null)
    server_back
    check "after an immediate restart the job failed" "$(ended "$job" 30)" "failed: server restarted"
    check "no partial model" "$(q "$snapshot")" "$before"
    later_job_runs restart
else
    echo "note: RAID_PGD not set, the immediate-restart case is not run"
fi
q "DROP EXTENSION raid CASCADE" >/dev/null
q "DROP TABLE jk_inter, jk_users" >/dev/null

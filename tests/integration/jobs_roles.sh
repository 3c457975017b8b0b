#!/usr/bin/env bash
# Jobs run with the submitting role's privileges: two non-superuser roles
# each see and cancel only their own jobs, results belong to the submitter,
# and a role without SELECT on the interactions fails with 42501.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster
q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null
q "DROP TABLE IF EXISTS jo_inter, jo_users" >/dev/null
q "DROP ROLE IF EXISTS raid_it_alice" >/dev/null
q "DROP ROLE IF EXISTS raid_it_bob" >/dev/null
q "CREATE EXTENSION raid"
q "CREATE ROLE raid_it_alice LOGIN" >/dev/null
q "CREATE ROLE raid_it_bob LOGIN" >/dev/null
cleanup() {
    q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null 2>&1 || true
    q "DROP TABLE IF EXISTS jo_inter, jo_users" >/dev/null 2>&1 || true
    q "DROP ROLE IF EXISTS raid_it_alice" >/dev/null 2>&1 || true
    q "DROP ROLE IF EXISTS raid_it_bob" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q "SELECT * FROM raid.synthetic('jo_inter', 'jo_users', n_users => 3000, n_items => 2000, interactions_per_user => 100)" >/dev/null
q "GRANT SELECT ON jo_inter TO raid_it_alice" >/dev/null
qa() { psql -X -q -At -v ON_ERROR_STOP=1 -U raid_it_alice -c "$1"; }
qb() { psql -X -q -At -v ON_ERROR_STOP=1 -U raid_it_bob -c "$1"; }

# alice's long job: bob neither sees nor cancels it
ja=$(qa "SELECT raid.submit_train('alice_long', 'jo_inter', options => '{\"epochs\": 10000}')")
for _ in $(seq 1 100); do
    [ "$(qa "SELECT status FROM raid.jobs WHERE job_id = $ja")" = running ] && break
    sleep 0.1
done
check "alice's job runs" "$(qa "SELECT status || ' ' || owner FROM raid.jobs WHERE job_id = $ja")" "running raid_it_alice"
check "bob does not see alice's job" "$(qb "SELECT count(*) FROM raid.jobs WHERE job_id = $ja")" "0"
check "bob does not see it in the table either" "$(qb "SELECT count(*) FROM raid.job_records")" "0"
err=$(psql -X -q -At -U raid_it_bob -v VERBOSITY=verbose -c "SELECT raid.cancel_job($ja)" 2>&1 || true)
echo "$err" | grep -q "42704" || fail "bob cancelling alice's job: $err"
pass "bob cannot cancel alice's job (42704, as for an unknown job)"
err=$(psql -X -q -At -U raid_it_bob -c "UPDATE raid.job_records SET status = 'cancelled' WHERE job_id = $ja" 2>&1 || true)
echo "$err" | grep -q "permission denied" || fail "bob updating a job row: $err"
check "bob cannot update alice's job row" "$(qa "SELECT status FROM raid.jobs WHERE job_id = $ja")" "running"
check "the worker runs as alice" "$(q "SELECT usename FROM pg_stat_activity WHERE pid = (SELECT worker_pid FROM raid.jobs WHERE job_id = $ja)")" "raid_it_alice"
check "alice cancels her own job" "$(qa "SELECT raid.cancel_job($ja)")" "t"
check "cancelled" "$(qa "SELECT status FROM raid.wait_job($ja, '10 s')")" "cancelled"

# bob may not read the interactions: his job fails with 42501
jb=$(qb "SELECT raid.submit_train('bob_model', 'jo_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "bob's job fails with 42501" "$(qb "SELECT status || ' ' || split_part(message, ':', 1) FROM raid.wait_job($jb, '30 s')")" "failed 42501"
qb "SELECT message FROM raid.jobs WHERE job_id = $jb"
check "alice does not see bob's job" "$(qa "SELECT count(*) FROM raid.jobs WHERE job_id = $jb")" "0"
check "a superuser sees both" "$(q "SELECT count(*) FROM raid.jobs WHERE job_id IN ($ja, $jb)")" "2"

# results belong to the submitter
jok=$(qa "SELECT raid.submit_train('alice_model', 'jo_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "alice's small job succeeds" "$(qa "SELECT status FROM raid.wait_job($jok, '30 s')")" "succeeded"
check "the model belongs to alice" "$(q "SELECT owner FROM raid.models WHERE name = 'alice_model'")" "raid_it_alice"
check "alice sees her model" "$(qa "SELECT count(*) FROM raid.recommend('alice_model', 1, 5)")" "5"
check "bob does not" "$(qb "SELECT count(*) FROM raid.models WHERE name = 'alice_model'")" "0"

# a job whose owner lost CONNECT before it started says so
q "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC" >/dev/null
q "GRANT CONNECT ON DATABASE postgres TO raid_it_alice" >/dev/null
restore_connect() { q "GRANT CONNECT ON DATABASE postgres TO PUBLIC" >/dev/null 2>&1 || true; cleanup; }
trap restore_connect EXIT
jc=$(psql -X -q -At -v ON_ERROR_STOP=1 -U raid_it_alice -c "BEGIN" \
    -c "SELECT raid.submit_train('alice_noconnect', 'jo_inter', options => '{\"dim\": 4, \"epochs\": 1}')" \
    -c "\\! psql -X -q -U postgres -c 'REVOKE CONNECT ON DATABASE postgres FROM raid_it_alice'" -c "COMMIT")
check "the job of a role without CONNECT fails with 42501" \
    "$(q "SELECT status || ' ' || message FROM raid.wait_job($jc, '30 s')")" \
    "failed 42501: role \"raid_it_alice\" has no CONNECT privilege on database \"postgres\""
q "GRANT CONNECT ON DATABASE postgres TO PUBLIC" >/dev/null
q "REVOKE CONNECT ON DATABASE postgres FROM raid_it_alice" >/dev/null

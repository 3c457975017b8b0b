#!/usr/bin/env bash
# A long training is cancelled by pg_cancel_backend and by statement_timeout:
# control returns within about a second, the backend stays usable, no rows
# were written and the earlier model of that name is intact.
source "$(dirname "$0")/lib.sh"
fresh_db it_cancel

q "SELECT * FROM raid.synthetic('inter', 'users', n_users => 3000, n_items => 2000, interactions_per_user => 100)" >/dev/null
q "SELECT users FROM raid.train('m', 'inter', options => '{\"dim\": 8, \"epochs\": 2}')" >/dev/null
snapshot=$(snapshot_sql m)
before=$(q "$snapshot")
out_file=$(mktemp)
trap 'rm -f "$out_file"' EXIT
long="SELECT raid.train('m', 'inter', options => '{\"epochs\": 10000, \"replace\": true}')"

# 1. pg_cancel_backend from another session
psql -X -q -At -c "SET application_name = 'raid_it_cancel'" -c "$long" >"$out_file" 2>&1 &
client=$!
pid=$(backend_pid raid_it_cancel)
[ -n "$pid" ] || fail "the training did not start"
sleep 2  # well into training
t0=$(now)
q "SELECT pg_cancel_backend($pid)" >/dev/null
wait $client || true
elapsed=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
grep -q "canceling statement due to user request" "$out_file" ||
    fail "no cancel error: $(cat "$out_file")"
check_true "pg_cancel_backend returned control within a second (${elapsed}s)" "$elapsed < 1.0"
check "no rows written after pg_cancel_backend" "$(q "$snapshot")" "$before"

# 2. statement_timeout, and the same backend is usable afterwards
out=$(psql -X -At -v ON_ERROR_STOP=0 \
    -c "SET statement_timeout = '1500ms'" \
    -c "SELECT extract(epoch FROM clock_timestamp())" \
    -c "$long" \
    -c "SELECT extract(epoch FROM clock_timestamp())" \
    -c "SELECT 'usable:' || count(*) FROM raid.models" 2>&1)
echo "$out"
echo "$out" | grep -q "canceling statement due to statement timeout" || fail "no timeout error"
t_start=$(echo "$out" | sed -n 2p)
t_end=$(echo "$out" | grep -E '^[0-9]+\.[0-9]+$' | tail -1)
elapsed=$(awk -v a="$t_end" -v b="$t_start" 'BEGIN { printf "%.3f", a - b }')
check_true "statement_timeout of 1.5 s returned within 2.5 s (${elapsed}s)" "$elapsed < 2.5"
echo "$out" | grep -q "^usable:1$" || fail "the backend was not usable after the timeout"
pass "the backend is usable after the timeout"
check "no rows written after statement_timeout" "$(q "$snapshot")" "$before"

# 3. the earlier model still serves
check "the earlier model still recommends" "$(q "SELECT count(*) FROM raid.recommend('m', 1, 10)")" "10"

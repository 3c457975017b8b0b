#!/usr/bin/env bash
# A synchronous raid.train on 1M synthetic interactions shows its phase,
# percentage and time left in pg_stat_activity.query to another session while
# it runs, and the query alone once it has finished.
source "$(dirname "$0")/lib.sh"
fresh_db it_progress

q "SELECT * FROM raid.synthetic('inter', 'users', n_users => 6000, n_items => 3000, interactions_per_user => 167)" >/dev/null
check_true "about a million interactions" "(SELECT count(*) FROM inter) BETWEEN 900000 AND 1100000"
out_file=$(mktemp)
seen_file=$(mktemp)
trap 'rm -f "$out_file" "$seen_file"' EXIT
psql -X -q -At -c "SET application_name = 'raid_it_progress'" \
    -c "SELECT users FROM raid.train('m', 'inter', attributes => 'users', attribute_col => 'attribute', defense => 'raid', options => '{\"epochs\": 12}')" \
    >"$out_file" 2>&1 &
client=$!
pid=$(backend_pid raid_it_progress)
[ -n "$pid" ] || fail "the training did not start"
# sample the other backend's query text until the call ends
while kill -0 $client 2>/dev/null; do
    q "SELECT query FROM pg_stat_activity WHERE pid = $pid AND query LIKE '[raid: %'" >>"$seen_file" || true
    q "SELECT 'view ' || phase || '|' || coalesce(percent::text, '-') || '|' || coalesce(seconds_left::text, '-') FROM raid.progress WHERE pid = $pid AND job_id IS NULL" >>"$seen_file" || true
    sleep 0.1
done
wait $client || fail "the training failed: $(cat "$out_file")"
check "the training finished" "$(cat "$out_file")" "6000"
sort -u "$seen_file" | head -20
grep -qE '^\[raid: training: phase I, epoch [0-9]+, [0-9]+%' "$seen_file" ||
    fail "no phase I progress with a percentage was seen"
grep -qE '^\[raid: training: phase II, epoch [0-9]+, [0-9]+%, about [0-9]+ s left\] SELECT users FROM raid.train' "$seen_file" ||
    fail "no phase II progress with the time left and the query was seen"
grep -qE '^\[raid: (loading|evaluating|storing|auditing the defended embeddings)' "$seen_file" ||
    fail "no stage besides training was seen"
grep -qE '^view training: phase II\|[0-9]+\|[0-9]+$' "$seen_file" ||
    fail "raid.progress did not show phase II with a percentage and the time left"
awk -F'|' '/^view / && $2 != "-" && ($2 < 0 || $2 > 100) { bad = 1 } END { exit bad }' "$seen_file" ||
    fail "raid.progress showed a percentage outside 0..100"
pass "progress seen: $(grep -c . "$seen_file") samples, $(sort -u "$seen_file" | wc -l) distinct"

# an audit names the attacker and the fold it is at
: >"$seen_file"
psql -X -q -At -c "SET application_name = 'raid_it_progress_audit'" \
    -c "SELECT count(*) FROM raid.audit('m', options => '{\"null_run\": true}')" >"$out_file" 2>&1 &
client=$!
pid=$(backend_pid raid_it_progress_audit)
[ -n "$pid" ] || fail "the audit did not start"
while kill -0 $client 2>/dev/null; do
    q "SELECT phase FROM raid.progress WHERE pid = $pid" >>"$seen_file" || true
    sleep 0.05
done
wait $client || fail "the audit failed: $(cat "$out_file")"
sort -u "$seen_file" | head -10
grep -qE '^attacking( shuffled labels)?: (mlp|logistic|knn|qda) fold [1-5]/5$' "$seen_file" ||
    fail "no audit progress naming the attacker and the fold was seen"
pass "audit progress names attacker and fold: $(sort -u "$seen_file" | wc -l) distinct phases"
# afterwards, in the same session, the query text is the plain query again
after=$(psql -X -q -At -c "SELECT raid.train('m2', 'inter', options => '{\"epochs\": 1}') IS NOT NULL" \
    -c "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()")
echo "$after" | tail -1 | grep -q '^\[raid' && fail "the query text still shows progress: $after"
pass "the query text is restored after the call"

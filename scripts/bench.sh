#!/usr/bin/env bash
# End-to-end benchmark of raid.train on synthetic data (the figures in
# BENCHMARKS.md): 1M interactions, about 6,000 users and 4,000 items, dim 64,
# 4 negatives, at 1 and 2 threads; prints load / build / train / evaluate /
# store seconds and the mean epoch time; then audits the 6,000 users x 64
# dims with every attacker, 5 folds, at 1 and 2 threads; then trains with
# defense 'raid' against the planted attribute at 1 and 2 threads and
# prints Phase I and Phase II epoch times.  Kernel benchmarks: make bench.
#
#   scripts/bench.sh [EPOCHS]     (default 5)
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$RAID_ROOT"
epochs=${1:-5}

raid_install_deps
raid_build_install
raid_cluster_start
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE EXTENSION raid"

psql -c "\\timing on" -c "SELECT * FROM raid.synthetic('bench_inter', 'bench_users', n_users => 6000,
    n_items => 4000, interactions_per_user => 167, seed => 42)"
psql -c "VACUUM ANALYZE bench_inter"
for threads in 1 2; do
    psql -c "SELECT users, items, interactions, round(seconds::numeric, 2) AS seconds,
                    round(ndcg_at_10::numeric, 4) AS ndcg_at_10
             FROM raid.train('bench_t$threads', 'bench_inter',
                 options => '{\"dim\": 64, \"negatives\": 4, \"epochs\": $epochs, \"threads\": $threads}')"
done
psql -c "\\pset title 'raid.train end to end (seconds)'" -c "
    SELECT options->'threads' AS threads, metrics->'load_seconds' AS load,
           metrics->'build_seconds' AS build, metrics->'train_seconds' AS train,
           round((SELECT avg((e->>'seconds')::numeric) FROM jsonb_array_elements(metrics->'epochs') e), 3) AS epoch,
           metrics->'evaluate_seconds' AS evaluate, metrics->'store_seconds' AS store
    FROM raid.models WHERE name LIKE 'bench_t%' ORDER BY name"
for threads in 1 2; do
    psql -c "\\pset title 'raid.audit, 6000 users x 64 dims, $threads thread(s)'" -c "
        SELECT attacker, users, folds, round(balanced_accuracy::numeric, 3) AS balanced_accuracy,
               round(seconds::numeric, 3) AS attacker_seconds
        FROM raid.audit('bench_t2', 'bench_users', 'attribute', '{\"threads\": $threads}')" -c "\\timing on" \
        -c "SELECT count(*) FROM raid.audit('bench_t2', 'bench_users', 'attribute', '{\"threads\": $threads}')"
done
for threads in 1 2; do
    psql -c "SELECT users, round(ndcg_at_10::numeric, 4) AS ndcg_at_10
             FROM raid.train('bench_raid_t$threads', 'bench_inter', attributes => 'bench_users',
                 attribute_col => 'attribute', defense => 'raid',
                 options => '{\"dim\": 64, \"negatives\": 4, \"epochs\": $((epochs + 5)), \"threads\": $threads}')"
done
psql -c "\\pset title 'defense raid: Phase I vs Phase II epochs (seconds)'" -c "
    SELECT options->'threads' AS threads, metrics->'defense'->'phase1_epoch_seconds' AS phase1_epoch,
           metrics->'defense'->'phase2_epoch_seconds' AS phase2_epoch,
           round(((metrics->'defense'->>'phase2_epoch_seconds')::numeric
                  / (metrics->'defense'->>'phase1_epoch_seconds')::numeric), 2) AS ratio,
           metrics->'defense'->'recomputations' AS recomputations, metrics->'defense'->'ot_seconds' AS ot
    FROM raid.models WHERE name LIKE 'bench_raid_t%' ORDER BY name"

#!/usr/bin/env bash
# The main job, end to end on a throw-away cluster: build and install raid,
# load MovieLens 100K (when RAID_DATA_DIR or ../shared/data/ml-100k has it)
# or make synthetic data, train an undefended and a RAID model on the same
# data and seed, audit both, print one comparison table and one user's top 10.
# Run as root on Debian 12; installs what it needs.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$RAID_ROOT"

raid_install_deps
raid_build_install
raid_cluster_start
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE EXTENSION raid"

dir=$(raid_data_dir)
if [ -n "$dir" ]; then
    raid_log "loading MovieLens 100K from $dir"
    scripts/load_movielens.sh "$dir" >&2
    table=movielens.ratings
    titles="movielens.items"
    attributes=movielens.users
    attribute=gender
else
    raid_log "MovieLens 100K not found: generating synthetic data"
    psql -c "SELECT * FROM raid.synthetic('interactions', 'users', n_users => 2000, n_items => 1000,
                                          interactions_per_user => 50, signal => 0.3, seed => 42)"
    table=interactions
    titles=""
    attributes=users
    attribute=attribute
fi

for defense in none raid; do
    raid_log "training with defense '$defense' (default options, seed 42)"
    psql -c "\\pset title 'raid.train: $table, defense $defense'" -c "
        SELECT model, users, items, interactions, round(seconds::numeric, 2) AS seconds,
               round(ndcg_at_10::numeric, 4) AS ndcg_at_10, round(hr_at_10::numeric, 4) AS hr_at_10,
               round(popularity_ndcg_at_10::numeric, 4) AS popularity_ndcg_at_10
        FROM raid.train('demo_$defense', '$table', attributes => '$attributes',
                        attribute_col => '$attribute', defense => '$defense')"
    raid_log "auditing demo_$defense: can an attacker infer \"$attribute\" from its user embeddings?"
    psql -c "SELECT count(*) AS audit_rows FROM raid.audit('demo_$defense', options => '{\"null_run\": true}')" >/dev/null
done

psql -c "\\pset title 'where the time went (seconds)'" -c "
    SELECT name AS model, metrics->'load_seconds' AS load, metrics->'train_seconds' AS train,
           metrics->'defense'->'phase1_epoch_seconds' AS phase1_epoch,
           metrics->'defense'->'phase2_epoch_seconds' AS phase2_epoch,
           metrics->'defense'->'ot_seconds' AS ot, metrics->'evaluate_seconds' AS evaluate,
           metrics->'store_seconds' AS store
    FROM raid.models WHERE name LIKE 'demo_%' ORDER BY model_id"

psql -c "\\pset title 'undefended vs RAID: quality, and each attacker''s balanced accuracy inferring \"$attribute\" (chance: 1/classes)'" -c "
    SELECT m.defense, round((m.metrics->>'ndcg_at_10')::numeric, 4) AS ndcg_at_10,
           round((m.metrics->>'hr_at_10')::numeric, 4) AS hr_at_10,
           round(max(a.balanced_accuracy) FILTER (WHERE a.attacker = 'mlp' AND NOT a.shuffled)::numeric, 3) AS mlp,
           round(max(a.balanced_accuracy) FILTER (WHERE a.attacker = 'logistic' AND NOT a.shuffled)::numeric, 3) AS logistic,
           round(max(a.balanced_accuracy) FILTER (WHERE a.attacker = 'knn' AND NOT a.shuffled)::numeric, 3) AS knn,
           round(max(a.balanced_accuracy) FILTER (WHERE a.attacker = 'qda' AND NOT a.shuffled)::numeric, 3) AS qda,
           round(max(a.chance)::numeric, 3) AS chance,
           max(a.attacker) FILTER (WHERE a.strongest) AS strongest,
           round(max(a.leakage) FILTER (WHERE a.strongest)::numeric, 3) AS leakage,
           round(max(a.leakage) FILTER (WHERE a.shuffled)::numeric, 3) AS noise_floor,
           m.metrics->'defense'->'target_met' AS target_met,
           round((m.metrics->>'train_seconds')::numeric, 2) AS train_seconds
    FROM raid.models m JOIN raid.audits a ON a.model_id = m.model_id
    WHERE m.name LIKE 'demo_%' GROUP BY m.model_id, m.defense, m.metrics ORDER BY m.model_id"
psql -c "\\pset title 'raid.compare: the RAID model against the undefended one'" \
     -c "SELECT * FROM raid.compare('demo_none', 'demo_raid')"
echo "leakage: the strongest attacker's distance from chance; noise_floor: the largest it reaches on"
echo "shuffled labels (no signal); target_met: raid's own check after training (its attackers: logistic,"
echo "kNN and QDA), leakage within the larger of the target (0.03) and its noise floor. With a thousand"
echo "users the noise is about 0.02 to 0.04, so another attacker (the MLP) may find a little more."

if [ -n "$titles" ]; then
    psql -c "\\pset title 'top 10 for user 1 (RAID model)'" -c "
        SELECT r.item_id, i.title, round(r.score::numeric, 3) AS score
        FROM raid.recommend('demo_raid', 1, 10) r JOIN $titles i USING (item_id)"
else
    psql -c "\\pset title 'top 10 for user 1 (RAID model)'" -c "
        SELECT item_id, round(score::numeric, 3) AS score FROM raid.recommend('demo_raid', 1, 10)"
fi

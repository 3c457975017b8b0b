#!/usr/bin/env bash
# The main job, end to end on a throw-away cluster: build and install raid,
# load MovieLens 100K (when RAID_DATA_DIR or ../shared/data/ml-100k has it)
# or make synthetic data, train a model, print its summary and one user's
# top-10 recommendations.  Run as root on Debian 12; installs what it needs.
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
                                          interactions_per_user => 50, seed => 42)"
    table=interactions
    titles=""
    attributes=users
    attribute=attribute
fi

raid_log "training (defense none, default options)"
psql -c "\\pset title 'raid.train: $table'" -c "
    SELECT model, users, items, interactions, round(seconds::numeric, 2) AS seconds,
           round(ndcg_at_10::numeric, 4) AS ndcg_at_10, round(hr_at_10::numeric, 4) AS hr_at_10,
           round(popularity_ndcg_at_10::numeric, 4) AS popularity_ndcg_at_10,
           round(popularity_hr_at_10::numeric, 4) AS popularity_hr_at_10
    FROM raid.train('demo', '$table', attributes => '$attributes', attribute_col => '$attribute')"
psql -c "\\pset title 'where the time went (seconds)'" -c "
    SELECT metrics->'load_seconds' AS load, metrics->'build_seconds' AS build,
           metrics->'train_seconds' AS train, metrics->'evaluate_seconds' AS evaluate,
           metrics->'store_seconds' AS store, metrics->'threads' AS threads
    FROM raid.models WHERE name = 'demo'"

if [ -n "$titles" ]; then
    psql -c "\\pset title 'top 10 for user 1'" -c "
        SELECT r.item_id, i.title, round(r.score::numeric, 3) AS score
        FROM raid.recommend('demo', 1, 10) r JOIN $titles i USING (item_id)"
else
    psql -c "\\pset title 'top 10 for user 1'" -c "
        SELECT item_id, round(score::numeric, 3) AS score FROM raid.recommend('demo', 1, 10)"
fi

raid_log "auditing: can an attacker infer \"$attribute\" from the user embeddings?"
psql -c "\\pset title 'raid.audit: $attribute'" -c "
    SELECT attacker, classes, users, round(f1::numeric, 3) AS f1,
           round(balanced_accuracy::numeric, 3) AS balanced_accuracy, round(auc::numeric, 3) AS auc,
           round(chance::numeric, 3) AS chance, round(seconds::numeric, 2) AS seconds
    FROM raid.audit('demo')"

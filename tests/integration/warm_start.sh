#!/usr/bin/env bash
# Warm start on MovieLens 100K: an earlier model trained without 5% of the
# interactions (the "new" ones) and without the full retrain's held-out
# items; a training on everything with warm_start => that model and a third
# of the epochs (10 of 30) must reach the full retrain's NDCG@10 within 0.02
# and beat 10 epochs from scratch, at three seeds.  Skips without the data.
source "$(dirname "$0")/lib.sh"
dir=$(raid_data_dir)
[ -n "$dir" ] || skip "skipped: MovieLens 100K not found (set RAID_DATA_DIR or provide ../shared/data/ml-100k)"
fresh_db it_warm_start
"$IT_ROOT/scripts/load_movielens.sh" "$dir" >/dev/null
for seed in 42 1 2; do
    full=$(q "SELECT round(ndcg_at_10::numeric, 4) FROM raid.train('full', 'movielens.ratings',
              options => '{\"seed\": $seed}')")
    q "DROP TABLE IF EXISTS old_inter; CREATE TABLE old_inter AS
       SELECT r.user_id, r.item_id FROM movielens.ratings r
       JOIN raid.user_items ui ON ui.user_id = r.user_id
        AND ui.model_id = (SELECT model_id FROM raid.models WHERE name = 'full')
       WHERE r.item_id = ANY (ui.item_ids) AND pg_catalog.hashint8(r.user_id * 100003 + r.item_id) % 20 <> 0"
    q "SELECT 1 FROM raid.train('old', 'old_inter', options => '{\"seed\": $seed, \"holdout\": false}')" >/dev/null
    warm=$(q "SELECT round(ndcg_at_10::numeric, 4) FROM raid.train('warm', 'movielens.ratings',
              options => '{\"seed\": $seed, \"epochs\": 10, \"warm_start\": \"old\"}')")
    cold=$(q "SELECT round(ndcg_at_10::numeric, 4) FROM raid.train('cold', 'movielens.ratings',
              options => '{\"seed\": $seed, \"epochs\": 10}')")
    echo "seed $seed: NDCG@10 full retrain (30 epochs) $full, warm start (10) $warm, from scratch (10) $cold"
    check_true "seed $seed: warm start within 0.02 of the full retrain" "$warm >= $full - 0.02"
    check_true "seed $seed: warm start beats the same epochs from scratch" "$warm > $cold"
    check "seed $seed: every user and item matched" \
        "$(q "SELECT metrics->'warm_start'->>'users' || ' ' || (metrics->'warm_start'->>'items')::int
              FROM raid.models WHERE name = 'warm'")" \
        "$(q "SELECT users || ' ' || count(DISTINCT item_id) FROM raid.models, old_inter WHERE name = 'old' GROUP BY users")"
    q "SELECT raid.drop_model(m) FROM unnest(ARRAY['full', 'old', 'warm', 'cold']) m" >/dev/null
done

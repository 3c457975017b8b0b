#!/usr/bin/env bash
# MovieLens 100K (all ratings as implicit interactions), default options:
# NDCG@10 at least 2x the popularity baseline's on the same split, and
# raid.recommend returns k distinct items the user did not train on.
source "$(dirname "$0")/lib.sh"
dir=$(raid_data_dir)
[ -n "$dir" ] || skip "skipped: MovieLens 100K not found (set RAID_DATA_DIR or provide ../shared/data/ml-100k)"
fresh_db it_movielens
"$IT_ROOT/scripts/load_movielens.sh" "$dir"

row=$(q "SELECT users || ' ' || items || ' ' || interactions || ' ' || round(ndcg_at_10::numeric, 4) || ' '
         || round(hr_at_10::numeric, 4) || ' ' || round(popularity_ndcg_at_10::numeric, 4) || ' '
         || round(popularity_hr_at_10::numeric, 4) || ' ' || round(seconds::numeric, 2)
         FROM raid.train('ml', 'movielens.ratings')")
read -r users items inter ndcg hr pndcg phr secs <<<"$row"
echo "users=$users items=$items interactions=$inter ndcg@10=$ndcg hr@10=$hr popularity ndcg@10=$pndcg hr@10=$phr seconds=$secs"
check "users" "$users" 943
check "items" "$items" 1682
check "interactions" "$inter" 100000
check_true "NDCG@10 $ndcg >= 2 x popularity $pndcg" "$ndcg >= 2 * $pndcg"
check_true "HR@10 $hr > popularity $phr" "$hr > $phr"

for u in 1 42 943; do
    check "user $u: 10 distinct recommendations" \
        "$(q "SELECT count(DISTINCT item_id) FROM raid.recommend('ml', $u, 10)")" 10
    check "user $u: none of them trained on" \
        "$(q "SELECT count(*) FROM raid.recommend('ml', $u, 10) r
              JOIN raid.user_items ui ON ui.user_id = $u AND r.item_id = ANY (ui.item_ids)
              JOIN raid.models m ON m.model_id = ui.model_id AND m.name = 'ml'")" 0
    check "user $u: none of them rated, except possibly the held-out one" \
        "$(q "SELECT count(*) <= 1 FROM raid.recommend('ml', $u, 10) r
              JOIN movielens.ratings x ON x.user_id = $u AND x.item_id = r.item_id")" t
done

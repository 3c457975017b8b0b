#!/usr/bin/env bash
# End-to-end benchmark of raid.recommend (the figures in BENCHMARKS.md,
# "Recommendations"): for each item count, a synthetic model of dim 64 whose
# every item has an embedding (3,000 users with 40 interactions each, plus
# filler users that touch every item once), then the latency of
# raid.recommend(model, user, 10) for 200 users (BENCH_USERS), exact and through an HNSW
# index (raid.create_index with its defaults), measured in the server
# (clock_timestamp around each call, one session, after one warm-up call),
# and the recall@10 of the index against exact scoring on those users.
#
#   scripts/bench_recommend.sh [ITEMS ...]     (default 10000 200000)
# Needs pgvector (scripts/install_pgvector.sh installs it).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$RAID_ROOT"
sizes=${*:-10000 200000}
users=${BENCH_USERS:-200}

raid_install_deps
raid_build_install
"$RAID_ROOT/scripts/install_pgvector.sh"
raid_cluster_start
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE EXTENSION raid" -c "CREATE EXTENSION vector"
psql -c "CREATE TABLE bench_lat (items bigint, path text, user_id bigint, ms float8, rows int)"

echo "items | build s | exact p50 ms | exact p95 ms | index p50 ms | index p95 ms | recall@10"
for n in $sizes; do
    m=bench_$n
    psql -c "DROP TABLE IF EXISTS bi, bu" \
         -c "SELECT 1 FROM raid.synthetic('bi', 'bu', n_users => 3000, n_items => $n, interactions_per_user => 40)" \
         -c "INSERT INTO bi SELECT 100000 + i % 1000, i FROM generate_series(1, $n) i" >/dev/null
    psql -c "SELECT 1 FROM raid.train('$m', 'bi', options => '{\"dim\": 64, \"holdout\": false}')" >/dev/null
    psql -c "SET maintenance_work_mem = '4GB'" -c "SELECT raid.create_index('$m')" >/dev/null
    for path in exact index; do
        exact=$([ $path = exact ] && echo true || echo false)
        psql -c "DO \$\$
            DECLARE u bigint; t0 timestamptz; r int;
            BEGIN
                PERFORM count(*) FROM raid.recommend('$m', 1, 10, exact => $exact);
                FOR u IN SELECT user_id FROM raid.user_embeddings e JOIN raid.models USING (model_id)
                         WHERE name = '$m' AND user_id < 100000 ORDER BY pg_catalog.hashint8(user_id) LIMIT $users LOOP
                    t0 := clock_timestamp();
                    SELECT count(*) INTO r FROM raid.recommend('$m', u, 10, exact => $exact);
                    INSERT INTO bench_lat VALUES ($n, '$path', u,
                        extract(epoch FROM clock_timestamp() - t0) * 1000, r);
                END LOOP;
            END \$\$"
    done
    psql -c "SELECT $n, round(i.seconds::numeric, 1),
                    (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM bench_lat WHERE items = $n AND path = 'exact'),
                    (SELECT round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM bench_lat WHERE items = $n AND path = 'exact'),
                    (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM bench_lat WHERE items = $n AND path = 'index'),
                    (SELECT round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2) FROM bench_lat WHERE items = $n AND path = 'index'),
                    (SELECT round(avg(hit)::numeric / 10, 3) FROM
                        (SELECT (SELECT count(*) FROM raid.recommend('$m', b.user_id, 10) a
                                 JOIN raid.recommend('$m', b.user_id, 10, exact => true) e USING (item_id)) AS hit
                         FROM bench_lat b WHERE items = $n AND path = 'index') h)
             FROM raid.item_indexes i JOIN raid.models USING (model_id) WHERE name = '$m'" | tr '|' ' ' |
        awk '{printf "%s | %s | %s | %s | %s | %s | %s\n", $1, $2, $3, $4, $5, $6, $7}'
    psql -c "SELECT raid.drop_model('$m')" >/dev/null
done

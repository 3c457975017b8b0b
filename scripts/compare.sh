#!/usr/bin/env bash
# Compares the defenses fairly: trains every defense with the same data,
# split, seeds, dimension, epochs and training options over a grid of its
# strength knob, audits every model with every attacker of raid.audit (and,
# with --sklearn, with scikit-learn's through scripts/attack_eval.py), stores
# one row per (defense, knob value, seed) in a table, prints the means over
# the seeds as a markdown table and plots NDCG@10 against the strongest
# attacker's distance from chance (PNG and SVG, gnuplot).
#
# Usage: PG* set to a database where raid is installed:
#   scripts/compare.sh --interactions TABLE --attributes TABLE --attribute COL
#       [--seeds 1,2,3] [--table raid_compare] [--plot PATH] [--title TEXT]
#       [--options JSON] [--defenses none,raid,center,gaussian,unlearn,adversarial,dp]
#       [--raid-eta 0.0625,0.125,0.25,0.5,1,2] [--dp-epsilon 1,10,100,1000,10000]
#       [--unlearn-weight 0.1,0.3,1,3,10] [--adv-weight 0.01,0.03,0.1]
#       [--sklearn]
# The table (created if missing) gets this call's rows for the attribute and
# the defenses run replaced (rows of other defenses stay, and the summary, the
# Pareto check and the plot cover every defense the table has); models are named cmp_<defense>_<index>_<seed> and dropped after
# their audit.  --plot PATH writes PATH.png and PATH.svg.
set -euo pipefail
source "$(dirname "$0")/common.sh"

INTER="" USERS="" ATTR="" SEEDS=1,2,3 TABLE=raid_compare PLOT="" TITLE="" OPTS='{}'
DEFENSES=none,raid,center,gaussian,unlearn,adversarial,dp RAID_ETA=0.0625,0.125,0.25,0.5,1,2
DP_EPS=1,10,100,1000,10000 UNLEARN_W=0.1,0.3,1,3,10 ADV_W=0.01,0.03,0.1 SKLEARN=0
while [ $# -gt 0 ]; do
    case $1 in
        --interactions) INTER=$2; shift 2 ;;
        --attributes) USERS=$2; shift 2 ;;
        --attribute) ATTR=$2; shift 2 ;;
        --seeds) SEEDS=$2; shift 2 ;;
        --table) TABLE=$2; shift 2 ;;
        --plot) PLOT=$2; shift 2 ;;
        --title) TITLE=$2; shift 2 ;;
        --options) OPTS=$2; shift 2 ;;
        --defenses) DEFENSES=$2; shift 2 ;;
        --raid-eta) RAID_ETA=$2; shift 2 ;;
        --dp-epsilon) DP_EPS=$2; shift 2 ;;
        --unlearn-weight) UNLEARN_W=$2; shift 2 ;;
        --adv-weight) ADV_W=$2; shift 2 ;;
        --sklearn) SKLEARN=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$INTER" ] || [ -z "$USERS" ] || [ -z "$ATTR" ]; then
    echo "usage: $0 --interactions TABLE --attributes TABLE --attribute COL [options]" >&2
    exit 2
fi
[ -n "$PLOT" ] && raid_install_deps gnuplot-nox
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
lit() { printf "'%s'" "${1//\'/\'\'}"; }  # an SQL literal

q <<SQL
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS $TABLE (
    attribute text NOT NULL, defense text NOT NULL, knob text, value float8, seed int NOT NULL,
    ndcg_at_10 float8, hr_at_10 float8, train_seconds float8,
    logistic_bacc float8, logistic_f1 float8, mlp_bacc float8, mlp_f1 float8,
    knn_bacc float8, knn_f1 float8, qda_bacc float8, qda_f1 float8, rbf_bacc float8, rbf_f1 float8,
    sklearn jsonb, chance float8, strongest_attacker text, leakage float8,
    created_at timestamptz NOT NULL DEFAULT now());
DELETE FROM $TABLE WHERE attribute = $(lit "$ATTR") AND defense = ANY (string_to_array($(lit "$DEFENSES"), ','));
SQL

# point DEFENSE KNOB VALUE INDEX: trains and audits one grid point at every seed
point() {
    local defense=$1 knob=$2 value=$3 index=$4 seed model opts sk
    for seed in ${SEEDS//,/ }; do
        model="cmp_${defense}_${index}_$seed"
        opts=$(q -c "SELECT ($(lit "$OPTS")::jsonb || jsonb_build_object('seed', $seed, 'replace', true)
                     || CASE WHEN $(lit "$knob") = '' THEN '{}' ELSE jsonb_build_object($(lit "$knob"), $value::float8) END)::text")
        q -c "SET client_min_messages = error;
              SELECT 1 FROM raid.train($(lit "$model"), $(lit "$INTER"), attributes => $(lit "$USERS"),
                  attribute_col => $(lit "$ATTR"), defense => $(lit "$defense"), options => $(lit "$opts"))" >/dev/null
        sk=null
        if [ "$SKLEARN" = 1 ]; then
            sk=$(lit "$(/usr/bin/python3 "$RAID_ROOT/scripts/attack_eval.py" "$model" --seeds "$seed" --json)")
        fi
        q >/dev/null <<SQL
WITH a AS (SELECT * FROM raid.audit($(lit "$model"), options => jsonb_build_object(
               'attackers', '["logistic", "mlp", "knn", "qda", "rbf"]'::jsonb, 'seed', $seed))),
     s AS (SELECT $sk::jsonb AS j),
     strongest AS (  -- raid's attackers and scikit-learn's, two-sided
        SELECT name, d FROM (SELECT attacker AS name, abs(balanced_accuracy - chance) AS d FROM a
                             UNION ALL
                             SELECT 'sklearn_' || k, (v->>'distance')::float8 FROM s, jsonb_each(s.j->'attackers') e(k, v)) x
        ORDER BY d DESC LIMIT 1)
INSERT INTO $TABLE (attribute, defense, knob, value, seed, ndcg_at_10, hr_at_10, train_seconds,
    logistic_bacc, logistic_f1, mlp_bacc, mlp_f1, knn_bacc, knn_f1, qda_bacc, qda_f1, rbf_bacc, rbf_f1,
    sklearn, chance, strongest_attacker, leakage)
SELECT $(lit "$ATTR"), $(lit "$defense"), NULLIF($(lit "$knob"), ''), $value, $seed,
       (m.metrics->>'ndcg_at_10')::float8, (m.metrics->>'hr_at_10')::float8, (m.metrics->>'train_seconds')::float8
           + coalesce((m.metrics->'defense'->>'seconds')::float8, 0),
       max(balanced_accuracy) FILTER (WHERE attacker = 'logistic'), max(f1) FILTER (WHERE attacker = 'logistic'),
       max(balanced_accuracy) FILTER (WHERE attacker = 'mlp'), max(f1) FILTER (WHERE attacker = 'mlp'),
       max(balanced_accuracy) FILTER (WHERE attacker = 'knn'), max(f1) FILTER (WHERE attacker = 'knn'),
       max(balanced_accuracy) FILTER (WHERE attacker = 'qda'), max(f1) FILTER (WHERE attacker = 'qda'),
       max(balanced_accuracy) FILTER (WHERE attacker = 'rbf'), max(f1) FILTER (WHERE attacker = 'rbf'),
       (SELECT j FROM s), max(a.chance), (SELECT name FROM strongest), (SELECT d FROM strongest)
FROM a, raid.models m WHERE m.name = $(lit "$model") AND m.owner = raid.caller()
GROUP BY m.metrics;
SELECT raid.drop_model($(lit "$model"));
SQL
    done
}

for defense in ${DEFENSES//,/ }; do
    case $defense in
        raid) i=0; for v in ${RAID_ETA//,/ }; do point raid eta "$v" $((i++)); done ;;
        dp) i=0; for v in ${DP_EPS//,/ }; do point dp epsilon "$v" $((i++)); done ;;
        unlearn) i=0; for v in ${UNLEARN_W//,/ }; do point unlearn unlearn_weight "$v" $((i++)); done ;;
        adversarial) i=0; for v in ${ADV_W//,/ }; do point adversarial adv_weight "$v" $((i++)); done ;;
        none | center | gaussian) point "$defense" "" NULL 0 ;;
        *) echo "unknown defense $defense" >&2; exit 2 ;;
    esac
done

# means over the seeds, one row per (defense, knob value)
SUMMARY="SELECT defense, coalesce(knob || ' ' || value, '-') AS point,
       round(avg(ndcg_at_10)::numeric, 4) AS ndcg_at_10,
       round((avg(ndcg_at_10) / (SELECT avg(ndcg_at_10) FROM $TABLE WHERE attribute = $(lit "$ATTR") AND defense = 'none'))::numeric, 3) AS x_none,
       round(avg(hr_at_10)::numeric, 4) AS hr_at_10,
       round(avg(abs(logistic_bacc - chance))::numeric, 3) AS logistic, round(avg(abs(mlp_bacc - chance))::numeric, 3) AS mlp,
       round(avg(abs(knn_bacc - chance))::numeric, 3) AS knn, round(avg(abs(qda_bacc - chance))::numeric, 3) AS qda,
       round(avg(abs(rbf_bacc - chance))::numeric, 3) AS rbf,
       round(avg(leakage)::numeric, 3) AS strongest, round(avg(train_seconds)::numeric, 2) AS seconds
FROM $TABLE WHERE attribute = $(lit "$ATTR")
GROUP BY defense, knob, value ORDER BY array_position(ARRAY['none','raid','center','gaussian','unlearn','adversarial','dp'], defense), value"
echo "| defense | point | NDCG@10 | x none | HR@10 | logistic | mlp | knn | qda | rbf | strongest (mean of per-seed maxima) | train seconds |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
q -F ' | ' -c "$SUMMARY" | sed 's/^/| /; s/$/ |/'

# RAID on the Pareto front: no other defense's point has both a higher NDCG@10
# and a smaller strongest-attacker distance than a raid point (means over seeds)
q -c "WITH p AS (SELECT defense, knob, value, avg(ndcg_at_10) AS ndcg, avg(leakage) AS leak
                 FROM $TABLE WHERE attribute = $(lit "$ATTR") GROUP BY defense, knob, value)
      SELECT 'raid points dominated by another defense''s point: ' || count(DISTINCT r.value)
             || coalesce(' (' || string_agg(DISTINCT r.knob || ' ' || r.value || ' by ' || b.defense
                                            || coalesce(' ' || b.knob || ' ' || b.value, ''), ', ') || ')', '')
      FROM p r JOIN p b ON b.defense <> 'raid' AND b.ndcg > r.ndcg AND b.leak < r.leak
      WHERE r.defense = 'raid'"

if [ -n "$PLOT" ]; then
    data=$(mktemp)
    trap 'rm -f "$data"' EXIT
    present=$(q -c "SELECT string_agg(defense, ' ' ORDER BY array_position(ARRAY['none','raid','center','gaussian',
                     'unlearn','adversarial','dp'], defense)) FROM (SELECT DISTINCT defense FROM $TABLE
                     WHERE attribute = $(lit "$ATTR")) d")
    for defense in $present; do
        echo "# $defense" >>"$data"
        q -F ' ' -c "SELECT avg(leakage), avg(ndcg_at_10) FROM $TABLE WHERE attribute = $(lit "$ATTR") AND defense = $(lit "$defense")
                     GROUP BY value ORDER BY avg(leakage)" >>"$data"
        printf '\n\n' >>"$data"
    done
    plot=""
    idx=0
    for defense in $present; do
        plot+="${plot:+, }'$data' index $idx using 1:2 with linespoints pt 7 title '$defense'"
        idx=$((idx + 1))
    done
    for ext in png svg; do
        term=svg
        [ $ext = png ] && term=pngcairo
        gnuplot <<GP
set terminal $term size 800,560 font ',11' noenhanced
set output '$PLOT.$ext'
set title "${TITLE:-Privacy and utility: $ATTR}"
set xlabel "strongest attacker's distance from chance (balanced accuracy, mean over seeds)"
set ylabel 'NDCG@10'
set key outside right
set grid
set xrange [-0.005:*]
set yrange [0:*]
set arrow from 0, graph 0 to 0, graph 1 nohead lw 3 lc rgb '#888888'
set label 'chance' at graph 0.01, graph 0.96
plot $plot
GP
    done
    echo "wrote $PLOT.png and $PLOT.svg" >&2
fi

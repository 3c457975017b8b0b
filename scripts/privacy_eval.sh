#!/usr/bin/env bash
# Measures leakage and quality, undefended against defended, with
# scikit-learn's attackers (scripts/attack_eval.py) on MovieLens 100K
# (gender, age in 7 groups, occupation, random labels: a hash of the user id,
# which the defense must leave at chance, and gender with age groups protected
# together) and on raid.synthetic data, over
# several seeds.  Prints one markdown table row per (data, attribute,
# defense): NDCG@10 (mean over seeds), its ratio to the undefended model, and
# per attacker the balanced accuracy's mean distance from chance (two-sided),
# with the strongest attacker and the shuffled-label noise floor.
#
# Usage: PG* set to a database where raid is installed (superuser):
#   scripts/privacy_eval.sh [--seeds 1,2,3] [--movielens DIR] [--defense-options JSON]
#                           [--synthetic-kinds mean,covariance,nonlinear]
# Writes tables and models named pe_* (dropped and recreated).
set -euo pipefail
source "$(dirname "$0")/common.sh"
SEEDS=1,2,3
ML_DIR=$(raid_data_dir)
DEF_OPTS='{}'
KINDS=""
while [ $# -gt 0 ]; do
    case $1 in
        --seeds) SEEDS=$2; shift 2 ;;
        --movielens) ML_DIR=$2; shift 2 ;;
        --defense-options) DEF_OPTS=$2; shift 2 ;;
        --synthetic-kinds) KINDS=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
PY=/usr/bin/python3
ATTACKERS="logistic mlp knn qda svm_rbf gbdt"

# train NAME TABLE USERS ATTR DEFENSE SEED: prints NDCG@10
train() {
    local opts
    opts=$(q "SELECT ('{\"seed\": $6, \"replace\": true}'::jsonb || CASE WHEN '$5' = 'raid' THEN '$DEF_OPTS'::jsonb ELSE '{}' END)::text")
    q "SELECT ndcg_at_10 FROM raid.train('$1', '$2', attributes => '$3', attribute_col => '$4',
        defense => '$5', options => '$opts')"
}

# row DATA TABLE USERS ATTRS: trains none and raid per seed, attacks both; ATTRS
# is one column or several ("gender, age7": protected together, one row each)
row() {
    local data=$1 table=$2 users=$3 attrs=$4 defense seed attr
    local list=(${attrs//,/ })
    declare -A ndcg json_all
    for defense in none raid; do
        local sum=0
        for attr in "${list[@]}"; do json_all[$attr]=""; done
        for seed in ${SEEDS//,/ }; do
            local n
            n=$(train "pe_${defense}_$seed" "$table" "$users" "$attrs" "$defense" "$seed")
            sum=$(awk -v a="$sum" -v b="$n" 'BEGIN { print a + b }')
            for attr in "${list[@]}"; do
                json_all[$attr]+=$($PY "$RAID_ROOT/scripts/attack_eval.py" "pe_${defense}_$seed" --attributes "$users" \
                    --attribute "$attr" --seeds "$seed" --shuffled --json)$'\n'
            done
        done
        ndcg[$defense]=$(awk -v s="$sum" -v k="$(echo "${SEEDS//,/ }" | wc -w)" 'BEGIN { printf "%.4f", s / k }')
        for attr in "${list[@]}"; do
            local label=$attr
            [ ${#list[@]} -gt 1 ] && label="$attr (of $attrs)"
            echo "${json_all[$attr]}" | $PY -c "
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
names = '$ATTACKERS'.split()
d = {n: sum(r['attackers'][n]['distance'] for r in runs) / len(runs) for n in names}
floor = max(sum(r['attackers'][n]['shuffled_distance'] for r in runs) / len(runs) for n in names)
strongest = max(d, key=d.get)
ratio = float('${ndcg[$defense]}') / float('${ndcg[none]:-${ndcg[$defense]}}')
print('| $data | $label | $defense | ${ndcg[$defense]} | %.3f | ' % ratio
      + ' | '.join('%.3f' % d[n] for n in names) + ' | %s %.3f | %.3f |' % (strongest, d[strongest], floor))
"
        done
    done
}

echo "| data | attribute | defense | NDCG@10 | x none | $(echo $ATTACKERS | sed 's/ / | /g') | strongest | noise floor |"
echo "|---|---|---|---|---|$(for _ in $ATTACKERS; do printf -- '---|'; done)---|---|"
if [ -n "$ML_DIR" ]; then
    if [ -z "$(q "SELECT to_regclass('movielens.ratings')")" ]; then
        "$RAID_ROOT/scripts/load_movielens.sh" "$ML_DIR" >/dev/null
    fi
    q "DROP VIEW IF EXISTS public.pe_ml_users" >/dev/null
    q "CREATE VIEW public.pe_ml_users AS SELECT user_id, gender, occupation,
        CASE WHEN age < 18 THEN 'a<18' WHEN age <= 24 THEN 'b18-24' WHEN age <= 34 THEN 'c25-34'
             WHEN age <= 44 THEN 'd35-44' WHEN age <= 49 THEN 'e45-49' WHEN age <= 55 THEN 'f50-55'
             ELSE 'g56+' END AS age7,
        'r' || (pg_catalog.hashint4(user_id) & 1) AS random FROM movielens.users" >/dev/null
    for attr in gender age7 occupation random "gender, age7"; do
        row "MovieLens 100K" movielens.ratings pe_ml_users "$attr"
    done
fi
for kind in ${KINDS//,/ }; do
    q "DROP TABLE IF EXISTS pe_syn_inter, pe_syn_users" >/dev/null
    q "SELECT * FROM raid.synthetic('pe_syn_inter', 'pe_syn_users', signal_kind => '$kind')" >/dev/null
    row "synthetic ($kind)" pe_syn_inter pe_syn_users attribute
done

#!/usr/bin/env bash
# scripts/compare.sh on synthetic data: one row per (defense, knob value, seed)
# with every attacker's figures, the summary table, and the plot files.
source "$(dirname "$0")/lib.sh"
fresh_db it_compare
q "SELECT * FROM raid.synthetic('ci', 'cu', n_users => 600, n_items => 200, interactions_per_user => 30,
    signal => 2)" >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$IT_ROOT/scripts/compare.sh" --interactions ci --attributes cu --attribute attribute --seeds 1,2 \
    --options '{"dim": 16, "epochs": 8}' --defenses none,raid,center,unlearn,adversarial,dp --raid-eta 0.25,1 \
    --unlearn-weight 1 --adv-weight 0.03 --dp-epsilon 1,1000 --plot "$out/tradeoff" >"$out/table.md" || fail "compare.sh failed"
cat "$out/table.md"
check "rows: (1 + 2 + 1 + 1 + 1 + 2 points) x 2 seeds" "$(q "SELECT count(*) FROM raid_compare")" 16
check_true "every attacker's balanced accuracy and F1 stored" \
    "(SELECT bool_and(logistic_bacc IS NOT NULL AND mlp_f1 IS NOT NULL AND knn_bacc IS NOT NULL
                      AND qda_f1 IS NOT NULL AND rbf_bacc IS NOT NULL) FROM raid_compare)"
check_true "the strongest attacker is the largest distance" \
    "(SELECT bool_and(abs(leakage - greatest(abs(logistic_bacc - chance), abs(mlp_bacc - chance),
                       abs(knn_bacc - chance), abs(qda_bacc - chance), abs(rbf_bacc - chance))) < 1e-9)
      FROM raid_compare)"
check_true "the undefended model leaks (signal 2)" \
    "(SELECT avg(leakage) > 0.2 FROM raid_compare WHERE defense = 'none')"
check_true "raid leaks less than none" \
    "(SELECT avg(leakage) FILTER (WHERE defense = 'raid') < 0.5 * avg(leakage) FILTER (WHERE defense = 'none')
      FROM raid_compare)"
check_true "unlearn keeps the scores at its default weight" \
    "(SELECT avg(ndcg_at_10) FILTER (WHERE defense = 'unlearn') > 0.8 * avg(ndcg_at_10) FILTER (WHERE defense = 'none')
      FROM raid_compare)"
check_true "dp at epsilon 1 costs more NDCG than at 1000" \
    "(SELECT avg(ndcg_at_10) FILTER (WHERE value = 1) < avg(ndcg_at_10) FILTER (WHERE value = 1000)
      FROM raid_compare WHERE defense = 'dp')"
check "summary rows, one per point" "$(grep -cE '^\| (none|raid|center|gaussian|unlearn|adversarial|dp) ' "$out/table.md")" 8
grep -q "^raid points dominated by another defense's point: [0-9]" "$out/table.md" || fail "no Pareto line"
check "no model left behind" "$(q "SELECT count(*) FROM raid.models WHERE name LIKE 'cmp\_%'")" 0
[ -s "$out/tradeoff.png" ] && [ -s "$out/tradeoff.svg" ] || fail "the plot files are missing"
grep -q "chance" "$out/tradeoff.svg" || fail "the SVG plot does not mark chance"
pass "plot written as PNG and SVG"
# a second run replaces the rows of the defenses it runs, and keeps the others
"$IT_ROOT/scripts/compare.sh" --interactions ci --attributes cu --attribute attribute --seeds 1 \
    --options '{"dim": 16, "epochs": 8}' --defenses none >"$out/table2.md" || fail "second run failed"
check "the defense's rows replaced" "$(q "SELECT count(*) FROM raid_compare WHERE defense = 'none'")" 1
check "the other defenses' rows kept" "$(q "SELECT count(*) FROM raid_compare")" 15
check "the summary covers every defense in the table" \
    "$(grep -cE '^\| (none|raid|center|gaussian|unlearn|adversarial|dp) ' "$out/table2.md")" 8

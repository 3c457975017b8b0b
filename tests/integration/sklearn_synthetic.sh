#!/usr/bin/env bash
# The scikit-learn cross-check of every attacker (tests/crosscheck/sklearn_audit.py)
# on synthetic data whose classes differ in spread only (signal_kind
# 'covariance'), where QDA and kNN find what logistic regression cannot, and
# in clusters only ('nonlinear').  Runs without MovieLens.
source "$(dirname "$0")/lib.sh"
fresh_db it_sklearn_syn
for kind in covariance nonlinear; do
    q "SELECT * FROM raid.synthetic('i_$kind', 'u_$kind', n_users => 1500, n_items => 300,
        interactions_per_user => 30, signal => 2, signal_kind => '$kind')" >/dev/null
    q "SELECT users FROM raid.train('m_$kind', 'i_$kind', attributes => 'u_$kind', attribute_col => 'attribute',
        options => '{\"dim\": 16, \"epochs\": 10}')" >/dev/null
    echo "== $kind"
    /usr/bin/python3 "$IT_ROOT/tests/crosscheck/sklearn_audit.py" "m_$kind" || fail "raid's attackers disagree with scikit-learn ($kind)"
done
pass "every attacker agrees with scikit-learn within 0.03 on both kinds"

#!/usr/bin/env bash
# Independent check of the attackers: scikit-learn on the same embeddings,
# folds and balanced training sets must give a balanced accuracy within 0.03
# of raid's, for each attacker (undefended MovieLens 100K model, gender).
source "$(dirname "$0")/lib.sh"
dir=$(raid_data_dir)
[ -n "$dir" ] || skip "skipped: MovieLens 100K not found (set RAID_DATA_DIR or provide ../shared/data/ml-100k)"
fresh_db it_sklearn
"$IT_ROOT/scripts/load_movielens.sh" "$dir"
q "SELECT users FROM raid.train('ml', 'movielens.ratings', attributes => 'movielens.users', attribute_col => 'gender')" >/dev/null
/usr/bin/python3 "$IT_ROOT/tests/crosscheck/sklearn_audit.py" ml

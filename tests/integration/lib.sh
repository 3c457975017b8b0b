# tests/integration/lib.sh: helpers for integration tests (sourced).
# The cluster is already running (PGHOST, PGPORT, PGUSER set by scripts/test.sh).
set -euo pipefail
IT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$IT_ROOT/scripts/common.sh"

# q SQL: runs one statement, prints unaligned tuples only
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

# fresh_db NAME: a new database with raid installed, made the default
fresh_db() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
    export PGDATABASE=$1
    q "CREATE EXTENSION raid"
}

fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "ok: $*"; }
skip() { echo "$*"; exit 77; }

# check DESCRIPTION ACTUAL EXPECTED
check() {
    if [ "$2" == "$3" ]; then pass "$1 ($2)"; else fail "$1: got '$2', expected '$3'"; fi
}

# check_true DESCRIPTION SQL-BOOLEAN-EXPRESSION
check_true() {
    local v
    v=$(q "SELECT ($2)::boolean")
    [ "$v" == "t" ] && pass "$1" || fail "$1: ($2) is '$v'"
}

now() { date +%s.%N; }

# snapshot_sql MODEL: a query whose answer changes if any model row, embedding
# or training-item row is written, or if MODEL is replaced
snapshot_sql() {
    echo "SELECT (SELECT count(*) FROM raid.models) || '/' || (SELECT count(*) FROM raid.user_embeddings)
          || '/' || (SELECT count(*) FROM raid.item_embeddings) || '/' || (SELECT count(*) FROM raid.user_items)
          || '/' || (SELECT model_id || ':' || (options->>'dim') FROM raid.models WHERE name = '$1')"
}

# backend_pid APP: waits up to 5 s for an active backend of application_name
# APP and prints its pid (nothing if none showed up)
backend_pid() {
    local pid=""
    for _ in $(seq 1 100); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active' LIMIT 1")
        [ -n "$pid" ] && break
        sleep 0.05
    done
    echo "$pid"
}

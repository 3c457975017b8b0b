# scripts/common.sh: shared by demo.sh, test.sh and bench scripts (sourced).
#
# raid_install_deps     installs the Debian packages the build and tests need
# raid_build_install    builds the extension (warnings are errors) and installs it
# raid_cluster_start    starts a throw-away cluster as user postgres; sets
#                       PGHOST/PGPORT/PGUSER/PGDATABASE and an EXIT trap that stops it
# raid_cluster_stop     stops it (fast, then immediate) and removes its files
# raid_data_dir         prints the MovieLens 100K directory, or nothing

RAID_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

raid_log() { printf '==> %s\n' "$*" >&2; }

raid_install_deps() {
    local pkgs="postgresql-15 postgresql-client-15 postgresql-server-dev-15 libeigen3-dev
        postgresql-15-cron g++ make cmake pkg-config libgtest-dev libbenchmark-dev
        python3-sklearn python3-numpy python3-psycopg2 $*"
    local missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages:$missing (run as root to install them)" >&2
        return 1
    fi
    raid_log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q $missing >/dev/null
}

raid_build_install() {
    raid_log "building raid"
    make -C "$RAID_ROOT" -s -j2 >/dev/null
    make -C "$RAID_ROOT" -s install >/dev/null
}

raid_cluster_stop() {
    [ -n "${RAID_PGD:-}" ] || return 0
    if [ -f "$RAID_PGD/data/postmaster.pid" ]; then
        (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RAID_PGD/data" -m fast -w -t 20 stop >/dev/null 2>&1) ||
            (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RAID_PGD/data" -m immediate -w stop >/dev/null 2>&1) || true
    fi
    [ -n "${RAID_KEEP_CLUSTER:-}" ] || rm -rf "$RAID_PGD"
    RAID_PGD=""
}

# raid_cluster_init DIR PORT PRELOAD [CONF]: a throw-away cluster in DIR (made
# postgres's), listening only on a socket in DIR, with shared_preload_libraries =
# PRELOAD and the extra postgresql.conf lines CONF, started.  Every cluster of
# the tests is made here (scripts/test.sh's and the tests' own second ones).
raid_cluster_init() {
    local dir=$1 port=$2 preload=$3 conf=${4:-}
    chown postgres:postgres "$dir"
    chmod 755 "$dir"
    (cd / && runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres \
        --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null)
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_preload_libraries = '$preload'
$conf
CONF
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null)
}

# raid_cluster_halt DIR: stops the cluster in DIR at once and removes it.
raid_cluster_halt() {
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1) || true
    rm -rf "$1"
}

raid_cluster_start() {
    RAID_PGD=$(mktemp -d /tmp/raid-pg.XXXXXX)
    trap raid_cluster_stop EXIT
    trap 'exit 130' INT TERM
    local port=${RAID_PGPORT:-$((54000 + RANDOM % 1000))}
    raid_cluster_init "$RAID_PGD" "$port" 'raid,pg_cron' "cron.database_name = 'postgres'
cron.host = '$RAID_PGD'
cron.use_background_workers = on
max_worker_processes = 16
shared_buffers = 256MB
maintenance_work_mem = 256MB"
    export RAID_PGD PGHOST=$RAID_PGD PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    raid_log "cluster on $RAID_PGD port $port"
}

raid_data_dir() {
    local d
    for d in "${RAID_DATA_DIR:-}" "$RAID_ROOT/../shared/data/ml-100k"; do
        if [ -n "$d" ] && [ -f "$d/u.data" ] && [ -f "$d/u.user" ] && [ -f "$d/u.item" ]; then
            (cd "$d" && pwd)
            return 0
        fi
    done
    return 0
}

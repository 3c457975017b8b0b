#!/usr/bin/env bash
# Loads MovieLens 100K into schema "movielens" of the database psql connects to
# (PGHOST, PGPORT, PGUSER, PGDATABASE as usual).
#
#   scripts/load_movielens.sh [DIR]
#
# DIR holds u.data, u.user and u.item (default: $RAID_DATA_DIR).  Download the
# "MovieLens 100K" zip from GroupLens (grouplens.org, datasets, MovieLens) and
# unzip it; its terms forbid redistribution, so raid never ships it.
#
# Creates (replacing earlier copies):
#   movielens.ratings(user_id int, item_id int, rating smallint, ts bigint)
#   movielens.users(user_id int, age int, gender text, occupation text, zip text)
#   movielens.items(item_id int, title text, release_date text, url text)
set -euo pipefail
dir=${1:-${RAID_DATA_DIR:-}}
if [ -z "$dir" ] || [ ! -f "$dir/u.data" ] || [ ! -f "$dir/u.user" ] || [ ! -f "$dir/u.item" ]; then
    echo "usage: $0 DIR (a directory with MovieLens 100K's u.data, u.user and u.item)" >&2
    exit 2
fi
# root has no role of its own on a stock cluster: connect as postgres unless told
if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ]; then
    export PGUSER=postgres
fi
psql -X -q -v ON_ERROR_STOP=1 <<SQL
BEGIN;
DROP SCHEMA IF EXISTS movielens CASCADE;
CREATE SCHEMA movielens;
CREATE TABLE movielens.ratings (user_id int NOT NULL, item_id int NOT NULL,
                                rating smallint NOT NULL, ts bigint NOT NULL);
CREATE TABLE movielens.users (user_id int PRIMARY KEY, age int NOT NULL, gender text NOT NULL,
                              occupation text NOT NULL, zip text NOT NULL);
CREATE TEMP TABLE items_raw (item_id int, title text, release_date text, video_release_date text,
                             url text, g1 int, g2 int, g3 int, g4 int, g5 int, g6 int, g7 int,
                             g8 int, g9 int, g10 int, g11 int, g12 int, g13 int, g14 int,
                             g15 int, g16 int, g17 int, g18 int, g19 int);
\copy movielens.ratings FROM '$dir/u.data' WITH (FORMAT text, DELIMITER E'\t')
\copy movielens.users FROM '$dir/u.user' WITH (FORMAT text, DELIMITER '|')
\copy items_raw FROM '$dir/u.item' WITH (FORMAT text, DELIMITER '|', ENCODING 'LATIN1')
CREATE TABLE movielens.items AS
    SELECT item_id, title, nullif(release_date, '') AS release_date, nullif(url, '') AS url
    FROM items_raw;
ALTER TABLE movielens.items ADD PRIMARY KEY (item_id);
CREATE INDEX ON movielens.ratings (user_id);
COMMIT;
ANALYZE movielens.ratings;
SQL
psql -X -q -At -c "SELECT format('loaded %s ratings, %s users, %s items into schema movielens',
    (SELECT count(*) FROM movielens.ratings), (SELECT count(*) FROM movielens.users),
    (SELECT count(*) FROM movielens.items))"

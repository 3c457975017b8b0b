-- raid: install script (built into raid--<version>.sql by the Makefile).
\echo Use "CREATE EXTENSION raid" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Tables.  Key columns are model_id, ...; rows belong to their owner (RLS).
-- ---------------------------------------------------------------------------

CREATE TABLE raid.models (
    model_id          bigserial PRIMARY KEY,
    name              text NOT NULL CHECK (name <> '' AND octet_length(name) <= 63),
    owner             regrole NOT NULL,
    base_model        text NOT NULL DEFAULT 'mf',
    defense           text NOT NULL DEFAULT 'none',
    options           jsonb NOT NULL DEFAULT '{}',
    interactions_table text,
    user_col          name,
    item_col          name,
    attributes_table  text,
    attribute_col     text,
    users             bigint,
    items             bigint,
    interactions      bigint,
    metrics           jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner, name)
);
COMMENT ON TABLE raid.models IS 'trained models: options with defaults filled in, source, counts, metrics';

CREATE TABLE raid.user_embeddings (
    model_id  bigint NOT NULL REFERENCES raid.models ON DELETE CASCADE,
    user_id   bigint NOT NULL,
    embedding real[] NOT NULL,
    PRIMARY KEY (model_id, user_id)
);
COMMENT ON TABLE raid.user_embeddings IS 'one embedding per user and model';

CREATE TABLE raid.item_embeddings (
    model_id  bigint NOT NULL REFERENCES raid.models ON DELETE CASCADE,
    item_id   bigint NOT NULL,
    embedding real[] NOT NULL,
    PRIMARY KEY (model_id, item_id)
);
COMMENT ON TABLE raid.item_embeddings IS 'one embedding per item and model';

CREATE TABLE raid.user_items (
    model_id  bigint NOT NULL REFERENCES raid.models ON DELETE CASCADE,
    user_id   bigint NOT NULL,
    item_ids  bigint[] NOT NULL,
    PRIMARY KEY (model_id, user_id)
);
COMMENT ON TABLE raid.user_items IS 'the items each user trained on (excluded by raid.recommend)';

-- The role whose rows the caller sees and creates: current_user, as an OID
-- (a role renamed keeps its rows; a new role of a dropped role's name does
-- not inherit them).
CREATE FUNCTION raid.caller()
RETURNS regrole
AS 'MODULE_PATHNAME', 'raid_caller'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION raid.caller IS 'the current role as regrole: the owner of the rows the caller creates and sees';

-- Every role may train and keep its own models.  Roles read raid's tables
-- (row-level security keeps each role to its own rows; superusers see all)
-- and change them only through raid's functions, which write as the
-- extension's owner after checking the caller: PUBLIC has SELECT and nothing
-- else, so no role can lock, fill or probe the tables directly.
GRANT USAGE ON SCHEMA raid TO PUBLIC;
GRANT SELECT ON raid.models, raid.user_embeddings, raid.item_embeddings, raid.user_items TO PUBLIC;

ALTER TABLE raid.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_owner ON raid.models FOR SELECT
    USING (owner = raid.caller());

ALTER TABLE raid.user_embeddings ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_embeddings_owner ON raid.user_embeddings
    USING (model_id IN (SELECT model_id FROM raid.models));
ALTER TABLE raid.item_embeddings ENABLE ROW LEVEL SECURITY;
CREATE POLICY item_embeddings_owner ON raid.item_embeddings
    USING (model_id IN (SELECT model_id FROM raid.models));
ALTER TABLE raid.user_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_items_owner ON raid.user_items
    USING (model_id IN (SELECT model_id FROM raid.models));

-- The models' HNSW indexes (raid.create_index): the index itself is a partial
-- index on raid.item_embeddings; this row says how it was built.
CREATE TABLE raid.item_indexes (
    model_id        bigint PRIMARY KEY REFERENCES raid.models ON DELETE CASCADE,
    index_name      name NOT NULL,
    m               integer NOT NULL,
    ef_construction integer NOT NULL,
    seconds         double precision NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE raid.item_indexes IS 'the HNSW index of a model''s item embeddings (raid.create_index)';
GRANT SELECT ON raid.item_indexes TO PUBLIC;
ALTER TABLE raid.item_indexes ENABLE ROW LEVEL SECURITY;
CREATE POLICY item_indexes_owner ON raid.item_indexes
    USING (model_id IN (SELECT model_id FROM raid.models));

-- pg_dump keeps the users' models.
SELECT pg_catalog.pg_extension_config_dump('raid.models', '');
SELECT pg_catalog.pg_extension_config_dump('raid.models_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('raid.user_embeddings', '');
SELECT pg_catalog.pg_extension_config_dump('raid.item_embeddings', '');
SELECT pg_catalog.pg_extension_config_dump('raid.user_items', '');

-- ---------------------------------------------------------------------------
-- Training
-- ---------------------------------------------------------------------------

CREATE TYPE raid.train_summary AS (
    model                   text,
    model_id                bigint,
    users                   bigint,
    items                   bigint,
    interactions            bigint,
    skipped                 bigint,
    seconds                 double precision,
    ndcg_at_10              double precision,
    hr_at_10                double precision,
    popularity_ndcg_at_10   double precision,
    popularity_hr_at_10     double precision
);

CREATE FUNCTION raid.train(
    model         text,
    interactions  regclass,
    user_col      name DEFAULT 'user_id',
    item_col      name DEFAULT 'item_id',
    attributes    regclass DEFAULT NULL,
    attribute_col text DEFAULT NULL,
    defense       text DEFAULT 'none',
    options       jsonb DEFAULT '{}')
RETURNS raid.train_summary
AS 'MODULE_PATHNAME', 'raid_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.train IS 'trains and stores a model from an interaction table, returns its summary';

-- ---------------------------------------------------------------------------
-- Serving and housekeeping
-- ---------------------------------------------------------------------------

CREATE FUNCTION raid.recommend(model text, user_id bigint, k integer DEFAULT 10, exact boolean DEFAULT false)
RETURNS TABLE (item_id bigint, score real)
AS 'MODULE_PATHNAME', 'raid_recommend'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.recommend IS 'top-k items for a user, best first, excluding the items the user trained on (through the model''s index when it has one, unless exact)';

CREATE FUNCTION raid.recommend_all(model text, k integer DEFAULT 10)
RETURNS TABLE (user_id bigint, rank integer, item_id bigint, score real)
AS 'MODULE_PATHNAME', 'raid_recommend_all'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.recommend_all IS 'top-k items for every user of the model (rank 1 = best), excluding the items each user trained on';

CREATE FUNCTION raid.similar_items(model text, item_id bigint, k integer DEFAULT 10)
RETURNS TABLE (similar_item_id bigint, similarity real)
AS 'MODULE_PATHNAME', 'raid_similar_items'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.similar_items IS 'the k items whose embeddings are most similar (cosine) to the item''s';

CREATE TYPE raid.fold_in_summary AS (
    model          text,
    users          bigint,
    new_users      bigint,
    skipped_users  bigint,
    unknown_items  bigint,
    seconds        double precision
);

CREATE FUNCTION raid.fold_in(
    model         text,
    interactions  regclass,
    user_col      name DEFAULT 'user_id',
    item_col      name DEFAULT 'item_id',
    options       jsonb DEFAULT '{}')
RETURNS raid.fold_in_summary
AS 'MODULE_PATHNAME', 'raid_fold_in_table'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.fold_in(text, regclass, name, name, jsonb) IS 'embeddings for the users of an interaction table, solved against the model''s items and stored in the model';

CREATE FUNCTION raid.fold_in_user(model text, user_id bigint, item_ids bigint[], options jsonb DEFAULT '{}')
RETURNS raid.fold_in_summary
AS 'MODULE_PATHNAME', 'raid_fold_in_user'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.fold_in_user IS 'the embedding of one user from its items, solved against the model''s items and stored in the model';

CREATE FUNCTION raid.create_index(model text, m integer DEFAULT 32, ef_construction integer DEFAULT 100)
RETURNS regclass
AS 'MODULE_PATHNAME', 'raid_create_index'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.create_index IS 'builds an HNSW index (pgvector) over the model''s item embeddings, which raid.recommend then uses';

CREATE FUNCTION raid.drop_index(model text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'raid_drop_index'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.drop_index IS 'drops the model''s HNSW index';

-- A model's index (raid.create_index) goes with its model, however the
-- model's row is deleted.
CREATE FUNCTION raid.drop_item_index()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    index_name text := pg_catalog.format('raid.%I', 'item_embeddings_hnsw_' || OLD.model_id);
BEGIN
    IF pg_catalog.to_regclass(index_name) IS NOT NULL THEN
        EXECUTE 'DROP INDEX ' || index_name;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION raid.drop_item_index() FROM PUBLIC;
CREATE TRIGGER drop_item_index AFTER DELETE ON raid.models
    FOR EACH ROW EXECUTE FUNCTION raid.drop_item_index();

CREATE FUNCTION raid.drop_model(model text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'raid_drop_model'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.drop_model IS 'drops a model and its embeddings';

-- ---------------------------------------------------------------------------
-- Synthetic data
-- ---------------------------------------------------------------------------

CREATE FUNCTION raid.synthetic(
    interactions_table    text,
    users_table           text,
    n_users               bigint DEFAULT 1000,
    n_items               bigint DEFAULT 500,
    interactions_per_user integer DEFAULT 50,
    classes               integer DEFAULT 2,
    signal                double precision DEFAULT 1.0,
    seed                  bigint DEFAULT 42,
    signal_kind           text DEFAULT 'mean',
    OUT users             bigint,
    OUT items             bigint,
    OUT interactions      bigint)
AS 'MODULE_PATHNAME', 'raid_synthetic_sql'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION raid.synthetic IS 'creates an interactions table and a users table whose categorical attribute shapes preferences';

-- ---------------------------------------------------------------------------
-- Leakage audits
-- ---------------------------------------------------------------------------

CREATE TABLE raid.audits (
    audit_id          bigserial PRIMARY KEY,
    owner             regrole NOT NULL,
    model_id          bigint REFERENCES raid.models ON DELETE SET NULL,
    model             text,
    embeddings        text,
    attributes_table  text NOT NULL,
    attribute         text NOT NULL,
    attacker          text NOT NULL,
    classes           integer NOT NULL,
    users             bigint NOT NULL,
    folds             integer NOT NULL,
    f1                double precision NOT NULL,
    balanced_accuracy double precision NOT NULL,
    auc               double precision NOT NULL,
    chance            double precision NOT NULL,
    leakage           double precision NOT NULL,
    strongest         boolean NOT NULL DEFAULT false,
    shuffled          boolean NOT NULL DEFAULT false,
    seconds           double precision NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    details           jsonb NOT NULL DEFAULT '{}',
    CHECK (model IS NOT NULL OR embeddings IS NOT NULL)
);
COMMENT ON TABLE raid.audits IS 'attribute-inference attacks on user embeddings: one row per attacker and audit';
CREATE INDEX ON raid.audits (model_id);

GRANT SELECT ON raid.audits TO PUBLIC;
ALTER TABLE raid.audits ENABLE ROW LEVEL SECURITY;
CREATE POLICY audits_owner ON raid.audits FOR SELECT
    USING (owner = raid.caller());
SELECT pg_catalog.pg_extension_config_dump('raid.audits', '');
SELECT pg_catalog.pg_extension_config_dump('raid.audits_audit_id_seq', '');

CREATE FUNCTION raid.audit(
    model         text,
    attributes    regclass DEFAULT NULL,
    attribute_col text DEFAULT NULL,
    options       jsonb DEFAULT '{}')
RETURNS SETOF raid.audits
AS 'MODULE_PATHNAME', 'raid_audit_model'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.audit IS 'attacks a model''s user embeddings to infer an attribute; stores and returns one row per attacker';

CREATE FUNCTION raid.audit_embeddings(
    embeddings       regclass,
    id_col           name,
    embedding_col    name,
    attributes       regclass,
    attribute_id_col name,
    attribute_col    name,
    options          jsonb DEFAULT '{}')
RETURNS SETOF raid.audits
AS 'MODULE_PATHNAME', 'raid_audit_embeddings'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.audit_embeddings IS 'attacks any table of user embeddings (real[], float8[] or pgvector vector)';

-- The setup, checked: one row per check with what to change when it fails.
CREATE FUNCTION raid.check_setup(
    OUT check_name text, OUT ok boolean, OUT message text, OUT fix text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    preload text := pg_catalog.current_setting('shared_preload_libraries');
    jobs_db text;
    cron_db text := pg_catalog.current_setting('cron.database_name', true);
    cron_bgw text := pg_catalog.current_setting('cron.use_background_workers', true);
    has_cron boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron');
    cron_runs bigint := 0;
BEGIN
    PERFORM raid.caller();   -- loads the library, so that raid's settings are defined
    -- raid.database_name exists only under the preload (a leftover line is a placeholder)
    jobs_db := CASE WHEN preload ~ '(^|[ ,])raid($|[ ,])'
                    THEN pg_catalog.current_setting('raid.database_name', true) END;
    check_name := 'preload';
    ok := preload ~ '(^|[ ,])raid($|[ ,])';
    message := CASE WHEN ok THEN 'raid is in shared_preload_libraries: background jobs can run'
                    ELSE 'raid is not in shared_preload_libraries: raid.submit_train and raid.submit_audit raise 55000' END;
    fix := CASE WHEN ok THEN NULL ELSE 'shared_preload_libraries = ''raid,pg_cron'' in postgresql.conf, then restart' END;
    RETURN NEXT;

    check_name := 'jobs_database';
    ok := jobs_db IS NOT DISTINCT FROM pg_catalog.current_database();
    message := CASE WHEN jobs_db IS NULL THEN 'raid.database_name is unknown here (raid is not preloaded)'
                    WHEN ok THEN format('background jobs run in this database (raid.database_name = %L)', jobs_db)
                    ELSE format('background jobs run in database %L, not in this one', jobs_db) END;
    fix := CASE WHEN ok THEN NULL
                ELSE format('raid.database_name = %L in postgresql.conf, then restart', pg_catalog.current_database()) END;
    RETURN NEXT;

    check_name := 'pg_cron';
    ok := has_cron AND cron_db IS NOT DISTINCT FROM pg_catalog.current_database();
    message := CASE WHEN ok THEN 'pg_cron is installed in this database: raid.schedule_audit works here'
                    WHEN cron_db IS NULL THEN 'pg_cron is not preloaded (optional: scheduled audits need it)'
                    WHEN cron_db IS DISTINCT FROM pg_catalog.current_database()
                        THEN format('pg_cron serves database %L, not this one (optional)', cron_db)
                    ELSE 'pg_cron is preloaded but not installed in this database (optional)' END;
    fix := CASE WHEN ok THEN NULL
                WHEN cron_db IS NULL THEN 'add pg_cron to shared_preload_libraries, then restart'
                WHEN cron_db IS DISTINCT FROM pg_catalog.current_database()
                    THEN format('cron.database_name = %L in postgresql.conf, then restart', pg_catalog.current_database())
                ELSE 'CREATE EXTENSION pg_cron; (as a superuser)' END;
    RETURN NEXT;

    IF has_cron THEN
        EXECUTE 'SELECT count(*) FROM cron.job_run_details WHERE status = ''succeeded''' INTO cron_runs;
    END IF;
    check_name := 'pg_cron_runs_jobs';
    ok := cron_bgw = 'on' OR cron_runs > 0;
    message := CASE WHEN cron_bgw = 'on' THEN 'pg_cron runs jobs in background workers: no connection needed'
                    WHEN cron_runs > 0 THEN 'pg_cron has run jobs successfully here'
                    WHEN cron_bgw IS NULL THEN 'pg_cron is not preloaded'
                    ELSE 'pg_cron starts each job over a new connection (cron.host), which a stock pg_hba.conf refuses (scram over TCP): scheduled audits would fail' END;
    fix := CASE WHEN ok THEN NULL ELSE 'cron.use_background_workers = on in postgresql.conf, then restart' END;
    RETURN NEXT;

    check_name := 'pgvector';
    ok := true;
    message := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'vector')
                    THEN 'pgvector is available: raid.audit_embeddings reads vector columns'
                    ELSE 'pgvector is not installed (optional: only for vector columns)' END;
    fix := NULL;
    RETURN NEXT;

    check_name := 'threads';
    ok := true;
    message := format('raid.max_threads = %s (0: all cores)', pg_catalog.current_setting('raid.max_threads', true));
    fix := NULL;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION raid.check_setup IS 'checks the server setup raid and its companions need: one row per check, with the fix when it fails';

-- Reading results: one row per model, and models side by side.
CREATE VIEW raid.model_summary WITH (security_invoker = true) AS
SELECT m.name AS model, m.defense, m.attribute_col AS attribute, m.users, m.items,
       round((m.metrics->>'ndcg_at_10')::numeric, 4) AS ndcg_at_10,
       round((m.metrics->>'hr_at_10')::numeric, 4) AS hr_at_10,
       a.attribute AS audited, a.attacker AS strongest_attacker,
       round(a.balanced_accuracy::numeric, 3) AS balanced_accuracy,
       round(a.chance::numeric, 3) AS chance,
       round(a.leakage::numeric, 3) AS leakage,
       round(COALESCE((m.metrics->>'load_seconds')::numeric, 0) + COALESCE((m.metrics->>'build_seconds')::numeric, 0)
             + COALESCE((m.metrics->>'train_seconds')::numeric, 0) + COALESCE((m.metrics->>'evaluate_seconds')::numeric, 0)
             + COALESCE((m.metrics->>'store_seconds')::numeric, 0), 1) AS seconds,
       m.created_at
FROM raid.models m
LEFT JOIN LATERAL (
    SELECT au.attribute, au.attacker, au.balanced_accuracy, au.chance, au.leakage
    FROM raid.audits au
    WHERE au.model_id = m.model_id AND au.strongest AND NOT au.shuffled
    ORDER BY au.audit_id DESC LIMIT 1) a ON true;
COMMENT ON VIEW raid.model_summary IS 'one row per model of the current role: quality, the latest audit''s strongest attacker and its leakage (|balanced accuracy - chance|), training seconds';
GRANT SELECT ON raid.model_summary TO PUBLIC;

CREATE FUNCTION raid.compare(VARIADIC models text[])
RETURNS TABLE (model text, defense text, ndcg_at_10 numeric, ndcg_vs_first numeric,
               attribute text, strongest_attacker text, balanced_accuracy numeric,
               chance numeric, leakage numeric, leakage_removed_pct numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    missing text;
BEGIN
    SELECT n INTO missing FROM unnest(models) AS n
    WHERE NOT EXISTS (SELECT 1 FROM raid.models m WHERE m.name = n AND m.owner = raid.caller())
    LIMIT 1;
    IF missing IS NOT NULL OR models IS NULL OR cardinality(models) = 0 THEN
        RAISE EXCEPTION 'model "%" does not exist', COALESCE(missing, '')
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH named AS (
        SELECT u.n AS name, u.ord FROM unnest(models) WITH ORDINALITY AS u(n, ord)),
    ms AS (
        SELECT named.ord, mm.model_id, mm.name, mm.defense, (mm.metrics->>'ndcg_at_10')::float8 AS ndcg
        FROM named JOIN raid.models mm ON mm.name = named.name AND mm.owner = raid.caller()),
    latest AS (
        SELECT DISTINCT ON (a.model_id, a.attribute)
               a.model_id, a.attribute, a.attacker, a.balanced_accuracy, a.chance, a.leakage
        FROM raid.audits a
        WHERE a.model_id IN (SELECT ms.model_id FROM ms) AND a.strongest AND NOT a.shuffled
        ORDER BY a.model_id, a.attribute, a.audit_id DESC),
    r AS (
        SELECT ms.ord, ms.name, ms.defense, ms.ndcg, l.attribute, l.attacker, l.balanced_accuracy,
               l.chance, l.leakage
        FROM ms LEFT JOIN latest l ON l.model_id = ms.model_id)
    SELECT r.name, r.defense, round(r.ndcg::numeric, 4),
           round((r.ndcg / NULLIF(f.ndcg, 0))::numeric, 3),
           r.attribute, r.attacker, round(r.balanced_accuracy::numeric, 3),
           round(r.chance::numeric, 3), round(r.leakage::numeric, 3),
           round((100.0 * (1.0 - r.leakage / NULLIF(fl.leakage, 0)))::numeric, 1)
    FROM r
    CROSS JOIN (SELECT ms.ndcg FROM ms WHERE ms.ord = 1) f
    LEFT JOIN r fl ON fl.ord = 1 AND fl.attribute = r.attribute
    ORDER BY r.ord, r.attribute;
END;
$$;
COMMENT ON FUNCTION raid.compare IS 'models side by side: quality relative to the first named, each audited attribute''s strongest attacker, leakage and the share of the first model''s leakage removed';

-- Scheduled audits with pg_cron (which must be installed in this database).
CREATE FUNCTION raid.schedule_audit(model text, schedule text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
    ran boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and run CREATE EXTENSION pg_cron.';
    END IF;
    IF NOT pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for schema cron'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('A superuser can allow it: GRANT USAGE ON SCHEMA cron TO %I;', current_user);
    END IF;
    -- pg_cron starts each job over a new connection unless it runs jobs in background
    -- workers; a stock pg_hba.conf (scram over TCP) refuses that connection, and every
    -- run would fail.  Unless a job of this role has already succeeded here, refuse.
    IF pg_catalog.current_setting('cron.use_background_workers', true) IS DISTINCT FROM 'on' THEN
        BEGIN
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job_run_details WHERE status = ''succeeded'' AND username = current_user)'
                INTO ran;
        EXCEPTION WHEN insufficient_privilege OR undefined_table OR undefined_column THEN
            ran := false;
        END;
        IF NOT ran THEN
            RAISE EXCEPTION 'pg_cron would start each audit over a new connection, which nothing shows will be accepted'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'cron.use_background_workers is off and no pg_cron job of this role has succeeded in this database; a stock pg_hba.conf (scram over TCP) refuses such connections, and every run would fail.',
                      HINT = 'Set cron.use_background_workers = on in postgresql.conf and restart the server (SELECT * FROM raid.check_setup() shows the setup).';
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM raid.models m WHERE m.name = model AND m.owner = raid.caller()) THEN
        RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM raid.models m WHERE m.name = model AND m.owner = raid.caller()
                   AND m.attributes_table IS NOT NULL) THEN
        RAISE EXCEPTION 'model "%" was trained without attributes, so raid.audit(''%'') has nothing to attack', model, model
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Schedule the call with the attribute named: SELECT cron.schedule(''nightly-audit'', ''0 3 * * *'', %L).',
                                format('SELECT raid.audit(%L, ''users'', ''gender'')', model));
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
        INTO job
        USING 'raid-audit:' || model, schedule, format('SELECT raid.audit(%L)', model);
    RETURN job;
END;
$$;
COMMENT ON FUNCTION raid.schedule_audit IS 'runs raid.audit(model) on a cron schedule with pg_cron; returns the cron job id';

CREATE FUNCTION raid.unschedule_audit(model text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    done boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = current_user)'
        INTO done USING 'raid-audit:' || model;
    IF NOT done THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' INTO done USING 'raid-audit:' || model;
    RETURN done;
END;
$$;
COMMENT ON FUNCTION raid.unschedule_audit IS 'removes the pg_cron job of raid.schedule_audit(model); false if there is none';

-- ---------------------------------------------------------------------------
-- Background jobs.  raid.submit_train() and raid.submit_audit() queue the
-- same work as raid.train() and raid.audit(); a launcher (raid in
-- shared_preload_libraries) runs it in background workers of database
-- raid.database_name, as the submitting role.  See README, "Background jobs".
-- ---------------------------------------------------------------------------

CREATE TABLE raid.job_records (
    job_id       bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('train', 'audit')),
    args         jsonb NOT NULL,
    owner        regrole NOT NULL,
    database     name NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress     double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    phase        text,
    epoch        integer,
    message      text,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    worker_pid   integer,
    result       jsonb
);
COMMENT ON TABLE raid.job_records IS 'background jobs (read them through raid.jobs, which adds live progress)';
CREATE INDEX ON raid.job_records (job_id) WHERE status IN ('queued', 'running');

GRANT SELECT ON raid.job_records TO PUBLIC;
ALTER TABLE raid.job_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_records_owner ON raid.job_records FOR SELECT
    USING (owner = raid.caller());
-- pg_dump keeps the history of finished jobs (not queued or running ones).
SELECT pg_catalog.pg_extension_config_dump('raid.job_records',
    'WHERE status IN (''succeeded'', ''failed'', ''cancelled'')');
SELECT pg_catalog.pg_extension_config_dump('raid.job_records_job_id_seq', '');

CREATE FUNCTION raid.job_progress(
    OUT job_id bigint, OUT worker_pid integer, OUT progress double precision,
    OUT epoch integer, OUT phase text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'raid_job_progress'
LANGUAGE C VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.job_progress IS 'live progress of the running jobs of this database, from shared memory';

CREATE VIEW raid.jobs WITH (security_invoker = true) AS
SELECT j.job_id, j.kind, j.args, j.owner, j.database, j.status,
       CASE WHEN j.status = 'running' THEN COALESCE(p.progress, j.progress) ELSE j.progress END AS progress,
       CASE WHEN j.status = 'running' THEN COALESCE(p.phase, j.phase) ELSE j.phase END AS phase,
       CASE WHEN j.status = 'running' THEN COALESCE(p.epoch, j.epoch) ELSE j.epoch END AS epoch,
       j.message, j.submitted_at, j.started_at, j.finished_at, j.worker_pid, j.result
FROM raid.job_records j
LEFT JOIN raid.job_progress() p ON p.job_id = j.job_id AND j.status = 'running';
COMMENT ON VIEW raid.jobs IS 'background jobs of the current role (superusers: all), with live progress';
GRANT SELECT ON raid.jobs TO PUBLIC;

-- Every raid operation running in this database that the caller may see:
-- synchronous calls (their progress is the "[raid: ...]" prefix of
-- pg_stat_activity.query; other roles' calls need pg_read_all_stats) and the
-- caller's running background jobs.
CREATE VIEW raid.progress WITH (security_invoker = true) AS
SELECT a.pid, NULL::bigint AS job_id, a.usename::text AS role,
       m[1] AS phase, m[2]::integer AS epoch, m[3]::integer AS percent,
       m[4]::double precision AS seconds_left, a.query_start AS started_at, m[5] AS query
FROM pg_catalog.pg_stat_activity a,
     LATERAL pg_catalog.regexp_match(a.query,
         '^\[raid: ([^,\]]*)(?:, epoch ([0-9]+))?(?:, ([0-9]+)%)?(?:, about ([0-9]+) s left)?\] (.*)$') AS m
WHERE a.datname = pg_catalog.current_database() AND a.query LIKE '[raid: %' AND m IS NOT NULL
UNION ALL
SELECT j.worker_pid, j.job_id, j.owner::text, j.phase, j.epoch,
       pg_catalog.floor(100 * j.progress)::integer,
       CASE WHEN j.progress >= 0.02 AND j.progress < 1
            THEN extract(epoch FROM pg_catalog.now() - j.started_at)::double precision
                 * (1 - j.progress) / j.progress END,
       j.started_at, 'raid job ' || j.job_id || ': ' || j.kind || ' ' || (j.args->>'model')
FROM raid.jobs j
WHERE j.status = 'running' AND j.database = pg_catalog.current_database();
COMMENT ON VIEW raid.progress IS 'running raid operations in this database: synchronous calls and background jobs, with phase, percentage and time left';
GRANT SELECT ON raid.progress TO PUBLIC;

CREATE FUNCTION raid.job_check_submit()
RETURNS void
AS 'MODULE_PATHNAME', 'raid_job_check_submit'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.job_check_submit IS 'raises 55000 unless jobs can be submitted here (preload, raid.database_name)';

-- Queues a job of the caller in this database (the submit functions call it
-- after their checks; the worker checks the arguments again, as the caller).
CREATE FUNCTION raid.enqueue_job(kind text, args jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'raid_enqueue_job'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.enqueue_job IS 'queues a train or audit job of the current role (used by raid.submit_train and raid.submit_audit)';

-- Checks shared by the submit functions: required arguments, no temporary
-- tables (a worker is another session), then the server's setup.
CREATE FUNCTION raid.job_check_args(model text, relations regclass[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    temp_rel regclass;
BEGIN
    IF model IS NULL THEN
        RAISE EXCEPTION 'argument "model" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model = '' THEN
        RAISE EXCEPTION 'model name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(model) > 63 THEN
        RAISE EXCEPTION 'model name is too long (% bytes)', octet_length(model)
            USING ERRCODE = 'name_too_long', DETAIL = 'A model name has at most 63 bytes.';
    END IF;
    SELECT c.oid INTO temp_rel FROM pg_class c
    WHERE c.oid = ANY (relations) AND c.relpersistence = 't' LIMIT 1;
    IF temp_rel IS NOT NULL THEN
        RAISE EXCEPTION 'a background job cannot read temporary table %', temp_rel
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Use a regular table, or run the work in this session.';
    END IF;
END;
$$;

CREATE FUNCTION raid.check_train_args(
    model         text,
    interactions  regclass,
    user_col      name DEFAULT 'user_id',
    item_col      name DEFAULT 'item_id',
    attributes    regclass DEFAULT NULL,
    attribute_col text DEFAULT NULL,
    defense       text DEFAULT 'none',
    options       jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'raid_check_train_args'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.check_train_args IS 'raises the error raid.train would raise for these arguments before reading any data (used by raid.submit_train)';

CREATE FUNCTION raid.check_audit_args(
    model         text,
    attributes    regclass DEFAULT NULL,
    attribute_col text DEFAULT NULL,
    options       jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'raid_check_audit_args'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.check_audit_args IS 'raises the error raid.audit would raise for these arguments before reading any data (used by raid.submit_audit)';

CREATE FUNCTION raid.submit_train(
    model         text,
    interactions  regclass,
    user_col      name DEFAULT 'user_id',
    item_col      name DEFAULT 'item_id',
    attributes    regclass DEFAULT NULL,
    attribute_col text DEFAULT NULL,
    defense       text DEFAULT 'none',
    options       jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF interactions IS NULL THEN
        RAISE EXCEPTION 'argument "interactions" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM raid.job_check_args(model, ARRAY[interactions, attributes]);
    PERFORM raid.check_train_args(model, interactions, user_col, item_col, attributes,
                                  attribute_col, defense, options);
    PERFORM raid.job_check_submit();
    -- relation names are stored schema-qualified (search_path is pg_catalog here)
    RETURN raid.enqueue_job('train', jsonb_build_object(
        'model', model, 'interactions', interactions::text, 'user_col', user_col,
        'item_col', item_col, 'attributes', attributes::text, 'attribute_col', attribute_col,
        'defense', defense, 'options', options));
END;
$$;
COMMENT ON FUNCTION raid.submit_train IS 'queues raid.train() with these arguments as a background job; returns its job_id';

CREATE FUNCTION raid.submit_audit(
    model         text,
    attributes    regclass DEFAULT NULL,
    attribute_col text DEFAULT NULL,
    options       jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM raid.job_check_args(model, ARRAY[attributes]);
    PERFORM raid.check_audit_args(model, attributes, attribute_col, options);
    PERFORM raid.job_check_submit();
    RETURN raid.enqueue_job('audit', jsonb_build_object(
        'model', model, 'attributes', attributes::text, 'attribute_col', attribute_col,
        'options', options));
END;
$$;
COMMENT ON FUNCTION raid.submit_audit IS 'queues raid.audit() with these arguments as a background job; returns its job_id';

CREATE FUNCTION raid.cancel_job(job_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'raid_cancel_job'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.cancel_job IS 'cancels a queued or running job of the current role; false if it had already ended';

CREATE FUNCTION raid.wait_job(job_id bigint, timeout interval DEFAULT NULL)
RETURNS raid.jobs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r raid.jobs;
    deadline timestamptz := clock_timestamp() + timeout;
BEGIN
    IF wait_job.job_id IS NULL THEN
        RAISE EXCEPTION 'argument "job_id" must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    LOOP
        SELECT * INTO r FROM raid.jobs j WHERE j.job_id = wait_job.job_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'job % does not exist', wait_job.job_id USING ERRCODE = 'undefined_object';
        END IF;
        IF r.status IN ('succeeded', 'failed', 'cancelled') OR clock_timestamp() >= deadline THEN
            RETURN r;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
END;
$$;
COMMENT ON FUNCTION raid.wait_job IS 'waits until a job ends (or the timeout passes) and returns its row';

-- ---------------------------------------------------------------------------
-- Ownership.  Rows belong to a role by OID.  PostgreSQL cannot see them as
-- dependencies of the role, so before DROP ROLE move them to another role or
-- drop them (as REASSIGN OWNED and DROP OWNED do for PostgreSQL's objects).
-- ---------------------------------------------------------------------------

CREATE FUNCTION raid.reassign_owned(old_role regrole, new_role regrole)
RETURNS bigint
AS 'MODULE_PATHNAME', 'raid_reassign_owned'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.reassign_owned IS 'gives old_role''s models, audits and finished jobs to new_role; returns the number of rows moved';

CREATE FUNCTION raid.drop_owned(role regrole)
RETURNS bigint
AS 'MODULE_PATHNAME', 'raid_drop_owned'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION raid.drop_owned IS 'drops a role''s models (with their embeddings), audits and finished jobs; returns the number of rows dropped';

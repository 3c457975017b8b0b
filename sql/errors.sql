-- Every bad input gets a clear error with its SQLSTATE; nothing is written.
\i sql/include/fixtures.sql
\i sql/include/syn_data.sql
\i sql/include/model_m1.sql

CREATE TABLE bad_types (user_id text, item_id int, f float8);
INSERT INTO bad_types VALUES ('a', 1, 1.0);
CREATE TABLE empty_inter (user_id int, item_id int);
CREATE TABLE null_inter (user_id int, item_id int);
INSERT INTO null_inter VALUES (NULL, 1), (2, NULL);
CREATE SEQUENCE a_sequence;
CREATE TEMP TABLE before AS
    SELECT (SELECT count(*) FROM raid.models) AS models, (SELECT count(*) FROM raid.user_embeddings) AS ue;

-- missing table or column
SELECT raid_try($$SELECT raid.train('e', 'no_such_table')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', user_col => 'no_such_col')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', item_col => 'no_such_col')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'nope')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'no_such_table', attribute_col => 'attribute')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users')$$);
SELECT raid_try($$SELECT raid.train('e', 'a_sequence')$$);
-- id columns that are not integers
SELECT raid_try($$SELECT raid.train('e', 'bad_types')$$);
SELECT raid_try($$SELECT raid.train('e', 'bad_types', 'item_id', 'f')$$);
-- empty input, only NULL ids
SELECT raid_try($$SELECT raid.train('e', 'empty_inter')$$);
SELECT raid_try($$SELECT raid.train('e', 'null_inter')$$);
-- NULL or empty required arguments
SELECT raid_try($$SELECT raid.train(NULL, 'syn_inter')$$);
SELECT raid_try($$SELECT raid.train('e', NULL)$$);
SELECT raid_try($$SELECT raid.train('', 'syn_inter')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => NULL)$$);
-- defenses
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'adversarial')$$);  -- needs the attribute
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'magic')$$);
-- options: unknown key, wrong type, out of range
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"dims": 8}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '[1, 2]')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '"dim"')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"dim": "64"}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"dim": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"dim": 2000}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"dim": 8.5}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"epochs": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"lr": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"lr": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"negatives": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"l2": -0.1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"seed": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"seed": 1e30}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"threads": 5000}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"replace": 1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"holdout": "yes"}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"lr": null}')$$);
-- warm_start: not a name, an unknown model, another dimension
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"warm_start": 5}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"warm_start": "no_such_model"}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"warm_start": "m1", "dim": 4}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"warm_start": ""}')$$);
-- an existing model without replace
SELECT raid_try($$SELECT raid.train('m1', 'syn_inter')$$);
-- recommend: unknown model, k <= 0, unknown user
SELECT raid_try($$SELECT * FROM raid.recommend('no_such_model', 1, 10)$$);
SELECT raid_try($$SELECT * FROM raid.recommend('m1', 1, 0)$$);
SELECT raid_try($$SELECT * FROM raid.recommend('m1', 1, -5)$$);
SELECT raid_try($$SELECT * FROM raid.recommend('m1', 123456789, 10)$$);
-- recommend_all / similar_items: unknown model, k <= 0, unknown item
SELECT raid_try($$SELECT * FROM raid.recommend_all('no_such_model')$$);
SELECT raid_try($$SELECT * FROM raid.recommend_all('m1', 0)$$);
SELECT raid_try($$SELECT * FROM raid.similar_items('no_such_model', 1)$$);
SELECT raid_try($$SELECT * FROM raid.similar_items('m1', 1, -1)$$);
SELECT raid_try($$SELECT * FROM raid.similar_items('m1', 123456789)$$);
-- fold_in / fold_in_user: unknown model, NULLs, bad columns and options, nothing to fold
SELECT raid_try($$SELECT raid.fold_in('no_such_model', 'syn_inter')$$);
SELECT raid_try($$SELECT raid.fold_in(NULL, 'syn_inter')$$);
SELECT raid_try($$SELECT raid.fold_in('m1', 'syn_inter', 'no_col')$$);
SELECT raid_try($$SELECT raid.fold_in('m1', 'syn_inter', options => '{"dim": 8}')$$);
SELECT raid_try($$SELECT raid.fold_in('m1', 'syn_inter', options => '{"epochs": 0}')$$);
SELECT raid_try($$SELECT raid.fold_in('m1', 'syn_inter', options => '[1]')$$);
CREATE TABLE fold_unknown AS SELECT 5 AS user_id, 123456789 AS item_id;
SELECT raid_try($$SELECT raid.fold_in('m1', 'fold_unknown')$$);
DROP TABLE fold_unknown;
SELECT raid_try($$SELECT raid.fold_in_user('m1', 5, '{}')$$);
SELECT raid_try($$SELECT raid.fold_in_user('m1', 5, '{123456789}')$$);
SELECT raid_try($$SELECT raid.fold_in_user('m1', NULL, '{1}')$$);
-- create_index / drop_index: unknown model, no pgvector, bad settings, no index
SELECT raid_try($$SELECT raid.create_index('no_such_model')$$);
SELECT raid_try($$SELECT raid.create_index('m1')$$);
SELECT raid_try($$SELECT raid.create_index('m1', m => 1)$$);
SELECT raid_try($$SELECT raid.create_index('m1', m => 101)$$);
SELECT raid_try($$SELECT raid.create_index('m1', ef_construction => 2000)$$);
SELECT raid_try($$SELECT raid.create_index('m1', m => 16, ef_construction => 20)$$);
SELECT raid_try($$SELECT raid.create_index('', 16)$$);
SELECT raid_try($$SELECT raid.drop_index('no_such_model')$$);
SELECT raid_try($$SELECT raid.drop_index('m1')$$);
SELECT raid.drop_index('m1', if_exists => true);
-- drop_model: unknown model
SELECT raid_try($$SELECT raid.drop_model('no_such_model')$$);
-- synthetic: bad sizes, NULLs, an existing table
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', n_users => 1)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', n_items => 1)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', classes => 1)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', n_items => 10, interactions_per_user => 10)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', signal => -1)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', seed => -1)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', NULL)$$);
SELECT raid_try($$SELECT raid.synthetic('syn_inter', 'x_u')$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'syn_users')$$);
-- the names are checked before anything else: before the memory budget, before generating
SET raid.max_memory = '64MB';
SELECT raid_try($$SELECT raid.synthetic('syn_inter', 'x_u', n_users => 10000000, interactions_per_user => 50)$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', n_users => 10000000, interactions_per_user => 50)$$);
RESET raid.max_memory;
SELECT to_regclass('x_i') IS NULL AS nothing_created;

-- names: empty (22023) and too long (42622), before any work, everywhere
SELECT raid_try($$SELECT raid.train('', 'syn_inter')$$);
SELECT raid_try(format('SELECT raid.train(%L, %L)', repeat('m', 6400), 'syn_inter'));
SELECT raid_try(format('SELECT raid.train(%L, %L)', repeat('m', 64), 'syn_inter'));
SELECT raid_try($$SELECT raid.recommend('', 1)$$);
SELECT raid_try($$SELECT raid.audit('')$$);
SELECT raid_try($$SELECT raid.drop_model('')$$);
SELECT raid_try(format('SELECT raid.drop_model(%L)', repeat('m', 64)));
SELECT raid_try($$SELECT raid.job_check_args('', '{}')$$);
SELECT raid_try(format('SELECT raid.job_check_args(%L, %L)', repeat('m', 64), '{}'));

-- option values beyond float8 name the key
SELECT raid_try($$SELECT raid.train('big', 'syn_inter', options => '{"lr": 1e400}')$$);
SELECT raid_try($$SELECT raid.train('big', 'syn_inter', options => '{"l2": -1e400}')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('raid.user_embeddings', 'user_id', 'embedding', 'syn_users', 'user_id', 'attribute', '{"mlp_lr": 1e400}')$$);

-- a domain over an integer type is an integer id column
CREATE DOMAIN user_key AS integer CHECK (VALUE > 0);
CREATE TABLE dom_inter AS SELECT user_id::user_key AS user_id, item_id FROM syn_inter;
SELECT users, items FROM raid.train('dom', 'dom_inter', options => '{"dim": 2, "epochs": 1, "threads": 1}');
SELECT raid.drop_model('dom');
DROP TABLE dom_inter;
DROP DOMAIN user_key;

-- audit_embeddings: a value beyond real names the user; '{}' is empty
CREATE TABLE wide_emb (user_id bigint, e float8[]);
INSERT INTO wide_emb SELECT user_id, ARRAY[user_id % 7, 1.0] FROM syn_users;
UPDATE wide_emb SET e = ARRAY[1e300, 1.0] WHERE user_id = 17;
SELECT raid_try($$SELECT raid.audit_embeddings('wide_emb', 'user_id', 'e', 'syn_users', 'user_id', 'attribute')$$);
UPDATE wide_emb SET e = '{}' WHERE user_id = 17;
SELECT raid_try($$SELECT raid.audit_embeddings('wide_emb', 'user_id', 'e', 'syn_users', 'user_id', 'attribute')$$);
UPDATE wide_emb SET e = ARRAY[0.5, 1.0] WHERE user_id = 17;
SELECT attacker, users FROM raid.audit_embeddings('wide_emb', 'user_id', 'e', 'syn_users', 'user_id', 'attribute',
    '{"attackers": "logistic", "threads": 1}');
DROP TABLE wide_emb;

-- a sweep: each argument of raid.train replaced by NULL; the server survives
SELECT i, raid_try(format($$SELECT raid.train(%s, %s, %s, %s, %s, %s, %s, %s)$$,
    CASE WHEN i = 1 THEN 'NULL' ELSE '''sweep''' END,
    CASE WHEN i = 2 THEN 'NULL' ELSE '''syn_inter''' END,
    CASE WHEN i = 3 THEN 'NULL' ELSE '''user_id''' END,
    CASE WHEN i = 4 THEN 'NULL' ELSE '''item_id''' END,
    CASE WHEN i = 5 THEN 'NULL' ELSE '''syn_users''' END,
    CASE WHEN i = 6 THEN 'NULL' ELSE '''attribute''' END,
    CASE WHEN i = 7 THEN 'NULL' ELSE '''none''' END,
    CASE WHEN i = 8 THEN 'NULL' ELSE '''{"epochs": 1, "dim": 2, "threads": 1}''' END))
FROM generate_series(1, 8) i ORDER BY i;
SELECT raid.drop_model('sweep');

-- nothing was written by the failures
SELECT (SELECT count(*) FROM raid.models) = models AS models_same,
       (SELECT count(*) FROM raid.user_embeddings) = ue AS rows_same
FROM before;

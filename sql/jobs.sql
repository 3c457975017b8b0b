-- Background jobs: what is deterministic without a launcher serving this
-- database (the test cluster's raid.database_name is 'postgres'; the
-- integration tests cover running jobs).
\i sql/include/fixtures.sql

SHOW raid.max_workers;
SHOW raid.database_name;
CREATE TABLE job_inter (user_id int, item_id int);
INSERT INTO job_inter VALUES (1, 1), (1, 2), (2, 2);
CREATE TEMP TABLE job_temp (user_id int, item_id int);

-- arguments are checked first
SELECT raid_try($$SELECT raid.submit_train(NULL, 'job_inter')$$);
SELECT raid_try($$SELECT raid.submit_train('m', NULL)$$);
SELECT raid_try($$SELECT raid.submit_train('m', 'no_such_table')$$);
SELECT raid_try($$SELECT raid.submit_train('m', 'job_temp')$$);
SELECT raid_try($$SELECT raid.submit_audit(NULL)$$);
SELECT raid_try($$SELECT raid.submit_audit('m', 'job_temp', 'a')$$);
-- everything raid.train and raid.audit check before reading data, with their SQLSTATEs
SELECT raid_try($$SELECT raid.submit_train('m', 'job_inter', user_col => 'uid')$$);
SELECT raid_try($$SELECT raid.submit_train('m', 'job_inter', options => '{"dimm": 8}')$$);
SELECT raid_try($$SELECT raid.submit_train('m', 'job_inter', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.submit_train('m', 'job_inter', attributes => 'job_inter', attribute_col => 'gender', defense => 'raid')$$);
SELECT users FROM raid.train('m_job_exists', 'job_inter', options => '{"dim": 2, "epochs": 1, "threads": 1}');
SELECT raid_try($$SELECT raid.submit_train('m_job_exists', 'job_inter')$$);
SELECT raid_try($$SELECT raid.submit_train('m_job_exists', 'job_inter', options => '{"replace": true}')$$);
SELECT raid_try($$SELECT raid.submit_audit('m', options => '{"folds": 1}')$$);
SELECT raid_try($$SELECT raid.submit_audit('m', 'job_inter', 'gender')$$);
SELECT raid_try($$SELECT raid.submit_audit('m_job_exists', 'job_inter', 'item_id')$$);
SELECT raid.drop_model('m_job_exists');
-- then the database: jobs run only in raid.database_name
SELECT raid_try($$SELECT raid.submit_train('m', 'job_inter')$$);
SELECT raid_try($$SELECT raid.submit_audit('m')$$);
SELECT count(*) FROM raid.jobs;

-- unknown jobs
SELECT raid_try($$SELECT raid.cancel_job(424242)$$);
SELECT raid_try($$SELECT raid.cancel_job(NULL)$$);
SELECT raid_try($$SELECT raid.wait_job(424242)$$);
SELECT raid_try($$SELECT raid.wait_job(NULL)$$);

-- a queued job (inserted directly, as a superuser may: no launcher serves
-- this database, so raid.enqueue_job refuses it)
SELECT raid_try($$SELECT raid.enqueue_job('train', '{"model": "q"}')$$);
SELECT raid_try($$SELECT raid.enqueue_job('rm -rf', '{}')$$);
INSERT INTO raid.job_records (kind, args, owner, database)
VALUES ('train', '{"model": "q", "interactions": "public.job_inter"}', raid.caller(), current_database())
RETURNING job_id AS queued_job \gset
SELECT status, progress, phase, message, started_at IS NULL AS not_started
FROM raid.wait_job(:queued_job, '0.2 s');
SELECT count(*) AS live_slots FROM raid.job_progress();
SELECT raid.cancel_job(:queued_job);
SELECT status, message, finished_at IS NOT NULL AS finished FROM raid.jobs WHERE job_id = :queued_job;
SELECT raid.cancel_job(:queued_job);
SELECT status FROM raid.wait_job(:queued_job);

-- the columns of raid.jobs
SELECT attname, format_type(atttypid, atttypmod)
FROM pg_attribute WHERE attrelid = 'raid.jobs'::regclass AND attnum > 0 ORDER BY attnum;

DELETE FROM raid.job_records;
DROP TABLE job_inter;

-- Creating the extension: schema, tables, functions.
CREATE EXTENSION raid;

SELECT extname, extversion FROM pg_extension WHERE extname = 'raid';

SELECT c.relname, c.relrowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'raid' AND c.relkind = 'r'
ORDER BY 1;

SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'raid'
ORDER BY 1;

-- GUCs
SHOW raid.max_threads;
SHOW "raid.verbose";
SET raid.no_such_setting = 1;

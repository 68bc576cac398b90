-- The request context: set only by apikey_authenticate, gone at the end of
-- the transaction, impossible to forge.
SELECT id AS key_id, key FROM api_keys.apikey_create('tenant_a', 'ctx', '{read:documents, write:documents/*}') \gset
SELECT key AS revoked_key, id AS revoked_id FROM api_keys.apikey_create('tenant_a', 'gone') \gset
SELECT api_keys.apikey_revoke(:'revoked_id');

-- Not authenticated: NULL, NULL, false.
SELECT api_keys.apikey_current_key_id(), api_keys.apikey_current_owner(),
       api_keys.apikey_has_scope('read:documents');

-- Authenticated for the rest of the transaction.
BEGIN;
SELECT api_keys.apikey_authenticate(:'key') = :'key_id'::uuid AS authenticated;
SELECT api_keys.apikey_current_key_id() = :'key_id'::uuid AS same_key,
       api_keys.apikey_current_owner() AS owner,
       api_keys.apikey_has_scope('read:documents') AS can_read,
       api_keys.apikey_has_scope('write:documents/7') AS can_write_7,
       api_keys.apikey_has_scope('write:documents') AS can_write_all,
       api_keys.apikey_has_scope('delete:documents') AS can_delete;
-- Key management is refused inside a key-authenticated transaction.
SELECT error_of($$SELECT api_keys.apikey_create('tenant_a', 'from a key')$$);
SELECT error_of(format('SELECT api_keys.apikey_revoke(%L)', :'key_id'));
SELECT error_of(format('SELECT api_keys.apikey_rotate(%L)', :'key_id'));
SELECT error_of(format('SELECT api_keys.apikey_update(%L, name => %L)', :'key_id', 'x'));
COMMIT;
-- Gone after COMMIT.
SELECT api_keys.apikey_current_owner() IS NULL AS cleared_by_commit;

-- Gone after ROLLBACK, and after an error.
BEGIN;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated;
ROLLBACK;
SELECT api_keys.apikey_current_owner() IS NULL AS cleared_by_rollback;
BEGIN;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated;
SELECT 1 / 0;
ROLLBACK;
SELECT api_keys.apikey_current_owner() IS NULL AS cleared_by_error;

-- Outside a transaction block the context lasts one statement.
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated, api_keys.apikey_current_owner();
SELECT api_keys.apikey_current_owner() IS NULL AS cleared_after_statement;

-- A savepoint rolled back takes an authentication made inside it back.
BEGIN;
SAVEPOINT s;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated;
ROLLBACK TO SAVEPOINT s;
SELECT api_keys.apikey_current_owner() IS NULL AS cleared_by_rollback_to_savepoint;
SAVEPOINT t;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated;
RELEASE SAVEPOINT t;
SELECT api_keys.apikey_current_owner() AS kept_after_release;
COMMIT;

-- A key that does not verify: 28000 with the code, and no context.
BEGIN;
SELECT error_of(format('SELECT api_keys.apikey_authenticate(%L)', :'revoked_key'));
SELECT error_of($$SELECT api_keys.apikey_authenticate('ak_live_nope')$$);
SELECT error_of(format('SELECT api_keys.apikey_authenticate(%L, NULL, %L)', :'key', 'admin:everything'));
SELECT api_keys.apikey_current_owner() IS NULL AS no_context;
COMMIT;
-- The failure carries the code as DETAIL.
\set VERBOSITY default
SELECT api_keys.apikey_authenticate(:'revoked_key');

-- Forging: no SET, set_config or RESET can create or change the context,
-- not even a superuser's.
BEGIN;
SET LOCAL api_keys.current_key = '{"key_id":"00000000-0000-0000-0000-000000000000","owner":"tenant_b","scopes":["*:*"]}';
ROLLBACK;
BEGIN;
SELECT set_config('api_keys.current_key', '{"key_id":"00000000-0000-0000-0000-000000000000","owner":"tenant_b","scopes":["*:*"]}', true);
ROLLBACK;
BEGIN;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated;
SAVEPOINT forge;
SET LOCAL api_keys.current_key = '{"key_id":"00000000-0000-0000-0000-000000000000","owner":"tenant_b","scopes":["*:*"]}';
ROLLBACK TO SAVEPOINT forge;
RESET ALL;
SELECT api_keys.apikey_current_owner() AS still_tenant_a;
COMMIT;
-- A plain role cannot even try: the setting is reserved to superusers.
SET ROLE regress_app;
SELECT set_config('api_keys.current_key', 'x', true);
-- (The message of this refusal differs between versions; its SQLSTATE does not.)
\set VERBOSITY sqlstate
SHOW api_keys.current_key;
\set VERBOSITY default
-- ... but can authenticate and use the accessors.
BEGIN;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated, api_keys.apikey_current_owner();
COMMIT;
RESET ROLE;

-- The accessors are STABLE and PARALLEL SAFE, and work in parallel workers.
SELECT proname, provolatile, proparallel FROM pg_proc
 WHERE pronamespace = 'api_keys'::regnamespace AND proname LIKE 'apikey_%' ORDER BY proname;
CREATE TABLE ctx_rows AS SELECT g AS i, CASE WHEN g % 2 = 0 THEN 'tenant_a' ELSE 'tenant_b' END AS owner
  FROM generate_series(1, 20000) g;
ANALYZE ctx_rows;
-- What the plan of query q did, from EXPLAIN's JSON (its text differs between
-- versions): workers launched, the scan and its filter, and the rows the
-- filter removed and kept in all loops together.
CREATE FUNCTION ctx_plan(q text)
  RETURNS TABLE (workers_launched int, scan text, loops int, removed int, kept int)
  LANGUAGE plpgsql AS $f$
DECLARE p jsonb;
BEGIN
  EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF, FORMAT JSON) ' || q INTO p;
  RETURN QUERY
  SELECT (g->>'Workers Launched')::int,
         CASE WHEN (s->>'Parallel Aware')::bool THEN 'Parallel ' ELSE '' END
           || (s->>'Node Type') || ' on ' || (s->>'Relation Name') || ', filter ' || (s->>'Filter'),
         (s->>'Actual Loops')::int,
         round((s->>'Rows Removed by Filter')::numeric * (s->>'Actual Loops')::numeric)::int,
         round((s->>'Actual Rows')::numeric * (s->>'Actual Loops')::numeric)::int
    FROM jsonb_path_query_first(p, 'strict $.**?(@."Node Type" == "Gather")') g,
         jsonb_path_query_first(p, 'strict $.**?(@."Relation Name" == "ctx_rows")') s;
END $f$;
BEGIN;
SELECT api_keys.apikey_authenticate(:'key') IS NOT NULL AS authenticated;
-- force_parallel_mode is called debug_parallel_query from PostgreSQL 16 on.
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', true) IS NOT NULL AS forced;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
-- With the leader not scanning, every row is filtered inside a worker.
SET LOCAL parallel_leader_participation = off;
SELECT * FROM ctx_plan('SELECT count(*) FROM ctx_rows WHERE owner = api_keys.apikey_current_owner()');
SELECT count(*) FROM ctx_rows WHERE owner = api_keys.apikey_current_owner()
                              AND api_keys.apikey_has_scope('read:documents');
COMMIT;
DROP TABLE ctx_rows;
DROP FUNCTION ctx_plan(text);
-- An invalid scope asked of apikey_has_scope is the caller's bug: 22023.
SELECT error_of($$SELECT api_keys.apikey_has_scope('read:a//b')$$);

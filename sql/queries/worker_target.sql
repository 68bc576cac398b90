-- For the flusher: the installed version of extension $1, and the tables
-- its statements name, resolved by name (with search_path pinned) so that
-- the flusher can check they are the extension's own.
SELECT e.extversion::pg_catalog.text,
       pg_catalog.to_regclass('api_keys.keys')::pg_catalog.oid,
       pg_catalog.to_regclass('api_keys.usage')::pg_catalog.oid
  FROM pg_catalog.pg_extension e
 WHERE e.oid OPERATOR(pg_catalog.=) $1

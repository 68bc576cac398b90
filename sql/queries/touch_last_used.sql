-- Record a successful use of key $1 when the library is not preloaded
-- (run as the extension's owner with search_path pinned), never waiting for
-- another session's lock on its row (the row is skipped then; the next use
-- records it).
UPDATE api_keys.keys k SET last_used_at = pg_catalog.now()
  FROM (SELECT id FROM api_keys.keys WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED) l
 WHERE k.id OPERATOR(pg_catalog.=) l.id

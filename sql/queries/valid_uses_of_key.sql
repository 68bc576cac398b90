-- Stored valid verifications of key $1 from day $2 on (what its quota has
-- used of the period, as far as the workers have stored it). Run as the
-- extension's owner with search_path pinned: every operator qualified.
SELECT COALESCE(pg_catalog.sum(u.count), 0)::pg_catalog.int8
  FROM api_keys.usage u
 WHERE u.key_id OPERATOR(pg_catalog.=) $1
   AND u.code OPERATOR(pg_catalog.=) 'valid'
   AND u.day OPERATOR(pg_catalog.>=) $2

-- Stored valid verifications of owner $1's keys from day $2 on, and those
-- keys' ids (for the uses not stored yet). Run as the extension's owner
-- with search_path pinned: every operator qualified.
SELECT (SELECT COALESCE(pg_catalog.sum(u.count), 0)::pg_catalog.int8
          FROM api_keys.usage u JOIN api_keys.keys k ON k.id OPERATOR(pg_catalog.=) u.key_id
         WHERE k.owner OPERATOR(pg_catalog.=) $1
           AND u.code OPERATOR(pg_catalog.=) 'valid'
           AND u.day OPERATOR(pg_catalog.>=) $2),
       (SELECT pg_catalog.array_agg(k.id) FROM api_keys.keys k WHERE k.owner OPERATOR(pg_catalog.=) $1)

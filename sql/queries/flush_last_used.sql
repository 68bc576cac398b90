-- Store last-used times: keys $1 used at $2, element by element. A stored
-- time moves forward only, and only when it is more than $3 (the
-- resolution) older. Rows another session holds locked are skipped and
-- returned, so their times stay in shared memory for the next flush. Run
-- by the flusher as api_keys_worker: every name and operator qualified.
WITH t (id, at) AS (
    SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]),
                             pg_catalog.unnest($2::pg_catalog.timestamptz[]))),
locked AS (
    SELECT k.id FROM api_keys.keys k
     WHERE k.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.uuid[])
       FOR NO KEY UPDATE SKIP LOCKED),
stored AS (
    UPDATE api_keys.keys k SET last_used_at = t.at
      FROM t, locked l
     WHERE k.id OPERATOR(pg_catalog.=) t.id AND l.id OPERATOR(pg_catalog.=) t.id
       AND (k.last_used_at IS NULL
            OR k.last_used_at OPERATOR(pg_catalog.<) (t.at OPERATOR(pg_catalog.-) $3::pg_catalog.interval))
    RETURNING k.id)
SELECT t.id FROM t
 WHERE NOT EXISTS (SELECT FROM locked l WHERE l.id OPERATOR(pg_catalog.=) t.id)
   AND EXISTS (SELECT FROM api_keys.keys k WHERE k.id OPERATOR(pg_catalog.=) t.id)

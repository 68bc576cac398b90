-- Add counts to api_keys.usage: keys $1, days $2 (since 2000-01-01),
-- codes $3, counts $4, element by element. Run by the flusher as
-- api_keys_worker: every name and operator qualified.
INSERT INTO api_keys.usage AS u (key_id, day, code, count)
SELECT t.k, pg_catalog.date '2000-01-01' OPERATOR(pg_catalog.+) t.d, t.c, t.n
  FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.uuid[]), pg_catalog.unnest($2::pg_catalog.int4[]),
                  pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.int8[]))
       AS t (k, d, c, n)
    ON CONFLICT (key_id, day, code) DO UPDATE SET count = u.count OPERATOR(pg_catalog.+) EXCLUDED.count

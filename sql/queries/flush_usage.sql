-- Add counts to api_keys.usage: keys $1, days $2 (since 2000-01-01),
-- codes $3, counts $4, element by element.
INSERT INTO api_keys.usage AS u (key_id, day, code, count)
SELECT k, DATE '2000-01-01' + d, c, n
  FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::int4[]),
                  pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::int8[])) AS t (k, d, c, n)
    ON CONFLICT (key_id, day, code) DO UPDATE SET count = u.count + EXCLUDED.count

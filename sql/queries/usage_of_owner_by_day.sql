-- Owner $1's verifications summed over its keys, per day and code, from
-- day $2 to day $3 (open when NULL).
SELECT u.day, u.code, pg_catalog.sum(u.count)::bigint
  FROM api_keys.usage u
  JOIN api_keys.keys k ON k.id = u.key_id
 WHERE k.owner = $1
   AND ($2::date IS NULL OR u.day >= $2)
   AND ($3::date IS NULL OR u.day <= $3)
 GROUP BY u.day, u.code
 ORDER BY u.day, u.code

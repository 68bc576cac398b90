-- The usage of owner $1's keys (every owner's when NULL) per day, key and
-- code, from day $2 to day $3 (open when NULL).
SELECT u.day, u.key_id, k.name, u.code, u.count
  FROM api_keys.usage u
  JOIN api_keys.keys k ON k.id = u.key_id
 WHERE ($1::text IS NULL OR k.owner = $1)
   AND ($2::date IS NULL OR u.day >= $2)
   AND ($3::date IS NULL OR u.day <= $3)
 ORDER BY u.day, k.name, u.key_id, u.code

-- The events of owner $1 (every owner's when NULL) from $2 on (all when
-- NULL), oldest first.
SELECT id, at, action, key_id, owner, session_role, acting_role, changes
  FROM api_keys.events
 WHERE ($1::text IS NULL OR owner = $1)
   AND ($2::timestamptz IS NULL OR at >= $2)
 ORDER BY at, id

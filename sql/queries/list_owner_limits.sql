-- The limits of owner $1 (every owner's when NULL), by owner.
SELECT owner, rate_limit, rate_window, quota, quota_period, updated_at
  FROM api_keys.owner_limits
 WHERE $1::text IS NULL OR owner = $1
 ORDER BY owner

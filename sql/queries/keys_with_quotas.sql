-- The keys of owner $1 (every owner's when NULL) that have a quota, for
-- apikey_quotas: id, owner, name, quota, period.
SELECT id, owner, name, quota, quota_period
  FROM api_keys.keys
 WHERE quota IS NOT NULL AND ($1::text IS NULL OR owner = $1)
 ORDER BY owner, created_at, id

-- The keys of owner $1 (every owner's when NULL) in status $2 (active,
-- expired, revoked or all) whose name contains $3 (any case; NULL: any
-- name), oldest first, with how each was made (native or imported).
-- Never the digest.
SELECT id, name, prefix, scopes, allowed_cidrs, environment, metadata, status,
       created_at, expires_at, last_used_at, revoked_at, replaced_by_key_id, grace_expires_at,
       rotation_interval, created_at + rotation_interval, webhook_url, rate_limit, rate_window,
       quota, quota_period, origin
  FROM (SELECT k.*,
               CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN (k.expires_at <= pg_catalog.now()
                          OR k.grace_expires_at <= pg_catalog.now()) IS TRUE THEN 'expired'
                    ELSE 'active' END AS status
          FROM api_keys.keys k
         WHERE ($1::text IS NULL OR k.owner = $1)
           AND ($3::text IS NULL
                OR pg_catalog.strpos(pg_catalog.lower(k.name), pg_catalog.lower($3)) > 0)) s
 WHERE $2 = 'all' OR s.status = $2
 ORDER BY created_at, id

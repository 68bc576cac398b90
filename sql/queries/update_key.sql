-- Change key $1. A NULL value leaves a field as it is; the fields that can
-- be cleared come with a flag saying whether to set them: networks ($4,
-- $5), expiry ($6, $7), rotation interval ($9, $10), webhook ($11, $12),
-- rate limit ($13, $14), quota ($17, $18). The rate window is $15, else
-- the key's, else the default $16, and cleared with the limit; the quota
-- period is $19, else the key's, else 'month', and cleared with the quota.
UPDATE api_keys.keys
   SET name              = COALESCE($2, name),
       scopes            = COALESCE($3, scopes),
       allowed_cidrs     = CASE WHEN $4 THEN $5 ELSE allowed_cidrs END,
       expires_at        = CASE WHEN $6 THEN $7 ELSE expires_at END,
       metadata          = COALESCE($8, metadata),
       rotation_interval = CASE WHEN $9 THEN $10 ELSE rotation_interval END,
       webhook_url       = CASE WHEN $11 THEN $12 ELSE webhook_url END,
       rate_limit        = CASE WHEN $13 THEN $14 ELSE rate_limit END,
       rate_window       = CASE WHEN (CASE WHEN $13 THEN $14 ELSE rate_limit END) IS NULL THEN NULL
                                ELSE COALESCE($15, rate_window, $16) END,
       quota             = CASE WHEN $17 THEN $18 ELSE quota END,
       quota_period      = CASE WHEN (CASE WHEN $17 THEN $18 ELSE quota END) IS NULL THEN NULL
                                ELSE COALESCE($19, quota_period, 'month') END
 WHERE id = $1
RETURNING id

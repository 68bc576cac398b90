-- Store the successor of key $1: digest $2 and prefix $3, every attribute
-- copied from the old key.
INSERT INTO api_keys.keys
       (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata,
        expires_at, rotation_interval, webhook_url, rate_limit, rate_window, quota, quota_period)
SELECT $2, $3, owner, name, scopes, allowed_cidrs, environment, metadata,
       expires_at, rotation_interval, webhook_url, rate_limit, rate_window, quota, quota_period
  FROM api_keys.keys WHERE id = $1
RETURNING id

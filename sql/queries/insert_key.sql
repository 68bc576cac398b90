-- Store a new key: its digest, prefix and attributes.
INSERT INTO api_keys.keys
       (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata,
        expires_at, rotation_interval, webhook_url, rate_limit, rate_window, quota, quota_period)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
RETURNING id, created_at

-- Set owner $1's limits: rate limit $2 per $3, quota $4 per $5.
INSERT INTO api_keys.owner_limits AS o (owner, rate_limit, rate_window, quota, quota_period)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (owner) DO UPDATE
   SET rate_limit = EXCLUDED.rate_limit, rate_window = EXCLUDED.rate_window,
       quota = EXCLUDED.quota, quota_period = EXCLUDED.quota_period,
       updated_at = pg_catalog.now()
RETURNING owner, rate_limit, rate_window, quota, quota_period

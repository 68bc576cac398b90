-- Owner $1's limits, locked for a change (no row: none yet).
SELECT rate_limit, rate_window, quota, quota_period
  FROM api_keys.owner_limits WHERE owner = $1 FOR UPDATE

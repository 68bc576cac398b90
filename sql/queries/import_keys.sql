-- Store imported keys, one per element of the arrays $1 .. $16 (owner,
-- name, digest, scopes and networks as array literals, expiry,
-- environment, metadata, rotation interval, webhook, rate limit, window,
-- quota, quota period, prefix, creation time; NULL creation: now), in
-- their order, each with its event $17 made by the acting role $18, and a NOTIFY of each event's
-- id. A digest stored already is skipped. Answers how many were stored and
-- the first new key's id; when some were skipped (and only then), also the
-- first skipped one's place in the arrays (from 1) and, when it was stored
-- before this statement began, the key that has it. The caller raises an
-- error then, which undoes the statement.
WITH r AS (
    SELECT *
      FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]),
                      pg_catalog.unnest($3::bytea[]), pg_catalog.unnest($4::text[]),
                      pg_catalog.unnest($5::timestamptz[]), pg_catalog.unnest($6::text[]),
                      pg_catalog.unnest($7::text[]), pg_catalog.unnest($8::jsonb[]),
                      pg_catalog.unnest($9::interval[]), pg_catalog.unnest($10::text[]),
                      pg_catalog.unnest($11::int4[]), pg_catalog.unnest($12::interval[]),
                      pg_catalog.unnest($13::int8[]), pg_catalog.unnest($14::text[]),
                      pg_catalog.unnest($15::text[]), pg_catalog.unnest($16::timestamptz[]))
           AS r (owner, name, digest, scopes, expires_at, allowed_cidrs, environment, metadata,
                 rotation_interval, webhook_url, rate_limit, rate_window, quota, quota_period,
                 prefix, created_at)),
k AS (
    INSERT INTO api_keys.keys
           (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata,
            created_at, expires_at, rotation_interval, webhook_url, rate_limit, rate_window,
            quota, quota_period, origin)
    SELECT digest, prefix, owner, name, scopes::text[], allowed_cidrs::text[], environment,
           metadata, COALESCE(created_at, pg_catalog.now()), expires_at, rotation_interval,
           webhook_url, rate_limit, rate_window, quota, quota_period, 'imported'
      FROM r
        ON CONFLICT (digest) DO NOTHING
    RETURNING id, digest, owner, name, prefix, scopes, allowed_cidrs, environment, metadata,
              created_at, expires_at, rotation_interval, webhook_url, rate_limit, rate_window,
              quota, quota_period),
e AS (
    INSERT INTO api_keys.events (action, key_id, owner, session_role, acting_role, changes,
                                 name, prefix, expires_at, next_rotation_at, webhook_url)
    SELECT $17, id, owner, session_user, $18,
           pg_catalog.jsonb_build_object(
               'origin', 'imported', 'name', name, 'prefix', prefix, 'scopes', scopes,
               'allowed_cidrs', allowed_cidrs, 'environment', environment, 'metadata', metadata,
               'created_at', created_at, 'expires_at', expires_at,
               'rotation_interval', rotation_interval, 'webhook_url', webhook_url,
               'rate_limit', rate_limit, 'rate_window', rate_window,
               'quota', quota, 'quota_period', quota_period),
           name, prefix, expires_at, created_at + rotation_interval, webhook_url
      FROM k
    RETURNING id),
stored AS (
    SELECT pg_catalog.count(pg_catalog.pg_notify('api_keys_events', e.id::text)) AS n FROM e)
SELECT stored.n, (SELECT id FROM k LIMIT 1), skipped.i,
       (SELECT s.id FROM api_keys.keys s WHERE s.digest = skipped.digest)
  FROM stored
  LEFT JOIN LATERAL (
       SELECT d.i, d.digest FROM pg_catalog.unnest($3::bytea[]) WITH ORDINALITY AS d (digest, i)
        WHERE stored.n < pg_catalog.cardinality($3::bytea[])
          AND NOT EXISTS (SELECT FROM k WHERE k.digest = d.digest)
        ORDER BY d.i LIMIT 1) skipped ON true

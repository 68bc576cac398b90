-- Append event $1 of key $2 with the changes $3, made by the acting role
-- $4, to the audit log, and queue its NOTIFY. Owner and name are cut in the
-- payload (NOTIFY payloads are limited to 8000 bytes); the audit row keeps
-- them whole.
WITH k AS (
    SELECT id, owner, name, prefix, expires_at, webhook_url,
           created_at + rotation_interval AS next_rotation_at
      FROM api_keys.keys WHERE id = $2),
e AS (
    INSERT INTO api_keys.events (action, key_id, owner, session_role, acting_role, changes)
    SELECT $1, k.id, k.owner, session_user, $4, $3 FROM k
    RETURNING id, at)
SELECT pg_catalog.pg_notify('api_keys_events', pg_catalog.json_build_object(
           'event_id', e.id, 'event', $1, 'at', e.at,
           'key_id', k.id, 'owner', pg_catalog.left(k.owner, 200),
           'name', pg_catalog.left(k.name, 200), 'prefix', k.prefix,
           'expires_at', k.expires_at, 'next_rotation_at', k.next_rotation_at,
           'webhook_url', k.webhook_url)::text)
  FROM e, k

-- Append event $1 of key $2 with the changes $3, made by the acting role
-- $4, to the audit log with the key as it is now, and queue a NOTIFY that
-- carries only the event's id (the channel is open to every role; the
-- event itself is readable by api_keys_admin only).
WITH k AS (
    SELECT id, owner, name, prefix, expires_at, webhook_url,
           created_at + rotation_interval AS next_rotation_at
      FROM api_keys.keys WHERE id = $2),
e AS (
    INSERT INTO api_keys.events (action, key_id, owner, session_role, acting_role, changes,
                                 name, prefix, expires_at, next_rotation_at, webhook_url)
    SELECT $1, k.id, k.owner, session_user, $4, $3,
           k.name, k.prefix, k.expires_at, k.next_rotation_at, k.webhook_url FROM k
    RETURNING id)
SELECT pg_catalog.pg_notify('api_keys_events', e.id::text) FROM e

-- Active keys (not revoked, not rotated away, not expired) whose next
-- rotation falls before now() + $1; with $2, only those whose due time was
-- not announced yet. The due time also as JSON, for the announcement.
SELECT d.id, d.owner, d.name, d.prefix, d.due, d.webhook_url, pg_catalog.to_jsonb(d.due)
  FROM (SELECT id, owner, name, prefix, created_at + rotation_interval AS due, webhook_url
          FROM api_keys.keys
         WHERE rotation_interval IS NOT NULL
           AND revoked_at IS NULL AND replaced_by_key_id IS NULL
           AND (expires_at IS NULL OR expires_at > pg_catalog.now())
           AND created_at + rotation_interval <= pg_catalog.now() + $1) d
 WHERE NOT $2 OR NOT EXISTS (
       SELECT FROM api_keys.events e
        WHERE e.key_id = d.id AND e.action = 'rotation_due'
          AND (e.changes ->> 'next_rotation_at')::timestamptz = d.due)
 ORDER BY d.due, d.id

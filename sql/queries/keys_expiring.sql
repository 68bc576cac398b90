-- Active keys whose expiry falls before now() + $1; with $2, only those
-- whose expiry was not announced yet. The expiry also as JSON, for the
-- announcement.
SELECT d.id, d.owner, d.name, d.prefix, d.due, d.webhook_url, pg_catalog.to_jsonb(d.due)
  FROM (SELECT id, owner, name, prefix, expires_at AS due, webhook_url
          FROM api_keys.keys
         WHERE expires_at > pg_catalog.now()
           AND expires_at <= pg_catalog.now() + $1
           AND revoked_at IS NULL AND replaced_by_key_id IS NULL) d
 WHERE NOT $2 OR NOT EXISTS (
       SELECT FROM api_keys.events e
        WHERE e.key_id = d.id AND e.action = 'expiring'
          AND (e.changes ->> 'expires_at')::timestamptz = d.due)
 ORDER BY d.due, d.id

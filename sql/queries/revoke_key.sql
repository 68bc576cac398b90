-- Revoke key $1 unless it is revoked already; a rotation grace still
-- running ends now.
UPDATE api_keys.keys
   SET revoked_at = pg_catalog.now(),
       grace_expires_at = CASE WHEN grace_expires_at > pg_catalog.now()
                               THEN pg_catalog.now() ELSE grace_expires_at END
 WHERE id = $1 AND revoked_at IS NULL
RETURNING id

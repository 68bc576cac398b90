-- Lock key $1 for a rotation and say whether it can be rotated: its
-- environment, whether it is revoked, whether it is expired, and its
-- successor if it was rotated already.
SELECT environment,
       revoked_at IS NOT NULL,
       (expires_at <= pg_catalog.now() OR grace_expires_at <= pg_catalog.now()) IS TRUE,
       replaced_by_key_id
  FROM api_keys.keys WHERE id = $1 FOR UPDATE

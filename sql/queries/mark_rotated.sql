-- Key $1 was replaced by key $2 and keeps working for the grace $3.
UPDATE api_keys.keys
   SET replaced_by_key_id = $2, grace_expires_at = pg_catalog.now() + $3
 WHERE id = $1
RETURNING grace_expires_at

-- Revoke at once every key found among the digests $2 of the presented
-- keys numbered $1 (a key may come with several digests, one per pepper,
-- tried in the order $3), unless it is revoked already; a rotation grace
-- still running ends now. Per presented key that was found: its number,
-- the key, its owner and prefix, and whether this statement revoked it.
WITH p AS (
    SELECT *
      FROM ROWS FROM (pg_catalog.unnest($1::int4[]), pg_catalog.unnest($2::bytea[]),
                      pg_catalog.unnest($3::int4[])) AS p (item, digest, rank)),
found AS (
    SELECT DISTINCT ON (p.item) p.item, k.id, k.owner, k.prefix
      FROM p JOIN api_keys.keys k ON k.digest = p.digest
     ORDER BY p.item, p.rank),
revoked AS (
    UPDATE api_keys.keys
       SET revoked_at = pg_catalog.now(),
           grace_expires_at = CASE WHEN grace_expires_at > pg_catalog.now()
                                   THEN pg_catalog.now() ELSE grace_expires_at END
     WHERE id IN (SELECT id FROM found) AND revoked_at IS NULL
    RETURNING id)
SELECT f.item, f.id, f.owner, f.prefix, f.id IN (SELECT id FROM revoked)
  FROM found f
 ORDER BY f.item

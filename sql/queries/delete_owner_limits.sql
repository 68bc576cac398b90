-- Owner $1 has no limits any more.
DELETE FROM api_keys.owner_limits WHERE owner = $1

-- One announcer at a time: the next statement's snapshot then sees what an
-- earlier announcer committed, so nothing is announced twice.
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('api_keys.announce_due'))

-- One key created per transaction (each commit waits for the WAL flush: fsync is on).
SELECT key FROM api_keys.apikey_create('creator', 'txn', :grants::text[], NULL, :cidrs::text[]);

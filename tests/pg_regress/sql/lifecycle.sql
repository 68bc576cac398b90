-- Key lifecycle policy: rotation interval, webhook address, due and
-- expiring keys, announcements, the audit log.
SELECT id AS p_id, key AS p_key FROM api_keys.apikey_create('lifecycle', 'policy',
       rotation_interval => '30 days', webhook_url => 'https://hooks.example.com/keys') \gset
SELECT rotation_interval, next_rotation_at = created_at + interval '30 days' AS next_ok, webhook_url
  FROM api_keys.apikey_list('lifecycle');
-- Bad policy values: 22023, naming the value.
SELECT error_of($$SELECT api_keys.apikey_create('lifecycle', 'x', rotation_interval => '-1 day')$$);
SELECT error_of($$SELECT api_keys.apikey_create('lifecycle', 'x', webhook_url => 'ftp://example.com/x')$$);
SELECT error_of($$SELECT api_keys.apikey_create('lifecycle', 'x', webhook_url => 'https://user:pw@example.com/')$$);
SELECT error_of($$SELECT api_keys.apikey_create('lifecycle', 'x', webhook_url => 'https:///nohost')$$);
SELECT error_of($$SELECT api_keys.apikey_update(gen_random_uuid(), rotation_interval => '-5 minutes')$$);
-- Due for rotation: not now, but within 31 days; expiring likewise.
SELECT count(*) AS due_now FROM api_keys.apikey_due_for_rotation();
SELECT name, due_at = (SELECT next_rotation_at FROM api_keys.apikey_list('lifecycle') WHERE id = :'p_id') AS due_ok,
       webhook_url FROM api_keys.apikey_due_for_rotation('31 days');
SELECT id AS x_id FROM api_keys.apikey_create('lifecycle', 'expiring', expires_at => now() + interval '2 days') \gset
SELECT name FROM api_keys.apikey_expiring('1 day');
SELECT name FROM api_keys.apikey_expiring('3 days');
SELECT error_of($$SELECT * FROM api_keys.apikey_expiring('-1 day')$$);
-- Announcing: once per key and due time, however often it runs.
SELECT api_keys.apikey_announce_due('31 days', '3 days') AS announced;
SELECT api_keys.apikey_announce_due('31 days', '3 days') AS announced_again;
SELECT action, changes ? 'next_rotation_at' OR changes ? 'expires_at' AS has_due
  FROM api_keys.events WHERE action IN ('rotation_due', 'expiring') ORDER BY action;
-- A new due time (the policy changed) is announced again.
SELECT api_keys.apikey_update(:'p_id', rotation_interval => '20 days');
SELECT api_keys.apikey_announce_due('31 days', '0') AS announced_after_change;
-- Rotation inherits the policy; the successor's clock starts at rotation.
SELECT new_key_id AS n_id FROM api_keys.apikey_rotate(:'p_id', '1 hour') \gset
SELECT rotation_interval, webhook_url, next_rotation_at > now() + interval '19 days' AS restarted
  FROM api_keys.apikey_list('lifecycle') WHERE id = :'n_id';
SELECT count(*) AS due_after_rotation FROM api_keys.apikey_due_for_rotation('31 days');
-- Clearing: '0' removes the policy, '' the webhook.
SELECT api_keys.apikey_update(:'n_id', rotation_interval => '0', webhook_url => '');
SELECT rotation_interval IS NULL AS no_policy, next_rotation_at IS NULL AS no_next, webhook_url IS NULL AS no_hook
  FROM api_keys.apikey_list('lifecycle') WHERE id = :'n_id';
SELECT api_keys.apikey_revoke(:'n_id');
-- The audit log: every action, in order, with the roles, never a key.
SELECT action, key_id = :'p_id'::uuid AS old_key, key_id = :'n_id'::uuid AS new_key,
       session_role = session_user AS session_ok, acting_role = current_user AS acting_ok,
       changes ?| '{name,scopes,rotation_interval,webhook_url,replaced_by_key_id,rotated_from_key_id}' AS has_changes
  FROM api_keys.events WHERE owner = 'lifecycle' AND action NOT IN ('rotation_due', 'expiring')
 ORDER BY at, id;
SELECT count(*) AS events_with_a_key FROM api_keys.events WHERE changes::text ~ 'ak_[a-z0-9]+_[A-Za-z0-9]{40}';
-- The acting role is the caller's, not the definer's.
SET ROLE regress_admin;
SELECT count(*) FROM api_keys.apikey_update(:'x_id', name => 'renamed');
SELECT acting_role, session_role = session_user AS session_ok
  FROM api_keys.apikey_history('lifecycle') WHERE action = 'updated' ORDER BY at DESC LIMIT 1;
-- The administrator reads the log but cannot change it; nobody can.
SELECT count(*) > 0 AS admin_reads FROM api_keys.events;
SELECT error_of('DELETE FROM api_keys.events');
RESET ROLE;
SELECT error_of('DELETE FROM api_keys.events');
SELECT error_of($$UPDATE api_keys.events SET owner = 'someone else'$$);
SELECT error_of('TRUNCATE api_keys.events');
SET ROLE regress_app;
SELECT error_of('SELECT count(*) FROM api_keys.events');
SELECT error_of($$SELECT * FROM api_keys.apikey_history('lifecycle')$$);
SELECT error_of($$SELECT api_keys.apikey_announce_due()$$);
RESET ROLE;
-- History from a point in time, for one owner.
SELECT count(*) AS recent FROM api_keys.apikey_history('lifecycle', now() - interval '1 hour');
SELECT count(*) AS future FROM api_keys.apikey_history('lifecycle', now() + interval '1 hour');
SELECT count(*) AS other_owner FROM api_keys.apikey_history('nobody');

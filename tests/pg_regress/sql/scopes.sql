-- Scopes: action:resource, checked by apikey_verify in the contract's order.
SELECT key AS key FROM api_keys.apikey_create('scoper', 'scoped',
       '{read:projects/*, "*:reports/**", deploy}') \gset
SELECT required, (api_keys.apikey_verify(:'key', required)).code
  FROM unnest(ARRAY[
    'read:projects/42',          -- * matches one segment
    'read:projects/42/files',    -- ... not two
    'write:projects/42',         -- actions are independent
    'write:reports/2024/q1',     -- *:... covers any action, ** one or more segments
    'read:reports',              -- ** needs at least one segment
    'deploy:prod/eu',            -- bare action = action:*
    'deploy',                    -- deploy:* is covered by deploy:*
    'read'                       -- read:* is not covered by read:projects/*
  ]) AS required;
-- No required scope: valid whatever the scopes.
SELECT code FROM api_keys.apikey_verify(:'key');
-- Scopes are stored normalized.
SELECT scopes FROM api_keys.apikey_list('scoper');
-- A key without scopes fails any required scope.
SELECT key AS bare FROM api_keys.apikey_create('scoper', 'no scopes') \gset
SELECT code FROM api_keys.apikey_verify(:'bare', 'read:x');
-- An invalid required scope is the caller's bug: 22023, even for a bad key.
SELECT error_of($$SELECT api_keys.apikey_verify('nope', 'read:a//b')$$);
SELECT error_of(format('SELECT api_keys.apikey_verify(%L, %L)', :'key', 'Read'));
-- An invalid granted scope is refused at create, naming it.
SELECT error_of($$SELECT api_keys.apikey_create('scoper', 'bad', '{read, "write:**/x"}')$$);
SELECT error_of($$SELECT api_keys.apikey_create('scoper', 'bad', '{"read: x"}')$$);
SELECT error_of($$SELECT api_keys.apikey_create('scoper', 'bad', '{NULL}')$$);

// `#[pg_test]`s of the pgrx layer: each runs inside a transaction of a real
// server started by `cargo pgrx test`. Included into `mod tests` in lib.rs.
use pgrx::prelude::*;

use api_keys_core::code::Code;

use crate::runtime::verification as verify;

fn create(owner: &str, scopes: &str) -> (pgrx::Uuid, String) {
    Spi::get_two::<pgrx::Uuid, String>(&format!(
        "SELECT id, key FROM api_keys.apikey_create('{owner}', 'test key', '{scopes}')"
    ))
    .map(|(id, key)| (id.unwrap(), key.unwrap()))
    .unwrap()
}

/// Takes the key and event tables for a test that changes their
/// definition. Tests run side by side in one database, each in a
/// transaction of its own; a test that waited for one of the two tables
/// while holding the other could close a cycle with a test holding a
/// lighter lock in the other order (the deadlock detector then aborts one
/// of them). This takes both at once or neither: NOWAIT in a
/// subtransaction releases what it got when the other is busy.
fn lock_key_tables_for_ddl() {
    Spi::run(
        "DO $$
         BEGIN
             LOOP
                 BEGIN
                     LOCK TABLE api_keys.keys, api_keys.events IN ACCESS EXCLUSIVE MODE NOWAIT;
                     RETURN;
                 EXCEPTION WHEN lock_not_available THEN
                     PERFORM pg_catalog.pg_sleep(0.01);
                 END;
             END LOOP;
         END $$",
    )
    .unwrap();
}

fn code_of(key: &str, extra: &str) -> String {
    Spi::get_one_with_args::<String>(
        &format!("SELECT (api_keys.apikey_verify($1{extra})).code"),
        &[key.into()],
    )
    .unwrap()
    .unwrap()
}

/// One line per case: input => expected code, through the Rust entry point
/// (which also takes strings SQL text cannot carry, such as NUL bytes).
macro_rules! malformed_cases {
    ($($name:ident: $input:expr,)*) => {$(
        #[pg_test]
        fn $name() {
            let v = verify::verify(Some($input), None, None, false).unwrap();
            assert_eq!(v.code, Code::Malformed);
            assert!(v.identity.is_none());
        }
    )*};
}

malformed_cases! {
    malformed_empty: "",
    malformed_nul: "ak_live_\0\0\0",
    malformed_nul_inside_valid_shape: &format!("ak_live_{}\0", "a".repeat(48)),
    malformed_megabyte: &"k".repeat(1 << 20),
    malformed_unicode: "ak_live_ключ",
    malformed_wrong_checksum: &format!("ak_live_{}", "a".repeat(49)),
    malformed_other_brand_wrong_checksum: &format!("zz_live_{}", "a".repeat(49)),
    malformed_upper_case_brand: &format!("AK_live_{}", "a".repeat(49)),
    malformed_configured_brand: "ak_anything_4eC39HqLyjWDarjtT1zdp7dc",
    malformed_too_few_letters_and_digits: "short-key-123",
    malformed_space_in_foreign_key: "sk live 4eC39HqLyjWDarjtT1zdp7dc",
    malformed_longer_than_1024: &"x".repeat(1025),
}

#[pg_test]
fn null_key_is_malformed() {
    assert_eq!(verify::verify(None, None, None, false).unwrap().code, Code::Malformed);
}

#[pg_test]
fn create_verify_revoke() {
    let (id, key) = create("acme", "{read:docs/*}");
    assert_eq!(code_of(&key, ""), "valid");
    assert_eq!(code_of(&key, ", 'read:docs/1'"), "valid");
    assert_eq!(code_of(&key, ", 'write:docs/1'"), "insufficient_scope");
    let revoked = Spi::get_one_with_args::<bool>("SELECT api_keys.apikey_revoke($1)", &[id.into()]).unwrap();
    assert_eq!(revoked, Some(true));
    assert_eq!(code_of(&key, ""), "revoked");
}

#[pg_test]
fn verify_answer_carries_the_key() {
    let (id, key) = create("acme", "{read}");
    let v = verify::verify(Some(&key), None, None, true).unwrap();
    assert_eq!(v.code, Code::Valid);
    let identity = v.identity.expect("identity of a valid key");
    assert_eq!(identity.key_id, id);
    assert_eq!(identity.owner, "acme");
    assert_eq!(identity.scopes, vec!["read:*".to_string()]);
}

#[pg_test]
fn authenticate_sets_the_context() {
    let (id, key) = create("tenant", "{read:documents}");
    let got = Spi::get_one_with_args::<pgrx::Uuid>("SELECT api_keys.apikey_authenticate($1)", &[key.as_str().into()]);
    assert_eq!(got.unwrap(), Some(id));
    assert_eq!(Spi::get_one::<String>("SELECT api_keys.apikey_current_owner()").unwrap().as_deref(), Some("tenant"));
    assert_eq!(Spi::get_one::<bool>("SELECT api_keys.apikey_has_scope('read:documents')").unwrap(), Some(true));
    assert_eq!(Spi::get_one::<bool>("SELECT api_keys.apikey_has_scope('write:documents')").unwrap(), Some(false));
}

#[pg_test]
fn no_context_without_authentication() {
    assert_eq!(Spi::get_one::<String>("SELECT api_keys.apikey_current_owner()").unwrap(), None);
    assert_eq!(Spi::get_one::<pgrx::Uuid>("SELECT api_keys.apikey_current_key_id()").unwrap(), None);
    assert_eq!(Spi::get_one::<bool>("SELECT api_keys.apikey_has_scope('read')").unwrap(), Some(false));
}

#[pg_test(error = "parameter \"api_keys.current_key\" cannot be set")]
fn context_cannot_be_forged_with_set_config() {
    Spi::run(
        "SELECT set_config('api_keys.current_key', '{\"key_id\":\"00000000-0000-0000-0000-000000000000\",\"owner\":\"x\",\"scopes\":[]}', true)",
    )
    .unwrap();
}

#[pg_test(error = "API keys cannot manage API keys")]
fn management_refused_in_key_transaction() {
    let (_, key) = create("tenant", "{}");
    Spi::run_with_args("SELECT api_keys.apikey_authenticate($1)", &[key.as_str().into()]).unwrap();
    Spi::run("SELECT * FROM api_keys.apikey_create('tenant', 'from a key')").unwrap();
}

#[pg_test(error = "API key not accepted: not_found")]
fn authenticate_refuses_unknown_key() {
    let key = api_keys_core::key::generate("ak", "live").unwrap().key;
    Spi::run_with_args("SELECT api_keys.apikey_authenticate($1)", &[key.as_str().into()]).unwrap();
}

#[pg_test(error = "invalid scope \"read:a//b\": empty resource segment")]
fn invalid_required_scope_raises() {
    Spi::run("SELECT api_keys.apikey_verify('x', 'read:a//b')").unwrap();
}

#[pg_test]
fn last_used_at_is_recorded_once_per_resolution() {
    let (id, key) = create("acme", "{}");
    code_of(&key, "");
    let first = Spi::get_one_with_args::<pgrx::datum::TimestampWithTimeZone>(
        "SELECT last_used_at FROM api_keys.keys WHERE id = $1",
        &[id.into()],
    )
    .unwrap();
    assert!(first.is_some(), "a successful verification records its use");
    let changed = Spi::get_one_with_args::<bool>(
        "UPDATE api_keys.keys SET last_used_at = now() - interval '10 seconds' WHERE id = $1 RETURNING true",
        &[id.into()],
    );
    assert_eq!(changed.unwrap(), Some(true));
    code_of(&key, "");
    let recent = Spi::get_one_with_args::<bool>(
        "SELECT last_used_at < now() FROM api_keys.keys WHERE id = $1",
        &[id.into()],
    )
    .unwrap();
    assert_eq!(recent, Some(true), "within the resolution the row is not updated again");
}

#[pg_test]
fn postgrest_hook_reads_headers() {
    let (_, key) = create("tenant", "{}");
    Spi::run_with_args(
        "SELECT set_config('request.headers', json_build_object('x-api-key', $1::text)::text, true)",
        &[key.as_str().into()],
    )
    .unwrap();
    assert_eq!(Spi::get_one::<String>("SELECT api_keys.postgrest_authenticate()").unwrap(), None);
    assert_eq!(Spi::get_one::<String>("SELECT api_keys.apikey_current_owner()").unwrap().as_deref(), Some("tenant"));
}

#[pg_test]
fn postgrest_hook_reports_missing_key() {
    Spi::run("SELECT set_config('request.headers', '{\"accept\": \"*/*\"}', true)").unwrap();
    assert_eq!(Spi::get_one::<String>("SELECT api_keys.postgrest_authenticate()").unwrap().as_deref(), Some("missing"));
}

#[pg_test(error = "rate limits need the api_keys library in shared_preload_libraries")]
fn rate_limit_needs_the_preloaded_library() {
    // The pg_test server does not preload the library.
    Spi::run("SELECT * FROM api_keys.apikey_create('tenant', 'limited', rate_limit => 10)").unwrap();
}

#[pg_test]
fn every_management_action_is_an_event() {
    let (id, _) = create("audited", "{}");
    Spi::run_with_args(
        "SELECT api_keys.apikey_update($1, name => 'renamed')",
        &[id.into()],
    )
    .unwrap();
    Spi::run_with_args("SELECT api_keys.apikey_revoke($1)", &[id.into()]).unwrap();
    let actions = Spi::get_one::<String>(
        "SELECT string_agg(action, ',' ORDER BY at) FROM api_keys.events WHERE owner = 'audited'",
    )
    .unwrap();
    assert_eq!(actions.as_deref(), Some("created,updated,revoked"));
}

#[pg_test(error = "webhook_url carries credentials (user:password@); put them in the delivery worker, not the URL")]
fn webhook_credentials_are_refused_without_echoing_them() {
    Spi::run("SELECT * FROM api_keys.apikey_create('t', 'n', webhook_url => 'https://u:secret@h.example/')")
        .unwrap();
}

#[pg_test]
fn imported_key_verifies_and_is_the_context() {
    let id = Spi::get_one::<pgrx::Uuid>(
        "SELECT api_keys.apikey_import('importer', 'legacy', sha256('ghp_16C7e42F292c6912E7710c838347Ae178B4a'), '{read:docs/*}')",
    )
    .unwrap()
    .unwrap();
    let v = verify::verify(Some("ghp_16C7e42F292c6912E7710c838347Ae178B4a"), None, None, true).unwrap();
    assert_eq!(v.code, Code::Valid);
    assert_eq!(v.identity.expect("identity").key_id, id);
    let other = verify::verify(Some("ghp_16C7e42F292c6912E7710c838347Ae178B4b"), None, None, false).unwrap();
    assert_eq!(other.code, Code::NotFound);
    let got = Spi::get_one::<pgrx::Uuid>(
        "SELECT api_keys.apikey_authenticate('ghp_16C7e42F292c6912E7710c838347Ae178B4a', required_scope => 'read:docs/1')",
    );
    assert_eq!(got.unwrap(), Some(id));
    assert_eq!(Spi::get_one::<String>("SELECT api_keys.apikey_current_owner()").unwrap().as_deref(), Some("importer"));
}

#[pg_test]
fn a_leak_report_revokes_and_answers_per_key() {
    let (id, key) = create("leaky", "{}");
    let labels = Spi::get_one_with_args::<String>(
        "SELECT string_agg(label, ',' ORDER BY item) FROM api_keys.apikey_report_leaked(ARRAY[$1, 'nope', NULL], 'test')",
        &[key.as_str().into()],
    )
    .unwrap();
    assert_eq!(labels.as_deref(), Some("true_positive,false_positive,false_positive"));
    assert_eq!(code_of(&key, ""), "revoked");
    let reason = Spi::get_one_with_args::<String>(
        "SELECT changes ->> 'reason' FROM api_keys.events WHERE key_id = $1 AND action = 'revoked'",
        &[id.into()],
    )
    .unwrap();
    assert_eq!(reason.as_deref(), Some("leaked"));
}

#[pg_test]
fn fallback_last_used_update_ignores_the_callers_search_path() {
    // Not preloaded here: verification writes last_used_at itself, as the
    // extension's owner. A caller's schema with look-alike operators and a
    // look-alike table must not be used for it.
    let (id, key) = create("acme", "{}");
    Spi::run(
        "CREATE SCHEMA evil;
         CREATE TABLE evil.calls (n int);
         CREATE FUNCTION evil.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO evil.calls VALUES (1); RETURN a OPERATOR(pg_catalog.=) b; END $$;
         CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.uuid_eq);
         CREATE TABLE evil.keys (id uuid, last_used_at timestamptz);
         SET LOCAL search_path = evil, pg_catalog;",
    )
    .unwrap();
    assert_eq!(code_of(&key, ""), "valid");
    Spi::run("RESET search_path").unwrap();
    let touched = Spi::get_one_with_args::<bool>(
        "SELECT last_used_at IS NOT NULL FROM api_keys.keys WHERE id = $1",
        &[id.into()],
    )
    .unwrap();
    assert_eq!(touched, Some(true), "the real table's last_used_at is set");
    let calls = Spi::get_one::<i64>("SELECT count(*) FROM evil.calls").unwrap();
    assert_eq!(calls, Some(0), "no operator of the caller's schema ran");
}

#[pg_test]
fn postgrest_check_answers_a_refusal_as_postgrest_reads_it() {
    Spi::run("SELECT set_config('request.headers', '{}', true)").unwrap();
    let row = Spi::get_three::<i32, String, String>(
        "SELECT status, code, detail FROM api_keys.postgrest_check(NULL)",
    )
    .unwrap();
    assert_eq!(row.0, Some(401));
    assert_eq!(row.1.as_deref(), Some("missing"));
    assert_eq!(
        row.2.as_deref(),
        Some(r#"{"headers":{"WWW-Authenticate":"Bearer realm=\"api\""},"status":401}"#)
    );
    let (_, key) = create("tenant", "{read:documents}");
    Spi::run_with_args(
        "SELECT set_config('request.headers', json_build_object('x-api-key', $1::text)::text, true)",
        &[key.as_str().into()],
    )
    .unwrap();
    let accepted = Spi::get_one::<i64>("SELECT count(*) FROM api_keys.postgrest_check('read:documents')").unwrap();
    assert_eq!(accepted, Some(0), "no row when the key is accepted");
    let refused = Spi::get_one::<String>("SELECT code FROM api_keys.postgrest_check('write:documents')").unwrap();
    assert_eq!(refused.as_deref(), Some("insufficient_scope"));
}

#[pg_test]
fn postgrest_routes_pick_the_most_specific_scope() {
    Spi::run(
        "INSERT INTO api_keys.postgrest_routes VALUES ('*', '/**', 'api'), ('get', '/documents', 'read:documents')",
    )
    .unwrap();
    let scope = |m: &str, p: &str| {
        Spi::get_one_with_args::<String>("SELECT api_keys.postgrest_required_scope($1, $2)", &[m.into(), p.into()])
            .unwrap()
    };
    assert_eq!(scope("HEAD", "/doc%75ments").as_deref(), Some("read:documents"));
    assert_eq!(scope("POST", "/documents").as_deref(), Some("api:*"));
    assert_eq!(scope("GET", "/"), None);
}

#[pg_test(error = "path pattern \"documents\" must start with / (for example /documents or /rpc/*)")]
fn postgrest_route_rows_are_checked() {
    Spi::run("INSERT INTO api_keys.postgrest_routes VALUES ('GET', 'documents', 'read:documents')").unwrap();
}

#[pg_test(error = "quotas need the api_keys library in shared_preload_libraries")]
fn quota_needs_the_preloaded_library() {
    // The pg_test server does not preload the library.
    Spi::run("SELECT * FROM api_keys.apikey_create('tenant', 'metered', quota => 1000)").unwrap();
}

#[pg_test]
fn owner_limits_without_rate_or_quota_remove_the_row() {
    // Setting only a period or a window, with nothing to apply it to, keeps
    // no row; the functions answer without the preloaded library.
    let rows = Spi::get_one::<i64>(
        "SELECT count(*) FROM api_keys.apikey_set_owner_limits('nobody', quota_period => 'day')",
    )
    .unwrap();
    assert_eq!(rows, Some(0));
    let listed = Spi::get_one::<i64>("SELECT count(*) FROM api_keys.apikey_owner_limits()").unwrap();
    assert_eq!(listed, Some(0));
}

#[pg_test]
fn scopes_and_networks_are_read_wherever_the_array_lies() {
    // A short array is stored with a 1-byte header, a long one compressed;
    // a NULL element (only a direct UPDATE can store one) is skipped.
    let (id, key) = create("arrays", "{read:docs/*}");
    assert_eq!(code_of(&key, ", 'read:docs/1', '10.0.0.1'"), "valid");
    let many: Vec<String> = (0..400).map(|i| format!("read:project{i}/docs/*")).collect();
    let update = |scopes: &str, cidrs: &str| {
        Spi::run_with_args(
            &format!("UPDATE api_keys.keys SET scopes = {scopes}, allowed_cidrs = {cidrs} WHERE id = $1"),
            &[id.into()],
        )
        .unwrap()
    };
    update(
        &format!("'{{{}}}'", many.join(",")),
        "array_fill('192.168.0.0/16'::text, ARRAY[300]) || '{10.0.0.0/8}'",
    );
    assert_eq!(code_of(&key, ", 'read:project399/docs/7', '10.0.0.1'"), "valid");
    assert_eq!(code_of(&key, ", 'read:project400/docs/7', '10.0.0.1'"), "insufficient_scope");
    assert_eq!(code_of(&key, ", 'read:project0/docs/7', '11.0.0.1'"), "ip_not_allowed");
    update("ARRAY[NULL, 'read:docs/*']", "ARRAY[NULL, '10.0.0.0/8']");
    assert_eq!(code_of(&key, ", 'read:docs/1', '10.0.0.1'"), "valid");
    assert_eq!(code_of(&key, ", 'write:docs/1', '10.0.0.1'"), "insufficient_scope");
    assert_eq!(code_of(&key, ", 'read:docs/1', '11.0.0.1'"), "ip_not_allowed");
}

#[pg_test]
fn creation_with_an_insert_trigger_takes_the_statement() {
    // Key creation writes its rows without SPI only where an INSERT
    // statement would run no trigger; a trigger an administrator adds runs.
    lock_key_tables_for_ddl();
    Spi::run(
        "CREATE TABLE public.trigger_calls (n int);
         CREATE FUNCTION public.count_call() RETURNS trigger LANGUAGE plpgsql
             SET search_path = pg_catalog AS $$
             BEGIN INSERT INTO public.trigger_calls VALUES (1); RETURN NEW; END $$;
         CREATE TRIGGER count_call BEFORE INSERT ON api_keys.events
             FOR EACH ROW EXECUTE FUNCTION public.count_call();",
    )
    .unwrap();
    let calls = || Spi::get_one::<i64>("SELECT count(*) FROM public.trigger_calls").unwrap();
    let (_, key) = create("event_triggered", "{}");
    assert_eq!(code_of(&key, ""), "valid");
    assert_eq!(calls(), Some(1), "the event's trigger ran");
    Spi::run(
        "CREATE TRIGGER count_call BEFORE INSERT ON api_keys.keys
             FOR EACH ROW EXECUTE FUNCTION public.count_call();",
    )
    .unwrap();
    let (_, key) = create("both_triggered", "{}");
    assert_eq!(code_of(&key, ""), "valid");
    assert_eq!(calls(), Some(3), "the key's and the event's triggers ran");
    Spi::run("DROP TRIGGER count_call ON api_keys.keys; DROP TRIGGER count_call ON api_keys.events")
        .unwrap();
    let (_, key) = create("untriggered", "{}");
    assert_eq!(code_of(&key, ""), "valid");
    assert_eq!(calls(), Some(3));
    let events = Spi::get_one::<i64>(
        "SELECT count(*) FROM api_keys.events
          WHERE owner IN ('event_triggered', 'both_triggered', 'untriggered') AND action = 'created'",
    )
    .unwrap();
    assert_eq!(events, Some(3), "every way records the created event");
}

#[pg_test(error = "new row for relation \"keys\" violates check constraint \"no_evil_names\"")]
fn creation_checks_a_constraint_added_later() {
    // The prepared CHECK expressions are dropped when the table changes.
    lock_key_tables_for_ddl();
    create("before", "{}");
    Spi::run("ALTER TABLE api_keys.keys ADD CONSTRAINT no_evil_names CHECK (name <> 'evil')").unwrap();
    Spi::run("SELECT * FROM api_keys.apikey_create('after', 'evil')").unwrap();
}

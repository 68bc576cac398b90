//! `#[pg_test]`s of the pgrx layer.
use pgrx::prelude::*;

#[pg_test]
fn verify_malformed_without_table_access() {
    let code = Spi::get_one::<String>("SELECT (api_keys.apikey_verify('nope')).code").unwrap();
    assert_eq!(code.as_deref(), Some("malformed"));
}

//! The request context for row-level security: `apikey_authenticate` makes
//! a valid key the transaction's current key; the accessors read it.

use std::cell::RefCell;

use api_keys_core::scope::Scope;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use crate::api::args;
use crate::runtime::context;

thread_local! {
    /// The last scope `apikey_has_scope` parsed: policies ask the same one per row.
    static LAST_REQUIRED: RefCell<Option<(String, Scope)>> = const { RefCell::new(None) };
}

/// `apikey_authenticate`: verify, and make the key the transaction's
/// context; 28000 with the verification code when it is not valid. Not
/// SECURITY DEFINER, for the reasons given in [`crate::api::verify`].
#[pg_extern(volatile, parallel_unsafe)]
fn apikey_authenticate(
    key: Option<&str>,
    client_ip: default!(Option<args::ClientAddr>, "NULL"),
    required_scope: default!(Option<&str>, "NULL"),
) -> Result<pgrx::Uuid, ErrorReport> {
    let required = args::required_scope(required_scope)?;
    let ip = client_ip.map(|a| a.0);
    Ok(context::authenticate(key, ip, required.as_ref())?)
}

/// The key that authenticated this transaction; NULL when none did.
#[pg_extern(stable, parallel_safe)]
fn apikey_current_key_id() -> Option<pgrx::Uuid> {
    context::current().map(|ctx| ctx.key_id)
}

/// The owner of the key that authenticated this transaction; NULL when none did.
#[pg_extern(stable, parallel_safe)]
fn apikey_current_owner() -> Option<String> {
    context::current().map(|ctx| ctx.owner.clone())
}

/// Whether the current key's scopes cover `scope`; false when not authenticated.
#[pg_extern(stable, parallel_safe, strict)]
fn apikey_has_scope(scope: &str) -> Result<bool, ErrorReport> {
    LAST_REQUIRED.with(|last| {
        let mut last = last.borrow_mut();
        if last.as_ref().map(|(text, _)| text.as_str()) != Some(scope) {
            let parsed = args::required_scope(Some(scope))?.expect("Some in, Some out");
            *last = Some((scope.to_string(), parsed));
        }
        let (_, required) = last.as_ref().expect("set above");
        Ok(context::current().is_some_and(|ctx| ctx.scopes.covers(required)))
    })
}

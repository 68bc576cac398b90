//! `apikey_verify`: answers, never raises for a bad key.
//!
//! Not SECURITY DEFINER: verification reads the key table through its index
//! directly, which needs no privilege of the caller, and records its use in
//! shared memory. Only without the preloaded library does it write a row,
//! and then it switches to the extension's owner explicitly, with a pinned
//! search path ([`crate::runtime::privilege`]).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use crate::api::args;
use crate::runtime::verification;

#[pg_extern(volatile, parallel_unsafe)]
fn apikey_verify(
    key: Option<&str>,
    required_scope: default!(Option<&str>, "NULL"),
    client_ip: default!(Option<args::ClientAddr>, "NULL"),
) -> Result<pgrx::composite_type!('static, "verification"), ErrorReport> {
    let required = args::required_scope(required_scope)?;
    let ip = client_ip.map(|a| a.0);
    Ok(verification::verify(key, required.as_ref(), ip, false)?.row)
}

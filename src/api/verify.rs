//! `apikey_verify`: answers, never raises for a bad key.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use crate::api::args;
use crate::runtime::verification;

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_verify(
    key: Option<&str>,
    required_scope: default!(Option<&str>, "NULL"),
    client_ip: default!(Option<pgrx::Inet>, "NULL"),
) -> Result<pgrx::composite_type!('static, "verification"), ErrorReport> {
    let required = args::required_scope(required_scope)?;
    let ip = args::client_ip(client_ip.as_ref())?;
    Ok(verification::verify(key, required.as_ref(), ip, false)?.row)
}

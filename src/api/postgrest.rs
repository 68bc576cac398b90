//! PostgREST support: the body of `api_keys.postgrest_pre_request()`.
//!
//! The SQL wrapper (sql/install/postgrest.sql) raises SQLSTATE `PT401`,
//! which PostgREST turns into HTTP 401; this function reads the request
//! headers, lets the core pick the key and the client address
//! ([`api_keys_core::headers`]), and authenticates.

use std::ffi::{CStr, CString};

use api_keys_core::headers::presented;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use crate::error::Error;
use crate::runtime::context;
use crate::settings;

fn request_headers() -> Option<String> {
    // SAFETY: GetConfigOption returns a pointer to the setting's current
    // value (or NULL when missing_ok and it does not exist), copied at once.
    unsafe {
        let value = pg_sys::GetConfigOption(c"request.headers".as_ptr(), true, false);
        if value.is_null() {
            None
        } else {
            Some(CStr::from_ptr(value).to_string_lossy().into_owned())
        }
    }
}

/// Tell PostgREST to send `Retry-After` (its `response.headers` setting,
/// local to the transaction).
fn set_retry_after(seconds: u32) {
    let headers = format!("[{{\"Retry-After\": \"{seconds}\"}}]");
    let value = CString::new(headers).expect("no NUL");
    // SAFETY: sets a placeholder setting with SET LOCAL semantics; elevel 0
    // makes a refusal a no-op instead of an error.
    unsafe {
        pg_sys::set_config_option(
            c"response.headers".as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            0,
            false,
        );
    }
}

/// Authenticate the current PostgREST request. NULL when the key was
/// accepted (the context is set); otherwise why not: `missing` or the
/// verification code.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn postgrest_authenticate() -> Result<Option<String>, ErrorReport> {
    let headers = request_headers();
    let ip_header = settings::postgrest_client_ip_header();
    let presented = presented(headers.as_deref(), ip_header.as_deref());
    let Some(key) = presented.key else {
        return Ok(Some("missing".to_string()));
    };
    match context::authenticate(Some(&key), presented.client_ip, None) {
        Ok(_) => Ok(None),
        Err(Error::NotAuthenticated { code, retry_after }) => {
            if let Some(seconds) = retry_after {
                set_retry_after(seconds);
            }
            Ok(Some(code.to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

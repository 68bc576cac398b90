//! PostgREST support: the body of `api_keys.postgrest_pre_request()`.
//!
//! The SQL wrapper (sql/postgrest.sql) raises SQLSTATE `PT401`, which
//! PostgREST turns into HTTP 401; this module reads the request headers,
//! picks the key and the client address, and authenticates.

use std::ffi::CStr;

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::context;
use crate::settings;

/// What a PostgREST request presented.
#[derive(Debug, Default, PartialEq)]
pub struct Presented {
    pub key: Option<String>,
    pub client_ip: Option<String>,
}

/// Read the key (`x-api-key`, else `Authorization: Bearer`) and, when an
/// operator named a header for it, the client address, from PostgREST's
/// `request.headers` JSON. Anything unreadable counts as absent.
pub fn presented(headers_json: Option<&str>, ip_header: Option<&str>) -> Presented {
    let Some(json) = headers_json else {
        return Presented::default();
    };
    let Ok(serde_json::Value::Object(headers)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return Presented::default();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.as_str());
    let key = header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .or_else(|| {
            let auth = header("authorization")?.trim();
            let (scheme, token) = auth.split_once(char::is_whitespace)?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        });
    // Behind a proxy that appends to a list (x-forwarded-for), the last
    // entry is the one the trusted proxy itself saw.
    let client_ip = ip_header
        .and_then(header)
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string);
    Presented { key, client_ip }
}

fn request_headers() -> Option<String> {
    unsafe {
        let value = pg_sys::GetConfigOption(c"request.headers".as_ptr(), true, false);
        if value.is_null() {
            None
        } else {
            Some(CStr::from_ptr(value).to_string_lossy().into_owned())
        }
    }
}

/// Authenticate the current PostgREST request. NULL when the key was
/// accepted (the context is set); otherwise why not: `missing` or the
/// verification code.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn postgrest_authenticate() -> Option<String> {
    let headers = request_headers();
    let ip_header = settings::postgrest_client_ip_header();
    let presented = presented(headers.as_deref(), ip_header.as_deref());
    let Some(key) = presented.key else {
        return Some("missing".to_string());
    };
    let ip = presented.client_ip.map(pgrx::Inet);
    match context::authenticate(Some(&key), ip.as_ref(), None) {
        Ok(_) => None,
        Err(crate::error::ApiKeyError::NotAuthenticated { code }) => Some(code.to_string()),
        Err(other) => other.raise(),
    }
}

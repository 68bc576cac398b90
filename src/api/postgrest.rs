//! PostgREST support: what the pre-request hooks of
//! `sql/install/postgrest.sql` call, and the route table's reader.
//!
//! - `postgrest_check(required_scope)` authenticates the request in
//!   `request.headers` and gives the HTTP answer of a refusal as PostgREST's
//!   `RAISE SQLSTATE 'PGRST'` wants it ([`api_keys_core::http`]); an
//!   accepted request of a rate-limited key gets the RateLimit fields in
//!   `response.headers`.
//! - `postgrest_required_scope(method, path)` reads
//!   `api_keys.postgrest_routes` ([`api_keys_core::route`]).
//! - `postgrest_authenticate()` (kept from 0.2.0): the route's scope, and
//!   the code of a refusal instead of the answer.
//! - `postgrest_route_check(...)`: the route table's trigger validates rows
//!   with it.

use std::ffi::{CStr, CString};

use api_keys_core::headers::presented;
use api_keys_core::http::{self, Answer};
use api_keys_core::route::{self, Method, Pattern, Route};
use api_keys_core::scope::Scope;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use crate::api::args;
use crate::error::{Error, Result};
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{catalog, context};
use crate::settings;

/// A setting's current value; None when it does not exist or is empty
/// (PostgREST's `request.*` settings outside a request).
fn setting(name: &CStr) -> Option<String> {
    // SAFETY: GetConfigOption returns a pointer to the setting's current
    // value (or NULL when missing_ok and it does not exist), copied at once.
    unsafe {
        let value = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        if value.is_null() {
            None
        } else {
            Some(CStr::from_ptr(value).to_string_lossy().into_owned())
        }
    }
    .filter(|v| !v.is_empty())
}

/// Set `response.headers` for the rest of the transaction (SET LOCAL).
fn set_response_headers(value: &str) {
    let value = CString::new(value.replace('\0', "")).unwrap_or_default();
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

/// Authenticate the current request requiring `required`, and answer it.
/// The context is set when the key is accepted; a rate-limited key's
/// accepted request gets the RateLimit fields in `response.headers`.
fn check(required: Option<&Scope>) -> Result<(String, Answer)> {
    let headers = setting(c"request.headers");
    let ip_header = settings::postgrest_client_ip_header();
    let presented = presented(headers.as_deref(), ip_header.as_deref());
    let (code, policies) = match presented.key {
        None => ("missing".to_string(), Vec::new()),
        Some(key) => {
            let verdict = context::authenticate_verdict(Some(&key), presented.client_ip, required)?;
            (verdict.code.to_string(), verdict.policies)
        }
    };
    let scope = required.map(Scope::to_string);
    let answer = http::answer(
        &code,
        &policies,
        &settings::postgrest_realm(),
        scope.as_deref(),
    );
    if answer.error.is_none() {
        let existing = setting(c"response.headers");
        if let Some(value) = answer.response_headers(existing.as_deref()) {
            set_response_headers(&value);
        }
    }
    Ok((code, answer))
}

/// `postgrest_check`: authenticate the current PostgREST request, requiring
/// `required_scope` when it is not NULL. No row when the key was accepted
/// (the context is set); otherwise one: the HTTP status, the code, and the
/// MESSAGE and DETAIL for `RAISE SQLSTATE 'PGRST'`.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn postgrest_check(
    required_scope: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(status, i32),
            name!(code, String),
            name!(message, String),
            name!(detail, String),
        ),
    >,
    ErrorReport,
> {
    let required = args::required_scope(required_scope)?;
    let (code, answer) = check(required.as_ref())?;
    let row = answer.pgrst_message().map(|message| {
        (
            i32::from(answer.status),
            code,
            message,
            answer.pgrst_detail(),
        )
    });
    Ok(TableIterator::new(row))
}

/// `postgrest_authenticate`: the 0.2.0 hook's body, kept: authenticate the
/// current request with its route's scope; NULL when accepted, else the
/// code (`missing` or the verification code).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn postgrest_authenticate() -> Result<Option<String>, ErrorReport> {
    let scope = route_scope(
        setting(c"request.method").as_deref(),
        setting(c"request.path").as_deref(),
    )?;
    let required = args::required_scope(scope.as_deref())?;
    let (code, answer) = check(required.as_ref())?;
    Ok(answer.error.map(|_| code))
}

/// `postgrest_required_scope`: the scope `api_keys.postgrest_routes`
/// requires of a request (by default, the current PostgREST request); NULL
/// when no route applies, when the applying route requires none, or
/// without a method or path (not a PostgREST request).
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn postgrest_required_scope(
    method: default!(Option<&str>, "current_setting('request.method', true)"),
    path: default!(Option<&str>, "current_setting('request.path', true)"),
) -> Result<Option<String>, ErrorReport> {
    Ok(route_scope(method, path)?)
}

/// `postgrest_route_check`: nothing when a route table row's values are
/// valid, else 22023 naming the bad one. Called by the table's trigger.
#[pg_extern(immutable, parallel_safe)]
fn postgrest_route_check(
    method: Option<&str>,
    path: Option<&str>,
    required_scope: Option<&str>,
) -> Result<(), ErrorReport> {
    let method = method.ok_or_else(|| Error::invalid("method must not be NULL"))?;
    Method::parse(method).map_err(invalid_route)?;
    let path = path.ok_or_else(|| Error::invalid("path must not be NULL"))?;
    Pattern::parse(path).map_err(invalid_route)?;
    args::required_scope(required_scope)?;
    Ok(())
}

fn invalid_route(e: route::RouteError) -> Error {
    Error::invalid_with_hint(
        e.to_string(),
        "A route is a method (GET, HEAD, POST, PUT, PATCH, DELETE or *) and a path pattern \
         such as /documents, /rpc/* or /**.",
    )
}

/// The scope the route table requires of `method` on `path`. None without
/// a method or path, or before `ALTER EXTENSION api_keys UPDATE` made the
/// table (0.2.0's hook calls `postgrest_authenticate` too).
fn route_scope(method: Option<&str>, path: Option<&str>) -> Result<Option<String>> {
    let (Some(method), Some(path)) = (
        method.filter(|m| !m.is_empty()),
        path.filter(|p| !p.is_empty()),
    ) else {
        return Ok(None);
    };
    route::parse_request_method(method).map_err(|e| Error::invalid(e.to_string()))?;
    route::check_request_path(path).map_err(|e| Error::invalid(e.to_string()))?;
    if catalog::members()?.postgrest_routes.is_none() {
        return Ok(None); // an older release's schema
    }
    catalog::check_names()?;
    let routes = read_routes(method)?;
    Ok(route::applicable(&routes, method, path).and_then(|r| r.required_scope.clone()))
}

/// The routes whose method can apply to a request of `method`. A row that
/// does not parse (the trigger was bypassed) is an error, never skipped:
/// skipping it could drop a scope requirement.
fn read_routes(method: &str) -> Result<Vec<Route>> {
    let candidates: Vec<String> = route::candidate_methods(method)
        .into_iter()
        .map(str::to_string)
        .collect();
    Spi::connect(|client| {
        let args: [DatumWithOid; 1] = [candidates.into()];
        let table = storage::run(client, Stmt::PostgrestRoutes, &args)?;
        let mut routes = Vec::with_capacity(table.len());
        for row in table {
            let method = row.get::<String>(1)?.unwrap_or_default();
            let path = row.get::<String>(2)?.unwrap_or_default();
            let scope = row.get::<String>(3)?;
            let bad = |e: String| {
                Error::invalid_with_hint(
                    format!("api_keys.postgrest_routes holds an invalid route: {e}"),
                    "Correct or delete the row.",
                )
            };
            let route = Route {
                method: Method::parse(&method).map_err(|e| bad(e.to_string()))?,
                pattern: Pattern::parse(&path).map_err(|e| bad(e.to_string()))?,
                required_scope: scope
                    .map(|s| Scope::parse(&s).map(|p| p.to_string()))
                    .transpose()
                    .map_err(|e| bad(e.to_string()))?,
            };
            routes.push(route);
        }
        Ok::<_, Error>(routes)
    })
}

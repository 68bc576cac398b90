//! Argument validation for every SQL function: each argument is checked
//! and normalized here, and a bad one is a 22023 naming the value.

use std::net::IpAddr;

use api_keys_core::quota::Period;
use api_keys_core::scope::{self, Scope};
use api_keys_core::{cidr, interval, key, lifecycle};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::error::{warn, Error, Result};
use crate::runtime::{quota, ratelimit, xact};

/// Longest owner or name accepted, in bytes.
const MAX_TEXT_LEN: usize = 1024;

/// A required text argument: not NULL, not empty, not huge.
pub fn required_text<'a>(what: &str, value: Option<&'a str>) -> Result<&'a str> {
    match value {
        None => Err(Error::invalid(format!("{what} must not be NULL"))),
        Some("") => Err(Error::invalid(format!("{what} must not be empty"))),
        Some(v) if v.len() > MAX_TEXT_LEN => Err(Error::invalid(format!(
            "{what} is too long ({} bytes; at most {MAX_TEXT_LEN})",
            v.len()
        ))),
        Some(v) => Ok(v),
    }
}

/// The key a management function acts on: never NULL.
pub fn key_id(key_id: Option<Uuid>) -> Result<Uuid> {
    key_id.ok_or_else(|| Error::invalid("key_id must not be NULL"))
}

/// Validate and normalize granted scopes (`read` → `read:*`).
pub fn scopes(scopes: Option<Vec<Option<String>>>) -> Result<Vec<String>> {
    let scopes = scopes.unwrap_or_default();
    let mut texts = Vec::with_capacity(scopes.len());
    for s in &scopes {
        match s {
            Some(s) => texts.push(s.as_str()),
            None => return Err(Error::invalid("scopes must not contain NULL")),
        }
    }
    scope::normalize_all(&texts).map_err(|e| Error::invalid(e.to_string()))
}

/// Validate and normalize allowed networks. NULL and `'{}'` both mean any
/// address (stored as NULL); a wildcard network is accepted with a WARNING.
pub fn cidrs(cidrs: Option<Vec<Option<String>>>) -> Result<Option<Vec<String>>> {
    let Some(cidrs) = cidrs else { return Ok(None) };
    if cidrs.is_empty() {
        return Ok(None);
    }
    let mut texts = Vec::with_capacity(cidrs.len());
    for c in &cidrs {
        match c {
            Some(c) => texts.push(c.as_str()),
            None => return Err(Error::invalid("allowed_cidrs must not contain NULL")),
        }
    }
    let parsed = cidr::parse_allowed(&texts).map_err(|e| Error::invalid(e.to_string()))?;
    for w in &parsed.warnings {
        warn(w);
    }
    Ok(Some(parsed.normalized))
}

/// An expiry must lie in the future; `'infinity'` means never (NULL).
pub fn expiry(expires_at: Option<TimestampWithTimeZone>) -> Result<Option<TimestampWithTimeZone>> {
    let Some(ts) = expires_at else {
        return Ok(None);
    };
    if ts.is_infinity() {
        return Ok(None);
    }
    if pg_sys::TimestampTz::from(ts) <= xact::now() {
        return Err(Error::invalid_with_hint(
            format!("expires_at {ts} is not in the future"),
            "Pass NULL (or 'infinity') for a key that never expires.",
        ));
    }
    Ok(Some(ts))
}

/// Metadata must be a JSON object, nested at most 127 levels; NULL means `{}`.
pub fn metadata(metadata: Option<JsonbText>) -> Result<JsonB> {
    let Some(JsonbText(text)) = metadata else {
        return Ok(JsonB(serde_json::json!({})));
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(format!(
            "metadata cannot be taken: {e} (at most 127 levels of nesting)"
        ))
    })?;
    if value.is_object() {
        Ok(JsonB(value))
    } else {
        Err(Error::invalid(format!(
            "metadata must be a JSON object, not {}",
            truncate(&text, 80)
        )))
    }
}

/// At most `max` bytes of `s` (on a character boundary), marked when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A key environment: `[a-z][a-z0-9]{0,15}`.
pub fn environment(environment: Option<&str>) -> Result<&str> {
    let env = environment.ok_or_else(|| Error::invalid("environment must not be NULL"))?;
    key::validate_label(key::LabelKind::Environment, env)
        .map_err(|e| Error::invalid(e.to_string()))?;
    Ok(env)
}

/// An interval's length in microseconds, as PostgreSQL compares intervals.
fn length(i: &Interval) -> i128 {
    interval::total_micros(i.months(), i.days(), i.micros())
}

fn is_zero(i: &Interval) -> bool {
    i.months() == 0 && i.days() == 0 && i.micros() == 0
}

/// A rotation grace: not negative; NULL means none.
pub fn grace(grace: Option<Interval>) -> Result<Interval> {
    let grace = grace.unwrap_or_else(|| Interval::new(0, 0, 0).expect("zero interval"));
    if length(&grace) < 0 {
        return Err(Error::invalid(format!("grace {grace} is negative")));
    }
    Ok(grace)
}

/// A look-ahead window (`within`): not NULL, not negative.
pub fn window(what: &str, within: Option<Interval>) -> Result<Interval> {
    let within = within.ok_or_else(|| Error::invalid(format!("{what} must not be NULL")))?;
    if length(&within) < 0 {
        return Err(Error::invalid(format!("{what} {within} is negative")));
    }
    Ok(within)
}

/// A rotation interval must be positive; `'0'` (in an update) clears it.
pub fn rotation_interval(interval: Option<Interval>) -> Result<Option<Interval>> {
    match interval {
        Some(i) if length(&i) < 0 => {
            Err(Error::invalid(format!("rotation_interval {i} is negative")))
        }
        Some(i) if is_zero(&i) => Ok(None),
        other => Ok(other),
    }
}

/// A rate limit: `limit` requests per `window` (default one minute, from one
/// second to one day). `limit` 0 (in an update) removes the limit.
pub fn rate_limit(
    limit: Option<i32>,
    window: Option<Interval>,
) -> Result<(Option<i32>, Option<Interval>)> {
    if let Some(w) = &window {
        let micros = length(w);
        if !(1_000_000..=interval::DAY_MICROS).contains(&micros) {
            return Err(Error::invalid(format!(
                "rate_window {w} is not between 1 second and 1 day"
            )));
        }
    }
    match limit {
        Some(n) if n < 0 => Err(Error::invalid(format!("rate_limit {n} is negative"))),
        Some(n) if n > MAX_RATE_LIMIT => Err(Error::invalid(format!(
            "rate_limit {n} is more than {MAX_RATE_LIMIT} per window"
        ))),
        Some(0) => Ok((None, None)),
        Some(n) => {
            if !ratelimit::available() {
                return Err(Error::NeedsPreload("rate limits"));
            }
            Ok((Some(n), window))
        }
        None => Ok((None, window)),
    }
}

/// The most requests a rate limit may allow per window.
const MAX_RATE_LIMIT: i32 = 1_000_000_000;

/// The most verifications a quota may allow per period.
const MAX_QUOTA: i64 = 1_000_000_000_000_000;

/// A quota: `quota` valid verifications per `period` (`day` or `month`,
/// UTC; the period as given: creation defaults it to `month`, an update
/// keeps the key's). `quota` 0 (in an update) removes the quota.
pub fn quota(quota: Option<i64>, period: Option<&str>) -> Result<(Option<i64>, Option<Period>)> {
    let period = period
        .map(|p| Period::parse(p).map_err(|e| Error::invalid(e.to_string())))
        .transpose()?;
    match quota {
        Some(n) if n < 0 => Err(Error::invalid(format!("quota {n} is negative"))),
        Some(n) if n > MAX_QUOTA => Err(Error::invalid(format!(
            "quota {n} is more than {MAX_QUOTA} per period"
        ))),
        Some(0) => Ok((None, None)),
        Some(n) => {
            if !quota::available() {
                return Err(Error::NeedsPreload("quotas"));
            }
            Ok((Some(n), period))
        }
        None => Ok((None, period)),
    }
}

/// The window of a rate limit given without one.
pub fn default_rate_window() -> Interval {
    Interval::new(0, 0, 60_000_000).expect("one minute")
}

/// A webhook address must be http or https; `''` (in an update) clears it.
pub fn webhook_url(url: Option<&str>) -> Result<Option<&str>> {
    match url {
        None | Some("") => Ok(None),
        Some(u) => lifecycle::validate_webhook_url(u)
            .map(Some)
            .map_err(|e| Error::invalid(e.to_string())),
    }
}

/// A key status filter of `apikey_list`; NULL means all.
pub fn status(status: Option<&str>) -> Result<&str> {
    let status = status.unwrap_or("all");
    if !matches!(status, "active" | "expired" | "revoked" | "all") {
        return Err(Error::invalid_with_hint(
            format!("invalid status \"{}\"", truncate(status, 64).escape_debug()),
            "status is one of active, expired, revoked, all",
        ));
    }
    Ok(status)
}

/// A required scope; an invalid one is the caller's bug (22023), not a bad
/// key.
pub fn required_scope(required: Option<&str>) -> Result<Option<Scope>> {
    required
        .map(|s| Scope::parse(s).map_err(|e| Error::invalid(e.to_string())))
        .transpose()
}

/// A `client_ip inet` argument: the address part of the value (`10.1.2.3/24`
/// → `10.1.2.3`), read from the value's bytes rather than through its text
/// (pgrx's `Inet` prints it with `inet_out`: most of a verification's
/// argument handling).
pub struct ClientAddr(pub IpAddr);

pgrx::impl_sql_translatable!(ClientAddr, arg_only = "inet");

/// `family` of an `inet` value (`utils/inet.h`): `AF_INET`, and one more
/// for IPv6 (PostgreSQL's own numbering, the same on every platform).
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = PGSQL_AF_INET + 1;

impl FromDatum for ClientAddr {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-NULL inet datum: a varlena (maybe with a 1-byte
        // header, never toasted out of line at this size) holding
        // `inet_struct { family, bits, ipaddr[16] }`; only as many bytes
        // as its length says are read.
        unsafe {
            let v = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()) as *const u8;
            let (header, len) = if *v & 0x01 == 0x01 {
                (1, (*v >> 1) as usize)
            } else {
                (4, (v as *const u32).read_unaligned() as usize >> 2)
            };
            let body = std::slice::from_raw_parts(v.add(header), len.saturating_sub(header));
            match body {
                [PGSQL_AF_INET, _, a, b, c, d, ..] => {
                    Some(ClientAddr(IpAddr::from([*a, *b, *c, *d])))
                }
                [PGSQL_AF_INET6, _, rest @ ..] if rest.len() >= 16 => {
                    let bytes: [u8; 16] = rest[..16].try_into().expect("16 bytes");
                    Some(ClientAddr(IpAddr::from(bytes)))
                }
                _ => None,
            }
        }
    }
}

// SAFETY: read through `FromDatum`; NULL is answered before the datum is.
unsafe impl<'fcx> ArgAbi<'fcx> for ClientAddr {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: pgrx's wrapper passes a non-NULL inet argument here.
        let addr = unsafe { arg.unbox_arg_using_from_datum::<ClientAddr>() };
        addr.expect("an inet value holds an IPv4 or IPv6 address")
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        if arg.is_null() {
            return Nullable::Null;
        }
        // SAFETY: as above.
        Nullable::Valid(unsafe { Self::unbox_arg_unchecked(arg) })
    }
}

/// A `metadata jsonb` argument taken as its JSON text rather than through
/// pgrx's `JsonB` (which parses with serde_json's default recursion limit and
/// turns a deeply nested document into an internal error); [`metadata`]
/// parses it, and too deep a document is a 22023.
pub struct JsonbText(pub String);

pgrx::impl_sql_translatable!(JsonbText, arg_only = "jsonb");

impl FromDatum for JsonbText {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-NULL jsonb datum; detoasted (and freed when that
        // made a copy) and printed by jsonb's own output function.
        unsafe {
            let varlena = datum.cast_mut_ptr();
            let detoasted = pg_sys::pg_detoast_datum_packed(varlena);
            let cstr = pgrx::direct_function_call::<&core::ffi::CStr>(
                pg_sys::jsonb_out,
                &[Some(detoasted.into())],
            )?;
            let text = cstr.to_string_lossy().into_owned();
            pg_sys::pfree(cstr.as_ptr() as *mut core::ffi::c_void);
            if detoasted != varlena {
                pg_sys::pfree(detoasted as *mut core::ffi::c_void);
            }
            Some(JsonbText(text))
        }
    }
}

// SAFETY: unboxed through `FromDatum` like any by-reference argument.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbText {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the caller (pgrx's wrapper) guarantees a jsonb argument.
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

//! Argument validation for every SQL function: each argument is checked
//! and normalized here, and a bad one is a 22023 naming the value.

use std::net::IpAddr;

use api_keys_core::quota::Period;
use api_keys_core::scope::{self, Scope};
use api_keys_core::{cidr, digest as key_digest, interval, key, lifecycle};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::datum::{Interval, TimestampWithTimeZone};
use pgrx::nullable::Nullable;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{JsonB, PgTupleDesc, Uuid};

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
    count_limit(
        ("rate_limit", "window", "rate limits"),
        limit,
        MAX_RATE_LIMIT,
        ratelimit::available,
        window,
    )
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
    count_limit(
        ("quota", "period", "quotas"),
        quota,
        MAX_QUOTA,
        quota::available,
        period,
    )
}

/// A count a key may use per window or period (`count`, as given, with
/// `per`): negative or above `max` is an error, 0 removes the limit with
/// its window, and any other count needs the preloaded library
/// (`available`). `names`: the argument's name, the name of what it is per,
/// and the feature's name in the error without the library.
fn count_limit<N, P>(
    names: (&str, &str, &'static str),
    count: Option<N>,
    max: N,
    available: fn() -> bool,
    per: Option<P>,
) -> Result<(Option<N>, Option<P>)>
where
    N: Copy + PartialOrd + Default + std::fmt::Display,
{
    let (name, per_name, feature) = names;
    match count {
        Some(n) if n < N::default() => Err(Error::invalid(format!("{name} {n} is negative"))),
        Some(n) if n > max => Err(Error::invalid(format!(
            "{name} {n} is more than {max} per {per_name}"
        ))),
        Some(n) if n == N::default() => Ok((None, None)),
        Some(n) => {
            if !available() {
                return Err(Error::NeedsPreload(feature));
            }
            Ok((Some(n), per))
        }
        None => Ok((None, per)),
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

/// An imported key's digest: the 32 bytes of a SHA-256.
pub fn digest(digest: Option<&[u8]>) -> Result<[u8; 32]> {
    let digest = digest.ok_or_else(|| Error::invalid("digest must not be NULL"))?;
    digest.try_into().map_err(|_| {
        Error::invalid_with_hint(
            format!("digest is {} bytes, not 32", digest.len()),
            "The digest is the SHA-256 of the whole key as its user presents it, e.g. sha256(convert_to(key, 'UTF8')) or decode(hex_digest, 'hex').",
        )
    })
}

/// Longest prefix an imported key can be shown by, in bytes.
const MAX_PREFIX_LEN: usize = 64;

/// The prefix an imported key is shown by: NULL or `''` for none, else at
/// most 64 printable ASCII characters, and never the whole key (whose
/// digest is `digest`).
pub fn shown_prefix(prefix: Option<&str>, digest: &[u8; 32]) -> Result<String> {
    let prefix = prefix.unwrap_or_default();
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(Error::invalid(format!(
            "prefix is too long ({} bytes; at most {MAX_PREFIX_LEN})",
            prefix.len()
        )));
    }
    if !prefix.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return Err(Error::invalid(format!(
            "prefix \"{}\" holds a character other than printable ASCII",
            truncate(prefix, 64).escape_debug()
        )));
    }
    if !prefix.is_empty() && key_digest::sha256(prefix) == *digest {
        return Err(Error::invalid_with_hint(
            "prefix is the whole key",
            "Give only the first characters of the key, which are shown in lists and events.",
        ));
    }
    Ok(prefix.to_string())
}

/// When an imported key was made: not in the future; NULL means now.
pub fn created_at(at: Option<TimestampWithTimeZone>) -> Result<Option<TimestampWithTimeZone>> {
    match at {
        Some(ts) if ts.is_infinity() || ts.is_neg_infinity() => Err(Error::invalid(format!(
            "created_at {ts} is not a point in time"
        ))),
        Some(ts) if pg_sys::TimestampTz::from(ts) > xact::now() => {
            Err(Error::invalid(format!("created_at {ts} is in the future")))
        }
        other => Ok(other),
    }
}

/// The most keys one leak report takes.
pub const MAX_REPORTED_KEYS: usize = 10_000;

/// The keys of a leak report: not NULL, at most [`MAX_REPORTED_KEYS`].
pub fn reported_keys(keys: Option<Vec<Option<String>>>) -> Result<Vec<Option<String>>> {
    let keys = keys.ok_or_else(|| Error::invalid("keys must not be NULL"))?;
    if keys.len() > MAX_REPORTED_KEYS {
        return Err(Error::invalid_with_hint(
            format!(
                "keys holds {} keys; at most {MAX_REPORTED_KEYS} per call",
                keys.len()
            ),
            "Report them in several calls.",
        ));
    }
    Ok(keys)
}

/// Where a leak was found (a URL): optional (`''` is none), at most 2048
/// bytes.
pub fn leak_url(url: Option<&str>) -> Result<Option<&str>> {
    match url {
        None | Some("") => Ok(None),
        Some(u) if u.len() > lifecycle::MAX_WEBHOOK_URL_LEN => Err(Error::invalid(format!(
            "url is too long ({} bytes; at most {})",
            u.len(),
            lifecycle::MAX_WEBHOOK_URL_LEN
        ))),
        Some(u) => Ok(Some(u)),
    }
}

/// The fields of one `api_keys.imported_key`, as given (checked by the
/// caller with the functions above).
#[derive(Default)]
pub struct ImportedKeyFields {
    pub owner: Option<String>,
    pub name: Option<String>,
    pub digest: Option<Vec<u8>>,
    pub scopes: Option<Vec<Option<String>>>,
    pub expires_at: Option<TimestampWithTimeZone>,
    pub allowed_cidrs: Option<Vec<Option<String>>>,
    pub environment: Option<String>,
    pub metadata: Option<JsonbText>,
    pub rotation_interval: Option<Interval>,
    pub webhook_url: Option<String>,
    pub rate_limit: Option<i32>,
    pub rate_window: Option<Interval>,
    pub quota: Option<i64>,
    pub quota_period: Option<String>,
    pub prefix: Option<String>,
    pub created_at: Option<TimestampWithTimeZone>,
}

/// The field types of `api_keys.imported_key`, in order.
const IMPORTED_KEY_FIELDS: [pg_sys::Oid; 16] = [
    pg_sys::TEXTOID,
    pg_sys::TEXTOID,
    pg_sys::BYTEAOID,
    pg_sys::TEXTARRAYOID,
    pg_sys::TIMESTAMPTZOID,
    pg_sys::TEXTARRAYOID,
    pg_sys::TEXTOID,
    pg_sys::JSONBOID,
    pg_sys::INTERVALOID,
    pg_sys::TEXTOID,
    pg_sys::INT4OID,
    pg_sys::INTERVALOID,
    pg_sys::INT8OID,
    pg_sys::TEXTOID,
    pg_sys::TEXTOID,
    pg_sys::TIMESTAMPTZOID,
];

/// An `api_keys.imported_key[]` argument (`apikey_import_many`), read
/// element by element: each composite is deformed once and its fields
/// converted by type (metadata as [`JsonbText`], so that too deep a
/// document is a 22023, not an internal error).
pub struct ImportedKeyArray(pg_sys::Datum);

pgrx::impl_sql_translatable!(ImportedKeyArray, arg_only = "imported_key[]");

impl FromDatum for ImportedKeyArray {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        (!is_null).then_some(ImportedKeyArray(datum))
    }
}

// SAFETY: unboxed through `FromDatum` like any by-reference argument.
unsafe impl<'fcx> ArgAbi<'fcx> for ImportedKeyArray {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the caller (pgrx's wrapper) guarantees the argument's type.
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

impl ImportedKeyArray {
    /// Call `f` with each element's place (from 1) and fields (None for a
    /// NULL element), in order; stop at the first error.
    pub fn each(
        &self,
        mut f: impl FnMut(usize, Option<ImportedKeyFields>) -> Result<()>,
    ) -> Result<()> {
        // SAFETY: the datum is a non-NULL `api_keys.imported_key[]` (the
        // function's signature says so); it is detoasted before it is read,
        // its element type's descriptor is checked against the fields read
        // below, every element is deformed with that descriptor into arrays
        // of its 16 attributes, and each value is converted by the type the
        // check guarantees. Everything allocated lives in the function's
        // memory context.
        unsafe {
            let array = pg_sys::pg_detoast_datum(self.0.cast_mut_ptr()) as *mut pg_sys::ArrayType;
            let element_type = (*array).elemtype;
            let tupdesc = PgTupleDesc::for_composite_type_by_oid(element_type)
                .filter(|t| {
                    t.len() == IMPORTED_KEY_FIELDS.len()
                        && t.iter()
                            .zip(IMPORTED_KEY_FIELDS)
                            .all(|(a, oid)| !a.is_dropped() && a.type_oid().value() == oid)
                })
                .ok_or_else(|| {
                    Error::Internal(
                        "type api_keys.imported_key is not this library's; run ALTER EXTENSION api_keys UPDATE"
                            .into(),
                    )
                })?;
            let (mut len, mut byval, mut align) = (0i16, false, 0 as core::ffi::c_char);
            pg_sys::get_typlenbyvalalign(element_type, &mut len, &mut byval, &mut align);
            let mut elements: *mut pg_sys::Datum = std::ptr::null_mut();
            let mut element_nulls: *mut bool = std::ptr::null_mut();
            let mut n = 0;
            pg_sys::deconstruct_array(
                array,
                element_type,
                len.into(),
                byval,
                align,
                &mut elements,
                &mut element_nulls,
                &mut n,
            );
            let mut values = [pg_sys::Datum::from(0); IMPORTED_KEY_FIELDS.len()];
            let mut nulls = [true; IMPORTED_KEY_FIELDS.len()];
            for i in 0..usize::try_from(n).unwrap_or(0) {
                if *element_nulls.add(i) {
                    f(i + 1, None)?;
                    continue;
                }
                let header = pg_sys::pg_detoast_datum((*elements.add(i)).cast_mut_ptr())
                    as pg_sys::HeapTupleHeader;
                let mut tuple: pg_sys::HeapTupleData = std::mem::zeroed();
                tuple.t_len = pgrx::heap_tuple_header_get_datum_length(header) as u32;
                tuple.t_data = header;
                pg_sys::heap_deform_tuple(
                    &mut tuple,
                    tupdesc.as_ptr(),
                    values.as_mut_ptr(),
                    nulls.as_mut_ptr(),
                );
                let v = |k: usize| (values[k], nulls[k]);
                let fields = ImportedKeyFields {
                    owner: String::from_datum(v(0).0, v(0).1),
                    name: String::from_datum(v(1).0, v(1).1),
                    digest: Vec::<u8>::from_datum(v(2).0, v(2).1),
                    scopes: Vec::<Option<String>>::from_polymorphic_datum(
                        v(3).0,
                        v(3).1,
                        pg_sys::TEXTARRAYOID,
                    ),
                    expires_at: TimestampWithTimeZone::from_datum(v(4).0, v(4).1),
                    allowed_cidrs: Vec::<Option<String>>::from_polymorphic_datum(
                        v(5).0,
                        v(5).1,
                        pg_sys::TEXTARRAYOID,
                    ),
                    environment: String::from_datum(v(6).0, v(6).1),
                    metadata: JsonbText::from_datum(v(7).0, v(7).1),
                    rotation_interval: Interval::from_datum(v(8).0, v(8).1),
                    webhook_url: String::from_datum(v(9).0, v(9).1),
                    rate_limit: i32::from_datum(v(10).0, v(10).1),
                    rate_window: Interval::from_datum(v(11).0, v(11).1),
                    quota: i64::from_datum(v(12).0, v(12).1),
                    quota_period: String::from_datum(v(13).0, v(13).1),
                    prefix: String::from_datum(v(14).0, v(14).1),
                    created_at: TimestampWithTimeZone::from_datum(v(15).0, v(15).1),
                };
                f(i + 1, Some(fields))?;
            }
            Ok(())
        }
    }
}

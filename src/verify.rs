//! Verification: the hot path. One index lookup by digest through a kept
//! plan; the answer row is formed straight from the looked-up datums.

use std::net::IpAddr;

use api_keys_core::{cidr, digest, key, scope::Scope};
use pgrx::datum::DatumWithOid;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{AllocatedByRust, PgMemoryContexts, PgTupleDesc};

use crate::error::{ApiKeyError, OrRaise, Result};
use crate::key_lookup::{self, KeyRow};
use crate::ratelimit;
use crate::settings;
use crate::storage::{self, Stmt};
use api_keys_core::ratelimit::Decision;

/// The verification codes, in the order they are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Malformed,
    NotFound,
    Revoked,
    Expired,
    IpNotAllowed,
    InsufficientScope,
    RateLimited,
    Valid,
}

impl Code {
    const ALL: [Code; 8] = [
        Code::Malformed,
        Code::NotFound,
        Code::Revoked,
        Code::Expired,
        Code::IpNotAllowed,
        Code::InsufficientScope,
        Code::RateLimited,
        Code::Valid,
    ];

    /// A small number for the code (shared-memory usage counters).
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn from_index(i: u8) -> Code {
        Self::ALL
            .get(usize::from(i))
            .copied()
            .unwrap_or(Code::Malformed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::Malformed => "malformed",
            Code::NotFound => "not_found",
            Code::Revoked => "revoked",
            Code::Expired => "expired",
            Code::IpNotAllowed => "ip_not_allowed",
            Code::InsufficientScope => "insufficient_scope",
            Code::RateLimited => "rate_limited",
            Code::Valid => "valid",
        }
    }
}

/// Who a valid key is: what the request context keeps.
#[derive(Debug, Clone)]
pub struct Identity {
    pub key_id: pgrx::Uuid,
    pub owner: String,
    pub scopes: Vec<String>,
}

/// A verification's answer: the code, the `api_keys.verification` row, and
/// (when asked for and valid) the key's identity.
pub struct Verdict {
    pub code: Code,
    pub row: PgHeapTuple<'static, AllocatedByRust>,
    pub identity: Option<Identity>,
    /// For `rate_limited`: seconds until a retry can succeed.
    pub retry_after: Option<u32>,
}

/// Parse a required scope argument; invalid is the caller's bug (22023).
pub fn parse_required_scope(required: Option<&str>) -> Result<Option<Scope>> {
    match required {
        None => Ok(None),
        Some(s) => Scope::parse(s)
            .map(Some)
            .map_err(|e| ApiKeyError::invalid(e.to_string())),
    }
}

/// The address part of an `inet` value (`10.1.2.3/24` → `10.1.2.3`).
pub fn parse_client_ip(ip: Option<&pgrx::Inet>) -> Result<Option<IpAddr>> {
    let Some(ip) = ip else { return Ok(None) };
    let text = ip.0.as_str();
    let addr = text.split('/').next().unwrap_or(text);
    addr.parse::<IpAddr>()
        .map(Some)
        .map_err(|_| ApiKeyError::invalid(format!("invalid client address \"{text}\"")))
}

/// The row type `api_keys.verification` (its OID cached per backend until the
/// next relation cache invalidation, so right after a re-created extension).
fn verification_tupdesc() -> PgTupleDesc<'static> {
    PgTupleDesc::for_composite_type_by_oid(key_lookup::verification_type())
        .unwrap_or_else(|| error!("type api_keys.verification is missing; re-create the extension"))
}

/// Form the answer row in `outer` from the code, when the key was found its
/// looked-up datums `(id, owner, name, scopes, environment, metadata,
/// expires_at)`, and for a rate-limited key the limiter's decision.
fn answer_row(
    outer: pg_sys::MemoryContext,
    code: Code,
    found: Option<[Option<pg_sys::Datum>; 7]>,
    limited: Option<Decision>,
) -> PgHeapTuple<'static, AllocatedByRust> {
    unsafe {
        PgMemoryContexts::For(outer).switch_to(|_| {
            let tupdesc = verification_tupdesc();
            let fields = found.unwrap_or([None; 7]);
            let mut datums: Vec<Option<pg_sys::Datum>> = Vec::with_capacity(11);
            datums.push((code == Code::Valid).into_datum());
            datums.push(code.as_str().into_datum());
            datums.extend(fields);
            datums.push(limited.and_then(|d| (d.remaining as i32).into_datum()));
            datums.push(limited.and_then(|d| {
                (!d.admitted)
                    .then_some(d.retry_after_secs as i32)
                    .into_datum()
            }));
            // An older release's type has fewer fields (before ALTER EXTENSION UPDATE).
            datums.truncate(tupdesc.len());
            PgHeapTuple::from_datums(tupdesc, datums)
                .unwrap_or_else(|e| error!("cannot form api_keys.verification: {e}"))
        })
    }
}

/// Verify `candidate`. Never raises for a bad key; raises 22023 only for a
/// `required_scope` that is not a scope (checked before anything else).
pub fn verify(
    candidate: Option<&str>,
    required: Option<&Scope>,
    client_ip: Option<IpAddr>,
    want_identity: bool,
) -> Verdict {
    let outer = unsafe { pg_sys::CurrentMemoryContext };
    let parsed = candidate.and_then(|c| key::parse(c.as_bytes()).ok());
    let Some(parsed) = parsed else {
        return Verdict {
            code: Code::Malformed,
            row: answer_row(outer, Code::Malformed, None, None),
            identity: None,
            retry_after: None,
        };
    };
    // One digest without peppers; with them, newest pepper first.
    let digests = settings::with_peppers(|peppers| {
        digest::lookup_candidates(peppers, candidate.unwrap_or_default())
    });
    debug_assert!(parsed.prefix().len() <= key::MAX_KEY_LEN);
    let resolution = settings::last_used_resolution_secs();
    let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };

    let (verdict, touch) = key_lookup::find(&digests, |found| {
        let Some(k) = found else {
            let verdict = Verdict {
                code: Code::NotFound,
                row: answer_row(outer, Code::NotFound, None, None),
                identity: None,
                retry_after: None,
            };
            return (verdict, None);
        };
        let c = k.columns;
        let passed = |at: i16| k.timestamp(at).is_some_and(|t| t <= now);
        // Converted once, and only when a scope is asked for or the
        // caller wants the identity.
        let granted = (required.is_some() || want_identity)
            .then(|| k.get::<Vec<String>>(c.scopes).unwrap_or_default());
        let code = if !k.is_null(c.revoked_at) {
            Code::Revoked
        } else if passed(c.expires_at) || passed(c.grace_expires_at) {
            Code::Expired
        } else if !network_allows(k.get::<Vec<String>>(c.allowed_cidrs), client_ip) {
            Code::IpNotAllowed
        } else if !scope_allows(granted.as_deref().unwrap_or_default(), required) {
            Code::InsufficientScope
        } else {
            Code::Valid
        };
        let key_id = k.key_id();
        // Counted last, so only requests that would succeed use the budget.
        let limited = if code == Code::Valid {
            rate_limit(k, &key_id)
        } else {
            None
        };
        let code = match limited {
            Some(d) if !d.admitted => Code::RateLimited,
            _ => code,
        };
        crate::usage::count(key_id.as_bytes(), code.index());

        let found = [
            k.datum(c.id),
            k.datum(c.owner),
            k.datum(c.name),
            k.datum(c.scopes),
            k.datum(c.environment),
            k.datum(c.metadata),
            k.datum(c.expires_at),
        ];
        let identity = (want_identity && code == Code::Valid).then(|| Identity {
            key_id,
            owner: k.get::<String>(c.owner).unwrap_or_default(),
            scopes: granted.unwrap_or_default(),
        });
        // Formed (copied) while the row is still readable.
        let answer = answer_row(outer, code, Some(found), limited);
        let touch_due = match k.timestamp(c.last_used_at) {
            None => true,
            Some(t) => t <= now - i64::from(resolution.max(0)) * 1_000_000,
        };
        let touch = (code == Code::Valid && resolution >= 0 && touch_due).then_some(key_id);
        let verdict = Verdict {
            code,
            row: answer,
            identity,
            retry_after: limited.filter(|d| !d.admitted).map(|d| d.retry_after_secs),
        };
        (verdict, touch)
    });

    if let Some(id) = touch {
        if storage::can_record_usage() {
            Spi::connect_mut(|client| {
                let args: [DatumWithOid; 1] = [id.into()];
                storage::run(client, Stmt::TouchLastUsed, &args)
                    .unwrap_or_else(|e| error!("api_keys last_used_at update failed: {e}"));
            });
        }
    }
    verdict
}

/// The rate limiter's decision for a key with a limit (None: no limit).
/// A limit without the preloaded library is refused loudly, never ignored.
fn rate_limit(k: &KeyRow, key_id: &pgrx::Uuid) -> Option<Decision> {
    let (limit, window_ms) = k.rate_limit()?;
    match ratelimit::admit(key_id.as_bytes(), limit.max(0) as u32, window_ms) {
        Some(decision) => Some(decision),
        None => ApiKeyError::RateLimitsUnavailable.raise(),
    }
}

fn network_allows(allowed: Option<Vec<String>>, client_ip: Option<IpAddr>) -> bool {
    let Some(allowed) = allowed else {
        return true; // NULL: any address
    };
    let Some(ip) = client_ip else {
        return false; // fail closed: the key is restricted and no address was given
    };
    let refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
    cidr::any_contains(&refs, ip)
}

fn scope_allows(granted: &[String], required: Option<&Scope>) -> bool {
    let Some(required) = required else {
        return true;
    };
    let refs: Vec<&str> = granted.iter().map(String::as_str).collect();
    api_keys_core::scope::any_covers(&refs, required)
}

/// `apikey_verify`: answers, never raises for a bad key.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_verify(
    key: Option<&str>,
    required_scope: default!(Option<&str>, "NULL"),
    client_ip: default!(Option<pgrx::Inet>, "NULL"),
) -> pgrx::composite_type!('static, "verification") {
    let required = parse_required_scope(required_scope).or_raise();
    let ip = parse_client_ip(client_ip.as_ref()).or_raise();
    verify(key, required.as_ref(), ip, false).row
}

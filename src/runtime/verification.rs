//! Verification, the hot path: parse and checksum the key, hash it, one
//! lookup through the digest index, the checks in the order of
//! [`Code::ALL`], then count the answer. Shared by `apikey_verify`,
//! `apikey_authenticate` and the PostgREST hook.

use std::net::IpAddr;

use api_keys_core::code::Code;
use api_keys_core::ratelimit::{Decision, LimitState};
use api_keys_core::scope::{self, Scope};
use api_keys_core::{cidr, digest, key};
use pgrx::datum::DatumWithOid;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::prelude::*;
use pgrx::AllocatedByRust;

use crate::error::{Error, Result};
use crate::runtime::key_lookup::{self, KeyRow};
use crate::runtime::storage::Stmt;
use crate::runtime::{pepper, ratelimit, storage, usage, xact};
use crate::settings;

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
    /// For a key with a rate limit that was counted: the limit and the decision.
    pub limit: Option<LimitState>,
}

/// Verify `candidate`, answering for a bad key rather than raising. Raises
/// only when the extension itself cannot work (pepper file, missing table,
/// a rate limit without the preloaded library).
pub fn verify(
    candidate: Option<&str>,
    required: Option<&Scope>,
    client_ip: Option<IpAddr>,
    want_identity: bool,
) -> Result<Verdict> {
    let parsed = candidate.and_then(|c| key::parse(c.as_bytes()).ok());
    let (Some(candidate), Some(_)) = (candidate, parsed) else {
        return without_key(Code::Malformed);
    };
    // One digest without peppers; with them, newest pepper first.
    let digests = pepper::with_peppers(|peppers| digest::lookup_candidates(peppers, candidate))?;
    let resolution = settings::last_used_resolution_secs();
    let now = xact::now();

    let (verdict, touch) = key_lookup::find(&digests, |found| {
        let Some(k) = found else {
            return Ok((without_key(Code::NotFound)?, None));
        };
        // Converted once, and only when a scope is asked for or the
        // caller wants the identity.
        let granted = (required.is_some() || want_identity).then(|| k.scopes());
        let code = if k.is_revoked() {
            Code::Revoked
        } else if k.has_expired(now) {
            Code::Expired
        } else if !network_allows(k.allowed_cidrs(), client_ip) {
            Code::IpNotAllowed
        } else if !scope_allows(granted.as_deref().unwrap_or_default(), required) {
            Code::InsufficientScope
        } else {
            Code::Valid
        };
        let key_id = k.key_id();
        // Counted last, so only requests that would succeed use the budget.
        let limited = if code == Code::Valid {
            rate_limit(k, &key_id)?
        } else {
            None
        };
        let code = match limited {
            Some(d) if !d.admitted => Code::RateLimited,
            _ => code,
        };
        usage::count(key_id.as_bytes(), code);

        let identity = (want_identity && code == Code::Valid).then(|| Identity {
            key_id,
            owner: k.owner(),
            scopes: granted.unwrap_or_default(),
        });
        let touch_due = match k.last_used_at() {
            None => true,
            Some(t) => t <= now - i64::from(resolution.max(0)) * 1_000_000,
        };
        let touch = (code == Code::Valid && resolution >= 0 && touch_due).then_some(key_id);
        let verdict = Verdict {
            code,
            // Formed (copied) while the row is still readable.
            row: k.answer(code, limited)?,
            identity,
            retry_after: limited.filter(|d| !d.admitted).map(|d| d.retry_after_secs),
            limit: limit_state(k, limited),
        };
        Ok::<_, Error>((verdict, touch))
    })??;

    if let Some(id) = touch {
        if xact::can_update_in_passing() {
            Spi::connect_mut(|client| {
                let args: [DatumWithOid; 1] = [id.into()];
                storage::run(client, Stmt::TouchLastUsed, &args).map(|_| ())
            })?;
        }
    }
    Ok(verdict)
}

/// The answer for a key that was not looked up or not found.
fn without_key(code: Code) -> Result<Verdict> {
    Ok(Verdict {
        code,
        row: key_lookup::answer_without_key(code)?,
        identity: None,
        retry_after: None,
        limit: None,
    })
}

/// The limit a decision was made under, for the RateLimit header fields.
/// Keys without a limit (no decision) cost nothing here.
fn limit_state(k: &KeyRow, decision: Option<Decision>) -> Option<LimitState> {
    let decision = decision?;
    let (limit, window_ms) = k.rate_limit()?;
    Some(LimitState {
        limit: limit.max(0) as u32,
        window_ms,
        decision,
    })
}

/// The rate limiter's decision for a key with a limit (None: no limit).
/// A limit without the preloaded library is refused loudly, never ignored.
fn rate_limit(k: &KeyRow, key_id: &pgrx::Uuid) -> Result<Option<Decision>> {
    let Some((limit, window_ms)) = k.rate_limit() else {
        return Ok(None);
    };
    ratelimit::admit(key_id.as_bytes(), limit.max(0) as u32, window_ms)
        .map(Some)
        .ok_or(Error::RateLimitsUnavailable)
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
    scope::any_covers(&refs, required)
}

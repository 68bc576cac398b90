//! Verification, the hot path: parse and checksum the key, hash it, one
//! lookup through the digest index, the checks in the order of
//! [`Code::ALL`], then count the answer. Shared by `apikey_verify`,
//! `apikey_authenticate` and the PostgREST hook.

use std::net::IpAddr;

use api_keys_core::code::Code;
use api_keys_core::http::Policy;
use api_keys_core::scope::Scope;
use pgrx::datum::DatumWithOid;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::prelude::*;
use pgrx::AllocatedByRust;

use crate::error::{Error, Result};
use crate::runtime::key_lookup::{self, Limited};
use crate::runtime::storage::Stmt;
use crate::runtime::{catalog, limits, presented, privilege, storage, usage, xact};
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
    /// Every rate limit and quota the request was counted against, for the
    /// RateLimit header fields.
    pub policies: Vec<Policy<'static>>,
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
    // A native key's digests, an imported key's, or none: malformed.
    let Some(digests) = presented::digests(candidate)? else {
        return without_key(Code::Malformed);
    };
    let resolution = settings::last_used_resolution_secs();
    let now = xact::now();

    let (verdict, touch) = key_lookup::find(&digests, |found| {
        let Some(k) = found else {
            return Ok((without_key(Code::NotFound)?, None));
        };
        let code = if k.is_revoked() {
            Code::Revoked
        } else if k.has_expired(now) {
            Code::Expired
        } else if !k.network_allows(client_ip) {
            Code::IpNotAllowed
        } else if required.is_some_and(|r| !k.scopes_cover(r)) {
            Code::InsufficientScope
        } else {
            Code::Valid
        };
        let key_id = k.key_id();
        // Counted last, so only requests that would succeed use the budget.
        let limited = if code == Code::Valid {
            limits::apply(&key_id, &k.owner(), k.limits())?
        } else {
            limits::Outcome::default()
        };
        let code = limited.refused.unwrap_or(code);
        let track = code == Code::Valid && resolution >= 0;
        // Without the preloaded library nothing is recorded in shared
        // memory: a use is then written to the row, once per resolution.
        let touch_due = match k.last_used_at() {
            None => true,
            Some(t) => t <= now - i64::from(resolution.max(0)) * 1_000_000,
        };
        let recorded = usage::record(key_id.as_bytes(), code, track);
        let touch = (track && !recorded && touch_due).then_some(key_id);

        let identity = (want_identity && code == Code::Valid).then(|| Identity {
            key_id,
            owner: k.owner(),
            scopes: k.scopes(),
        });
        let verdict = Verdict {
            code,
            // Formed (copied) while the row is still readable. A revoked or
            // expired key tells its holder whose it was, nothing more.
            row: k.answer(
                code,
                Limited {
                    remaining: limited.remaining,
                    retry_after: limited.retry_after,
                },
                !matches!(code, Code::Revoked | Code::Expired),
            )?,
            identity,
            retry_after: limited.retry_after,
            policies: limited.policies,
        };
        Ok::<_, Error>((verdict, touch))
    })??;

    if let Some(id) = touch {
        if xact::can_update_in_passing() {
            catalog::check_names()?;
            let owner = catalog::members()?.owner;
            privilege::run_as(owner, || {
                Spi::connect_mut(|client| {
                    let args: [DatumWithOid; 1] = [id.into()];
                    storage::run(client, Stmt::TouchLastUsed, &args).map(|_| ())
                })
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
        policies: Vec::new(),
    })
}

//! The request context: which key authenticated this transaction.
//!
//! It is kept in a setting, `api_keys.current_key`, because settings already
//! have exactly the lifetime the context needs: [`authenticate`] sets it
//! with `SET LOCAL` semantics, so it ends with the transaction (COMMIT,
//! ROLLBACK or error), a rolled-back savepoint takes it back, and parallel
//! workers receive it from their leader. What makes it unforgeable is its
//! check hook: every attempt to give it a value is refused unless it comes
//! from [`authenticate`] itself (or is the leader's value being copied into
//! a parallel worker). Only superusers could even try (the setting is
//! PGC_SUSET), and `RESET ALL` leaves it alone.
//!
//! The setting's text is the identity as JSON; the assign hook decodes it
//! once into a backend-local cache that the accessors read.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::net::IpAddr;
use std::rc::Rc;

use api_keys_core::scope::{Scope, ScopeSet};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runtime::verification::{self, Identity, Verdict};
use crate::settings::{set_check_detail, set_check_message};

const SETTING: &CStr = c"api_keys.current_key";

static CURRENT_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// The context as stored in the setting.
#[derive(Serialize, Deserialize)]
struct Stored {
    key_id: String,
    owner: String,
    scopes: Vec<String>,
}

/// The decoded context.
pub struct Context {
    pub key_id: pgrx::Uuid,
    pub owner: String,
    pub scopes: ScopeSet,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Context>>> = const { RefCell::new(None) };
    /// True only while `establish` sets the setting.
    static ESTABLISHING: Cell<bool> = const { Cell::new(false) };
}

/// The current context, if this transaction is key-authenticated.
pub fn current() -> Option<Rc<Context>> {
    CURRENT.with(|c| c.borrow().clone())
}

fn decode(text: &str) -> Option<Context> {
    let stored: Stored = serde_json::from_str(text).ok()?;
    let key_id = parse_uuid(&stored.key_id)?;
    let refs: Vec<&str> = stored.scopes.iter().map(String::as_str).collect();
    let scopes = ScopeSet::new(&refs).ok()?;
    Some(Context {
        key_id,
        owner: stored.owner,
        scopes,
    })
}

fn parse_uuid(text: &str) -> Option<pgrx::Uuid> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(pgrx::Uuid::from_bytes(bytes))
}

#[pg_guard]
unsafe extern "C-unwind" fn check_current_key(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value, a
    // NUL-terminated string or NULL; InitializingParallelWorker is a global.
    let (empty, parallel) = unsafe {
        (
            newval.is_null() || (*newval).is_null() || *(*newval) == 0,
            pg_sys::InitializingParallelWorker,
        )
    };
    if empty || parallel || ESTABLISHING.with(Cell::get) {
        return true;
    }
    // Our own message: PostgreSQL's would print the refused value.
    set_check_message("parameter \"api_keys.current_key\" cannot be set");
    set_check_detail(
        "The API key context can only be established by api_keys.apikey_authenticate() with a valid key.",
    );
    false
}

#[pg_guard]
unsafe extern "C-unwind" fn assign_current_key(
    newval: *const std::ffi::c_char,
    _extra: *mut std::ffi::c_void,
) {
    let decoded = if newval.is_null() {
        None
    } else {
        // SAFETY: a NUL-terminated string owned by the GUC machinery, read
        // at once.
        unsafe { CStr::from_ptr(newval) }
            .to_str()
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(decode)
    };
    CURRENT.with(|c| *c.borrow_mut() = decoded.map(Rc::new));
}

/// Define the setting that holds the context. Called from `_PG_init`.
pub fn define_setting() {
    // SAFETY: called once from _PG_init; the hooks are valid GUC hooks.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            SETTING,
            c"The API key that authenticated this transaction (set only by apikey_authenticate).",
            c"Internal: read it with api_keys.apikey_current_key_id() and friends.",
            &CURRENT_KEY,
            GucContext::Suset,
            GucFlags::NO_SHOW_ALL
                | GucFlags::NO_RESET_ALL
                | GucFlags::DISALLOW_IN_FILE
                | GucFlags::DISALLOW_IN_AUTO_FILE
                | GucFlags::SUPERUSER_ONLY,
            Some(check_current_key),
            Some(assign_current_key),
            None,
        );
    }
}

/// Make `identity` the context for the rest of the transaction.
fn establish(identity: &Identity) {
    let stored = Stored {
        key_id: identity.key_id.to_string(),
        owner: identity.owner.clone(),
        scopes: identity.scopes.clone(),
    };
    let text = serde_json::to_string(&stored).expect("context serializes");
    let value = CString::new(text).expect("JSON has no NUL");
    ESTABLISHING.with(|e| e.set(true));
    PgTryBuilder::new(|| {
        // SAFETY: sets our own setting with SET LOCAL semantics; the check
        // hook lets it through while ESTABLISHING is set.
        unsafe {
            pg_sys::set_config_option(
                SETTING.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_LOCAL,
                true,
                pg_sys::PGERROR as i32,
                false,
            );
        }
    })
    .finally(|| ESTABLISHING.with(|e| e.set(false)))
    .execute();
}

/// Verify `key` and, when it is valid, make it this transaction's context;
/// otherwise 28000 with the verification code. The body of
/// `apikey_authenticate` and of the PostgREST hook.
pub fn authenticate(
    key: Option<&str>,
    client_ip: Option<IpAddr>,
    required: Option<&Scope>,
) -> Result<pgrx::Uuid> {
    let verdict = verification::verify(key, required, client_ip, true)?;
    match verdict.identity {
        Some(identity) => {
            establish(&identity);
            Ok(identity.key_id)
        }
        None => Err(Error::NotAuthenticated {
            code: verdict.code,
            retry_after: verdict.retry_after,
        }),
    }
}

/// Verify `key` and, when it is valid, make it this transaction's context;
/// the verdict either way, for callers that answer a refusal themselves
/// (the PostgREST hook).
pub fn authenticate_verdict(
    key: Option<&str>,
    client_ip: Option<IpAddr>,
    required: Option<&Scope>,
) -> Result<Verdict> {
    let verdict = verification::verify(key, required, client_ip, true)?;
    if let Some(identity) = &verdict.identity {
        establish(identity);
    }
    Ok(verdict)
}

//! Every setting of the extension, defined once when the library loads;
//! the `api_keys.` prefix is reserved then, so a misspelt setting is an
//! error instead of a silent placeholder.
//!
//! | setting                              | who sets it        | default  |
//! |--------------------------------------|--------------------|----------|
//! | `api_keys.brand`                     | anyone             | `ak`     |
//! | `api_keys.last_used_resolution`      | superuser          | `60s`    |
//! | `api_keys.postgrest_client_ip_header`| superuser          | (none)   |
//! | `api_keys.postgrest_realm`           | anyone             | `api`    |
//! | `api_keys.pepper_file`               | server config      | (none)   |
//! | `api_keys.rate_limit_max_keys`       | server start (*)   | `20000`  |
//! | `api_keys.rate_limit_max_keys_per_database` | server config (*) | `10000` |
//! | `api_keys.usage_max_entries`         | server start (*)   | `100000` |
//! | `api_keys.last_used_max_keys`        | server start (*)   | `100000` |
//! | `api_keys.quota_max_counts`          | server start (*)   | `100000` |
//! | `api_keys.flush_interval`            | server config (*)  | `10s`    |
//!
//! (*) exist only when the library is in `shared_preload_libraries`.
//!
//! The request context is kept in one more, internal setting,
//! `api_keys.current_key`, that nobody can set: it is defined with its
//! hooks in [`crate::runtime::context`].

use std::ffi::{CStr, CString};

use api_keys_core::key::{validate_label, LabelKind};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;

/// Brand of newly issued keys.
pub static BRAND: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"ak"));
/// Seconds between two `last_used_at` updates of one key; -1: never.
pub static LAST_USED_RESOLUTION: GucSetting<i32> = GucSetting::<i32>::new(60);
/// Request header carrying the client address behind a trusted proxy.
pub static POSTGREST_CLIENT_IP_HEADER: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
/// The realm of the PostgREST hook's `WWW-Authenticate` challenges.
pub static POSTGREST_REALM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"api"));
/// Longest accepted realm, in bytes.
const MAX_REALM_BYTES: usize = 128;
/// File of server-side peppers (read by [`crate::runtime::pepper`]).
pub static PEPPER_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// Most rate-limited keys counted at once in shared memory.
pub static RATE_LIMIT_MAX_KEYS: GucSetting<i32> = GucSetting::<i32>::new(20_000);
/// Most of them from one database.
pub static RATE_LIMIT_MAX_KEYS_PER_DATABASE: GucSetting<i32> = GucSetting::<i32>::new(10_000);
/// Most (database, key, day, code) usage counters held between two flushes.
pub static USAGE_MAX_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(100_000);
/// Most (database, key) last-used times held between two flushes.
pub static LAST_USED_MAX_KEYS: GucSetting<i32> = GucSetting::<i32>::new(100_000);
/// Most (database, key or owner, period) quota counts held at once.
pub static QUOTA_MAX_COUNTS: GucSetting<i32> = GucSetting::<i32>::new(100_000);
/// Seconds between two flushes of usage counts and last-used times.
pub static FLUSH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);

/// The brand new keys are issued under (checked when set, so always valid).
pub fn brand() -> String {
    BRAND
        .get()
        .and_then(|c| c.into_string().ok())
        .unwrap_or_else(|| "ak".to_string())
}

/// Seconds between two `last_used_at` updates of one key; negative: never.
pub fn last_used_resolution_secs() -> i32 {
    LAST_USED_RESOLUTION.get()
}

/// The request header PostgREST's client address is read from, if any.
pub fn postgrest_client_ip_header() -> Option<String> {
    POSTGREST_CLIENT_IP_HEADER
        .get()
        .and_then(|c| c.into_string().ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

/// The realm of the PostgREST hook's challenges (checked when set; empty:
/// no realm attribute).
pub fn postgrest_realm() -> String {
    POSTGREST_REALM
        .get()
        .and_then(|c| c.into_string().ok())
        .unwrap_or_default()
}

/// The configured pepper file, if any.
pub fn pepper_file() -> Option<String> {
    PEPPER_FILE
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|p| !p.trim().is_empty())
}

/// Time between two flushes of usage counts and last-used times.
pub fn flush_interval() -> std::time::Duration {
    std::time::Duration::from_secs(FLUSH_INTERVAL.get().max(1) as u64)
}

/// Replace PostgreSQL's "invalid value for parameter ...: <value>" message,
/// for settings whose refused values must not reach the log.
pub fn set_check_message(message: &str) {
    let message = CString::new(message.replace('\0', "")).unwrap_or_default();
    // SAFETY: GUC check hooks may set this message; pstrdup copies it into
    // the current memory context as the GUC machinery expects.
    unsafe {
        pg_sys::GUC_check_errmsg_string = pg_sys::pstrdup(message.as_ptr());
    }
}

/// Tell the GUC machinery why a value is refused (shown as the error DETAIL).
pub fn set_check_detail(detail: &str) {
    let detail = CString::new(detail.replace('\0', "")).unwrap_or_default();
    // SAFETY: as in `set_check_message`.
    unsafe {
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr());
    }
}

/// The body of a string setting's check hook: a NULL value passes when
/// `null_ok`; otherwise `problem` says why a value is refused (the DETAIL).
///
/// # Safety
/// `newval` is what PostgreSQL passes a check hook.
unsafe fn check_text(
    newval: *mut *mut std::ffi::c_char,
    null_ok: bool,
    problem: impl Fn(&str) -> Option<String>,
) -> bool {
    // SAFETY: PostgreSQL passes a valid pointer to the proposed value, a
    // NUL-terminated string or NULL.
    let value = unsafe {
        if newval.is_null() || (*newval).is_null() {
            return null_ok;
        }
        CStr::from_ptr(*newval)
    };
    match problem(&value.to_string_lossy()) {
        None => true,
        Some(why) => {
            set_check_detail(&why);
            false
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_brand(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: a check hook's argument, passed on.
    unsafe {
        check_text(newval, false, |v| {
            validate_label(LabelKind::Brand, v)
                .err()
                .map(|e| e.to_string())
        })
    }
}

/// A realm goes into a quoted string of a header: visible ASCII without
/// `"` and `\`, at most [`MAX_REALM_BYTES`].
fn realm_problem(realm: &str) -> Option<String> {
    if realm.len() > MAX_REALM_BYTES {
        return Some(format!("A realm has at most {MAX_REALM_BYTES} bytes."));
    }
    realm
        .chars()
        .find(|c| !matches!(c, ' '..='~') || *c == '"' || *c == '\\')
        .map(|c| format!("A realm is printable ASCII without \" and \\; it contains {c:?}."))
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_realm(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: a check hook's argument, passed on; NULL is no realm.
    unsafe { check_text(newval, true, realm_problem) }
}

/// Define every setting; the ones backed by shared memory or background
/// workers only when `preloaded` (they can only take effect at server
/// start). Called from `_PG_init`.
pub fn define(preloaded: bool) {
    // SAFETY: called once from _PG_init; the hook is a valid check hook.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"api_keys.brand",
            c"Brand of newly issued API keys (the part before the first underscore).",
            c"Must match [a-z][a-z0-9]{0,15}. Keys issued under an earlier brand keep working.",
            &BRAND,
            GucContext::Userset,
            GucFlags::default(),
            Some(check_brand),
            None,
            None,
        );
    }
    GucRegistry::define_int_guc(
        c"api_keys.last_used_resolution",
        c"Minimum time between two last_used_at updates of one key.",
        c"A successful verification updates last_used_at only when it is older than this; -1 turns usage tracking off.",
        &LAST_USED_RESOLUTION,
        -1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"api_keys.pepper_file",
        c"File of server-side secrets that make the stored digest an HMAC of the key.",
        c"One pepper per line, newest first, each at least 16 bytes, at most 4; readable by the server only. Set in postgresql.conf or with ALTER SYSTEM.",
        &PEPPER_FILE,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"api_keys.postgrest_client_ip_header",
        c"Request header that carries the client address for postgrest_pre_request().",
        c"Only set this behind a trusted proxy that overwrites the header (for example x-forwarded-for). Unset: no client address is used.",
        &POSTGREST_CLIENT_IP_HEADER,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init; the hook is a valid check hook.
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"api_keys.postgrest_realm",
            c"Realm of the WWW-Authenticate challenges of postgrest_pre_request().",
            c"Printable ASCII without \" and \\, at most 128 bytes. Empty: challenges without a realm.",
            &POSTGREST_REALM,
            GucContext::Userset,
            GucFlags::default(),
            Some(check_realm),
            None,
            None,
        );
    }
    if preloaded {
        define_preloaded();
    }
}

/// Reserve the `api_keys.` prefix: from now on setting an unknown
/// `api_keys.*` name is an error. Called from `_PG_init` after every
/// setting is defined.
pub fn reserve_prefix() {
    // SAFETY: a plain C call with a static NUL-terminated string.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"api_keys".as_ptr()) };
}

/// The settings of the shared-memory counters and the background workers.
fn define_preloaded() {
    GucRegistry::define_int_guc(
        c"api_keys.rate_limit_max_keys",
        c"Most rate-limited keys counted at once (shared memory; needs a restart).",
        c"When every slot holds a key active within its last two windows, a new key is refused as rate_limited.",
        &RATE_LIMIT_MAX_KEYS,
        16,
        50_000_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.rate_limit_max_keys_per_database",
        c"Most rate-limited keys of one database counted at once.",
        c"Keeps one database from taking every slot of api_keys.rate_limit_max_keys from the others.",
        &RATE_LIMIT_MAX_KEYS_PER_DATABASE,
        1,
        50_000_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.usage_max_entries",
        c"Most (database, key, day, code) usage counters held between two flushes.",
        c"Beyond it new counters are dropped (and the number dropped is logged).",
        &USAGE_MAX_ENTRIES,
        16,
        50_000_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.last_used_max_keys",
        c"Most keys whose last use is held in shared memory between two flushes.",
        c"Beyond it new times are dropped (and the number dropped is logged).",
        &LAST_USED_MAX_KEYS,
        16,
        50_000_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.quota_max_counts",
        c"Most quota counts (of a key or an owner, for a period) held in shared memory.",
        c"When every count is of the current period, a key or owner without one yet is refused as quota_exceeded.",
        &QUOTA_MAX_COUNTS,
        16,
        50_000_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.flush_interval",
        c"Time between two flushes of usage counts and last-used times into their tables.",
        c"A crash loses at most this much of the counts and times; a clean shutdown loses nothing.",
        &FLUSH_INTERVAL,
        1,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
}

//! The extension's settings (GUCs), defined once when the library loads.
//!
//! | setting                                | context   | default |
//! |----------------------------------------|-----------|---------|
//! | `api_keys.brand`                       | user      | `ak`    |
//! | `api_keys.last_used_resolution`        | superuser | `60s`   |
//! | `api_keys.postgrest_client_ip_header`  | superuser | (none)  |
//! | `api_keys.pepper_file`                 | sighup    | (none)  |
//!
//! The request context has a setting of its own, `api_keys.current_key`,
//! defined in [`crate::context`]; it cannot be set by anyone.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant, SystemTime};

use api_keys_core::key::{validate_label, LabelKind};
use api_keys_core::lifecycle::parse_peppers;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;

pub static BRAND: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"ak"));
pub static LAST_USED_RESOLUTION: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static POSTGREST_CLIENT_IP_HEADER: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);

pub static PEPPER_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// The pepper file as last read by this backend.
struct PepperCache {
    path: String,
    modified: Option<SystemTime>,
    checked: Instant,
    peppers: Vec<Vec<u8>>,
}

thread_local! {
    static PEPPERS: RefCell<Option<PepperCache>> = const { RefCell::new(None) };
}

/// How often a backend looks whether the pepper file changed.
const PEPPER_FILE_RECHECK: Duration = Duration::from_secs(1);

fn pepper_file_error(path: &str, problem: impl std::fmt::Display) -> ! {
    pgrx::pg_sys::panic::ErrorReport::new(
        pgrx::PgSqlErrorCode::ERRCODE_CONFIG_FILE_ERROR,
        format!("api_keys.pepper_file \"{path}\": {problem}"),
        "api_keys",
    )
    .set_hint("Fix the file or unset api_keys.pepper_file, then SELECT pg_reload_conf().")
    .report(pgrx::PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) does not return")
}

/// The accepted peppers, newest first (empty: digests are plain SHA-256).
/// The file named by `api_keys.pepper_file` is read when the setting
/// changes and re-read when the file changes (checked at most once a
/// second). A file that cannot be read or parsed is an error: keys are never
/// silently made or checked without the configured pepper.
pub fn with_peppers<R>(f: impl FnOnce(&[Vec<u8>]) -> R) -> R {
    let path = PEPPER_FILE
        .get()
        .and_then(|c| c.into_string().ok())
        .filter(|p| !p.trim().is_empty());
    let Some(path) = path else {
        return f(&[]);
    };
    PEPPERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let fresh = matches!(&*cache, Some(c) if c.path == path && c.checked.elapsed() < PEPPER_FILE_RECHECK);
        if !fresh {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or_else(|e| pepper_file_error(&path, e));
            let unchanged = matches!(&*cache, Some(c) if c.path == path && c.modified == Some(modified));
            if unchanged {
                if let Some(c) = cache.as_mut() {
                    c.checked = Instant::now();
                }
            } else {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| pepper_file_error(&path, e));
                let peppers = parse_peppers(&text).unwrap_or_else(|e| pepper_file_error(&path, e));
                *cache = Some(PepperCache {
                    path,
                    modified: Some(modified),
                    checked: Instant::now(),
                    peppers,
                });
            }
        }
        f(cache.as_ref().map(|c| c.peppers.as_slice()).unwrap_or(&[]))
    })
}

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

/// Replace PostgreSQL's "invalid value for parameter ...: <value>" message,
/// for settings whose refused values must not reach the log.
pub(crate) fn set_check_message(message: &str) {
    let message = CString::new(message.replace('\0', "")).unwrap_or_default();
    unsafe {
        pg_sys::GUC_check_errmsg_string = pg_sys::pstrdup(message.as_ptr());
    }
}

/// Tell the GUC machinery why a value is refused (shown as the error DETAIL).
pub(crate) fn set_check_detail(detail: &str) {
    let detail = CString::new(detail.replace('\0', "")).unwrap_or_default();
    unsafe {
        pg_sys::GUC_check_errdetail_string = pg_sys::pstrdup(detail.as_ptr());
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_brand(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    let value = unsafe {
        if newval.is_null() || (*newval).is_null() {
            return false;
        }
        CStr::from_ptr(*newval)
    };
    let text = value.to_string_lossy();
    match validate_label(LabelKind::Brand, &text) {
        Ok(()) => true,
        Err(e) => {
            set_check_detail(&e.to_string());
            false
        }
    }
}

pub fn define() {
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
}

//! The extension's settings (GUCs), defined once when the library loads.
//!
//! | setting                                | context   | default |
//! |----------------------------------------|-----------|---------|
//! | `api_keys.brand`                       | user      | `ak`    |
//! | `api_keys.last_used_resolution`        | superuser | `60s`   |
//! | `api_keys.postgrest_client_ip_header`  | superuser | (none)  |
//!
//! The request context has a setting of its own, `api_keys.current_key`,
//! defined in [`crate::context`]; it cannot be set by anyone.

use std::ffi::{CStr, CString};

use api_keys_core::key::{validate_label, LabelKind};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;

pub static BRAND: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"ak"));
pub static LAST_USED_RESOLUTION: GucSetting<i32> = GucSetting::<i32>::new(60);
pub static POSTGREST_CLIENT_IP_HEADER: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);

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
        c"api_keys.postgrest_client_ip_header",
        c"Request header that carries the client address for postgrest_pre_request().",
        c"Only set this behind a trusted proxy that overwrites the header (for example x-forwarded-for). Unset: no client address is used.",
        &POSTGREST_CLIENT_IP_HEADER,
        GucContext::Suset,
        GucFlags::default(),
    );
}

//! Key events: every management action (and every announced due rotation
//! or expiry) is appended to the audit table `api_keys.events` and sent with
//! `NOTIFY api_keys_events`, which PostgreSQL delivers at commit only. The
//! notification carries only the event's id: the channel is open to every
//! role, the audit table (with the key's webhook address) to
//! `api_keys_admin` only. Delivering webhooks is a worker's job
//! (`examples/webhook_worker`); the database makes no HTTP calls.

use std::ffi::CStr;

use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult};

use pgrx::{JsonB, Uuid};

use crate::error::Result;
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{catalog, direct_insert};

/// The channel events are sent on.
pub const CHANNEL: &str = "api_keys_events";

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Rotated,
    Revoked,
    RotationDue,
    Expiring,
    Imported,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Rotated => "rotated",
            Action::Revoked => "revoked",
            Action::RotationDue => "rotation_due",
            Action::Expiring => "expiring",
            Action::Imported => "imported",
        }
    }
}

/// The name of a role (empty when it is gone).
fn role_name(role: pg_sys::Oid) -> String {
    // SAFETY: the name is copied before the syscache entry can go away.
    unsafe {
        let name = pg_sys::GetUserNameFromId(role, true);
        if name.is_null() {
            return String::new();
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}

/// The role acting at the outer level: the session's role as changed by
/// `SET ROLE` (PostgREST's `SET LOCAL ROLE` included), not the owner a
/// SECURITY DEFINER function runs as.
pub fn acting_role() -> String {
    // SAFETY: GetOuterUserId is valid in any transaction.
    role_name(unsafe { pg_sys::GetOuterUserId() })
}

/// A value for an event's `changes` (times in ISO 8601, whatever DateStyle).
pub fn shown<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Append an event for `key_id` with the `changes` made (names and new
/// values of the fields, never a secret) and queue its notification.
pub fn record(
    client: &mut SpiClient<'_>,
    action: Action,
    key_id: Uuid,
    changes: serde_json::Value,
) -> SpiResult<()> {
    let args: [DatumWithOid; 4] = [
        action.as_str().into(),
        key_id.into(),
        JsonB(changes).into(),
        acting_role().into(),
    ];
    storage::run(client, Stmt::RecordEvent, &args)?;
    Ok(())
}

/// A key just created, as its `created` event tells of it.
pub struct Created<'a> {
    pub key_id: Uuid,
    pub owner: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub created_at: TimestampWithTimeZone,
    pub expires_at: Option<TimestampWithTimeZone>,
    pub rotation_interval: Option<Interval>,
    pub webhook_url: Option<&'a str>,
}

/// Record the `created` event of a key without a statement: the row
/// `record_event.sql` makes (the key as it is, `seq` and `xid` by their
/// defaults) and its notification, which carries the event's id only; for
/// key creation, which inserts its key row directly too ([`direct_insert`]).
/// None: the events table needs the statement; use [`record`].
pub fn record_created(key: &Created<'_>, changes: &serde_json::Value) -> Result<Option<()>> {
    let Some(events) = catalog::members()?.events else {
        return Ok(None);
    };
    // SAFETY: a plain read of the session's role.
    let session_role = role_name(unsafe { pg_sys::GetSessionUserId() });
    let next_rotation_at = key.rotation_interval.and_then(|i| {
        // SAFETY: timestamptz + interval, the `+` of record_event.sql (in
        // the session's time zone, as there).
        unsafe {
            pgrx::direct_function_call::<TimestampWithTimeZone>(
                pg_sys::timestamptz_pl_interval,
                &[key.created_at.into_datum(), i.into_datum()],
            )
        }
    });
    let names = [
        c"action",
        c"key_id",
        c"owner",
        c"session_role",
        c"acting_role",
        c"changes",
        c"name",
        c"prefix",
        c"expires_at",
        c"next_rotation_at",
        c"webhook_url",
    ];
    let values: [DatumWithOid; 11] = [
        Action::Created.as_str().into(),
        key.key_id.into(),
        key.owner.into(),
        session_role.into(),
        acting_role().into(),
        jsonb(changes),
        key.name.into(),
        key.prefix.into(),
        key.expires_at.into(),
        next_rotation_at.into(),
        key.webhook_url.into(),
    ];
    let stored = direct_insert::insert(events, &names, &values, |row| row.get::<Uuid>(c"id"))?;
    let Some(Some(event_id)) = stored else {
        return Ok(None);
    };
    // SAFETY: pg_notify(text, text), what record_event.sql calls.
    unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::pg_notify,
            &[CHANNEL.into_datum(), event_id.to_string().into_datum()],
        );
    }
    Ok(Some(()))
}

/// A jsonb value for `value`: the same value as pgrx's `JsonB` makes (which
/// prints the JSON and parses the text with jsonb's input function), built
/// with `pushJsonbValue` as `jsonb_build_object` builds one, without the
/// text in between. An object or array (any other value, or a string with
/// a NUL, which jsonb's input refuses, goes through the text).
pub fn jsonb(value: &serde_json::Value) -> DatumWithOid<'static> {
    struct Jsonb(Option<pg_sys::Datum>);
    impl IntoDatum for Jsonb {
        fn into_datum(self) -> Option<pg_sys::Datum> {
            self.0
        }
        fn type_oid() -> pg_sys::Oid {
            pg_sys::JSONBOID
        }
    }
    let datum = if (value.is_object() || value.is_array()) && !has_nul(value) {
        // SAFETY: `build` pushes a well-formed sequence (every begin has
        // its end, every key a value) and the strings it points to live
        // until JsonbValueToJsonb has copied them.
        unsafe {
            let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
            let built = build(&mut state, value, None);
            pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(built))
        }
    } else {
        let text = std::ffi::CString::new(value.to_string()).expect("JSON text has no NUL");
        // SAFETY: jsonb_in of valid JSON text.
        unsafe {
            pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[text.as_c_str().into_datum()])
        }
        .expect("jsonb_in answers a value")
    };
    Jsonb(Some(datum)).into()
}

/// Whether a string of `value` holds a NUL.
fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(has_nul),
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Push `value` (as an element or object value by `token`; the whole
/// value when None) and answer what the last push answered.
///
/// # Safety
/// As `pushJsonbValue`; the strings of `value` outlive the parse state.
unsafe fn build(
    state: &mut *mut pg_sys::JsonbParseState,
    value: &serde_json::Value,
    token: Option<pg_sys::JsonbIteratorToken::Type>,
) -> *mut pg_sys::JsonbValue {
    use pg_sys::JsonbIteratorToken::*;
    use serde_json::Value;
    let push = |state: &mut *mut pg_sys::JsonbParseState, t, v: Option<&mut pg_sys::JsonbValue>| {
        // SAFETY: as the function.
        unsafe { pg_sys::pushJsonbValue(state, t, v.map_or(std::ptr::null_mut(), |v| v as *mut _)) }
    };
    let string = |s: &str| {
        // SAFETY: a zeroed JsonbValue is a valid jbvNull, made a string here.
        let mut v: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
        v.type_ = pg_sys::jbvType::jbvString;
        v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
            len: s.len() as i32,
            val: s.as_ptr() as *mut std::ffi::c_char,
        };
        v
    };
    match value {
        Value::Array(items) => {
            push(state, WJB_BEGIN_ARRAY, None);
            for item in items {
                // SAFETY: as the function.
                unsafe { build(state, item, Some(WJB_ELEM)) };
            }
            push(state, WJB_END_ARRAY, None)
        }
        Value::Object(map) => {
            push(state, WJB_BEGIN_OBJECT, None);
            for (k, v) in map {
                push(state, WJB_KEY, Some(&mut string(k)));
                // SAFETY: as the function.
                unsafe { build(state, v, Some(WJB_VALUE)) };
            }
            push(state, WJB_END_OBJECT, None)
        }
        scalar => {
            // SAFETY: a zeroed JsonbValue is a valid jbvNull.
            let mut v: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
            match scalar {
                Value::String(s) => v = string(s),
                Value::Bool(b) => {
                    v.type_ = pg_sys::jbvType::jbvBool;
                    v.val.boolean = *b;
                }
                Value::Number(n) => {
                    let text = std::ffi::CString::new(n.to_string()).expect("a number has no NUL");
                    v.type_ = pg_sys::jbvType::jbvNumeric;
                    // SAFETY: numeric_in of a JSON number's text.
                    v.val.numeric = unsafe {
                        pgrx::direct_function_call_as_datum(
                            pg_sys::numeric_in,
                            &[
                                text.as_c_str().into_datum(),
                                pg_sys::InvalidOid.into_datum(),
                                (-1i32).into_datum(),
                            ],
                        )
                    }
                    .expect("numeric_in answers a value")
                    .cast_mut_ptr();
                }
                _ => v.type_ = pg_sys::jbvType::jbvNull,
            }
            push(state, token.unwrap_or(WJB_ELEM), Some(&mut v))
        }
    }
}

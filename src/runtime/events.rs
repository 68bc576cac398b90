//! Key events: every management action (and every announced due rotation
//! or expiry) is appended to the audit table `api_keys.events` and sent with
//! `NOTIFY api_keys_events`, which PostgreSQL delivers at commit only. The
//! notification carries only the event's id: the channel is open to every
//! role, the audit table (with the key's webhook address) to
//! `api_keys_admin` only. Delivering webhooks is a worker's job
//! (`examples/webhook_worker`); the database makes no HTTP calls.

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::spi::{SpiClient, SpiResult};

use pgrx::{JsonB, Uuid};

use crate::runtime::storage::{self, Stmt};

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

/// The role acting at the outer level: the session's role as changed by
/// `SET ROLE` (PostgREST's `SET LOCAL ROLE` included), not the owner a
/// SECURITY DEFINER function runs as.
pub fn acting_role() -> String {
    // SAFETY: GetOuterUserId is valid in any transaction; the name is
    // copied before the syscache entry can go away.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetOuterUserId(), true);
        if name.is_null() {
            return String::new();
        }
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
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

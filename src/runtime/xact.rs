//! The state of the current transaction and server, asked in one place:
//! are we on a standby, in a read-only transaction, under snapshot
//! isolation?

use pgrx::pg_sys;

use crate::error::{Error, Result};

/// Whether this server is a standby in recovery (nothing can be written).
pub fn on_standby() -> bool {
    // SAFETY: a plain read of shared recovery state, valid in any backend.
    unsafe { pg_sys::RecoveryInProgress() }
}

/// Whether the current transaction is READ ONLY.
pub fn read_only() -> bool {
    // SAFETY: a global of the current backend.
    unsafe { pg_sys::XactReadOnly }
}

/// Whether the current transaction runs under REPEATABLE READ or
/// SERIALIZABLE, where updating a row another session changed after the
/// snapshot fails the transaction with 40001.
pub fn snapshot_isolation() -> bool {
    // SAFETY: a global of the current backend.
    unsafe { pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 }
}

/// Refuse writing management work on a standby or in a READ ONLY
/// transaction (25006).
pub fn require_writable() -> Result<()> {
    if on_standby() {
        return Err(Error::ReadOnly { standby: true });
    }
    if read_only() {
        return Err(Error::ReadOnly { standby: false });
    }
    Ok(())
}

/// Whether a verification may record a use with a row update here: not on
/// a standby, not READ ONLY, not under snapshot isolation.
pub fn can_update_in_passing() -> bool {
    !on_standby() && !read_only() && !snapshot_isolation()
}

/// The transaction's start time (`now()`), in microseconds since
/// 2000-01-01.
pub fn now() -> i64 {
    // SAFETY: a plain read of the current transaction's start time.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// The wall clock, in microseconds since 2000-01-01.
pub fn clock() -> i64 {
    // SAFETY: a plain C call without arguments.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

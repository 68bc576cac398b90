//! Storage: the statements the extension runs often against `api_keys.keys`
//! (recording a use, storing a key), prepared once per backend and kept
//! (plancache re-plans them when the table changes, for example after the
//! extension is re-created). Verification's read goes around SPI:
//! [`crate::key_lookup`].
//!
//! All names are schema-qualified: the functions that call into here are
//! SECURITY DEFINER with `search_path = pg_catalog, pg_temp`.

use std::cell::RefCell;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, BuiltinOid, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};

/// A statement the extension prepares once per backend.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum Stmt {
    /// Record a successful use, never waiting for another session's lock.
    TouchLastUsed,
    /// Store a new key.
    Insert,
    /// Append an event to the audit log and queue its NOTIFY
    /// ([`crate::events::record`]). Owner and name are cut in the payload:
    /// NOTIFY payloads are limited to 8000 bytes; the audit row keeps them
    /// whole.
    RecordEvent,
}

const STMT_COUNT: usize = 3;

impl Stmt {
    fn sql(self) -> &'static str {
        match self {
            Stmt::TouchLastUsed => {
                "UPDATE api_keys.keys k SET last_used_at = pg_catalog.now()
                   FROM (SELECT id FROM api_keys.keys WHERE id = $1 FOR UPDATE SKIP LOCKED) l
                  WHERE k.id = l.id"
            }
            Stmt::Insert => {
                "INSERT INTO api_keys.keys
                        (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata,
                         expires_at, rotation_interval, webhook_url, rate_limit, rate_window)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING id, created_at"
            }
            Stmt::RecordEvent => {
                "WITH k AS (
             SELECT id, owner, name, prefix, expires_at, webhook_url,
                    created_at + rotation_interval AS next_rotation_at
               FROM api_keys.keys WHERE id = $2),
         e AS (
             INSERT INTO api_keys.events (action, key_id, owner, session_role, acting_role, changes)
             SELECT $1, k.id, k.owner, session_user, $4, $3 FROM k
             RETURNING id, at)
         SELECT pg_catalog.pg_notify('api_keys_events', pg_catalog.json_build_object(
                    'event_id', e.id, 'event', $1, 'at', e.at,
                    'key_id', k.id, 'owner', pg_catalog.left(k.owner, 200),
                    'name', pg_catalog.left(k.name, 200), 'prefix', k.prefix,
                    'expires_at', k.expires_at, 'next_rotation_at', k.next_rotation_at,
                    'webhook_url', k.webhook_url)::text)
           FROM e, k"
            }
        }
    }

    fn arg_types(self) -> Vec<PgOid> {
        use BuiltinOid::*;
        let oids: &[BuiltinOid] = match self {
            Stmt::TouchLastUsed => &[UUIDOID],
            Stmt::RecordEvent => &[TEXTOID, UUIDOID, JSONBOID, TEXTOID],
            Stmt::Insert => &[
                BYTEAOID,
                TEXTOID,
                TEXTOID,
                TEXTOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTOID,
                JSONBOID,
                TIMESTAMPTZOID,
                INTERVALOID,
                TEXTOID,
                INT4OID,
                INTERVALOID,
            ],
        };
        oids.iter().map(|o| PgOid::BuiltIn(*o)).collect()
    }
}

thread_local! {
    static PLANS: RefCell<[Option<OwnedPreparedStatement>; STMT_COUNT]> =
        const { RefCell::new([None, None, None]) };
}

/// Run a kept statement with `args` inside an SPI connection.
pub fn run<'conn>(
    client: &SpiClient<'conn>,
    stmt: Stmt,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    let idx = stmt as usize;
    let missing = PLANS.with(|p| p.borrow()[idx].is_none());
    if missing {
        let types = stmt.arg_types();
        let prepared = client.prepare_mut(stmt.sql(), &types)?;
        let kept = prepared.keep();
        PLANS.with(|p| p.borrow_mut()[idx] = Some(kept));
    }
    PLANS.with(|p| {
        let plans = p.borrow();
        let plan = plans[idx].as_ref().expect("plan prepared above");
        // SAFETY: the plan is kept in TopMemoryContext for the backend's life;
        // executing it does not re-enter this module.
        client.select(plan, None, args)
    })
}

/// Whether verification may record usage (`last_used_at`) in this
/// transaction: not READ ONLY, not on a standby, and not under REPEATABLE
/// READ or SERIALIZABLE, where updating a row another session changed after
/// the snapshot would fail the caller's transaction with 40001.
pub fn can_record_usage() -> bool {
    unsafe {
        !pg_sys::XactReadOnly
            && !pg_sys::RecoveryInProgress()
            && pg_sys::XactIsoLevel < pg_sys::XACT_REPEATABLE_READ as i32
    }
}

/// Rows of a one-off (not hot) statement, run with the given arguments.
pub fn select_once<'conn>(
    client: &SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    client.select(sql, None, args)
}

/// Run a one-off statement that writes.
pub fn update_once<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    client.update(sql, None, args)
}

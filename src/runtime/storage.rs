//! Storage: every statement the extension runs against its tables. The SQL
//! text lives in `sql/queries/`, one file per statement named for what it
//! does; each is prepared once per backend and kept (plancache re-plans it
//! when a table changes, for example after the extension is re-created).
//! Verification's read goes around SPI: [`crate::runtime::key_lookup`];
//! so do the rows key creation writes, where the tables allow it
//! ([`crate::runtime::direct_insert`]).
//!
//! All names are schema-qualified: the functions that call into here are
//! SECURITY DEFINER with `search_path = pg_catalog, pg_temp`.

use std::cell::RefCell;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{BuiltinOid, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};

/// A statement of the extension's, named like its file in `sql/queries/`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum Stmt {
    TouchLastUsed,
    InsertKey,
    RecordEvent,
    RevokeKey,
    LockKeyForRotation,
    InsertSuccessor,
    MarkRotated,
    UpdateKey,
    ListKeys,
    KeysDueForRotation,
    KeysExpiring,
    LockAnnouncements,
    History,
    UsageOfOwner,
    FlushUsage,
    FlushLastUsed,
    ExtensionVersion,
    ExtensionMembers,
    PostgrestRoutes,
    LockOwnerLimits,
    UpsertOwnerLimits,
    DeleteOwnerLimits,
    ListOwnerLimits,
    ValidUsesOfKey,
    ValidUsesOfOwner,
    KeysWithQuotas,
    UsageOfOwnerByDay,
    ImportKeys,
    RevokeLeaked,
}

const STMT_COUNT: usize = Stmt::RevokeLeaked as usize + 1;

macro_rules! query {
    ($file:literal) => {
        include_str!(concat!("../../sql/queries/", $file, ".sql"))
    };
}

impl Stmt {
    fn sql(self) -> &'static str {
        match self {
            Stmt::TouchLastUsed => query!("touch_last_used"),
            Stmt::InsertKey => query!("insert_key"),
            Stmt::RecordEvent => query!("record_event"),
            Stmt::RevokeKey => query!("revoke_key"),
            Stmt::LockKeyForRotation => query!("lock_key_for_rotation"),
            Stmt::InsertSuccessor => query!("insert_successor"),
            Stmt::MarkRotated => query!("mark_rotated"),
            Stmt::UpdateKey => query!("update_key"),
            Stmt::ListKeys => query!("list_keys"),
            Stmt::KeysDueForRotation => query!("keys_due_for_rotation"),
            Stmt::KeysExpiring => query!("keys_expiring"),
            Stmt::LockAnnouncements => query!("lock_announcements"),
            Stmt::History => query!("history"),
            Stmt::UsageOfOwner => query!("usage_of_owner"),
            Stmt::FlushUsage => query!("flush_usage"),
            Stmt::FlushLastUsed => query!("flush_last_used"),
            Stmt::ExtensionVersion => query!("extension_version"),
            Stmt::ExtensionMembers => query!("extension_members"),
            Stmt::PostgrestRoutes => query!("postgrest_routes"),
            Stmt::LockOwnerLimits => query!("lock_owner_limits"),
            Stmt::UpsertOwnerLimits => query!("upsert_owner_limits"),
            Stmt::DeleteOwnerLimits => query!("delete_owner_limits"),
            Stmt::ListOwnerLimits => query!("list_owner_limits"),
            Stmt::ValidUsesOfKey => query!("valid_uses_of_key"),
            Stmt::ValidUsesOfOwner => query!("valid_uses_of_owner"),
            Stmt::KeysWithQuotas => query!("keys_with_quotas"),
            Stmt::UsageOfOwnerByDay => query!("usage_of_owner_by_day"),
            Stmt::ImportKeys => query!("import_keys"),
            Stmt::RevokeLeaked => query!("revoke_leaked"),
        }
    }

    /// The types of `$1`, `$2`, ...
    fn arg_types(self) -> &'static [BuiltinOid] {
        use BuiltinOid::*;
        match self {
            Stmt::TouchLastUsed | Stmt::RevokeKey | Stmt::LockKeyForRotation => &[UUIDOID],
            Stmt::InsertKey => &[
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
                INT8OID,
                TEXTOID,
            ],
            Stmt::RecordEvent => &[TEXTOID, UUIDOID, JSONBOID, TEXTOID],
            Stmt::InsertSuccessor => &[UUIDOID, BYTEAOID, TEXTOID],
            Stmt::MarkRotated => &[UUIDOID, UUIDOID, INTERVALOID],
            Stmt::UpdateKey => &[
                UUIDOID,
                TEXTOID,
                TEXTARRAYOID,
                BOOLOID,
                TEXTARRAYOID,
                BOOLOID,
                TIMESTAMPTZOID,
                JSONBOID,
                BOOLOID,
                INTERVALOID,
                BOOLOID,
                TEXTOID,
                BOOLOID,
                INT4OID,
                INTERVALOID,
                INTERVALOID,
                BOOLOID,
                INT8OID,
                TEXTOID,
            ],
            Stmt::ListKeys => &[TEXTOID, TEXTOID, TEXTOID],
            Stmt::KeysDueForRotation | Stmt::KeysExpiring => &[INTERVALOID, BOOLOID],
            Stmt::LockAnnouncements => &[],
            Stmt::History => &[TEXTOID, TIMESTAMPTZOID],
            Stmt::UsageOfOwner => &[TEXTOID, DATEOID, DATEOID],
            Stmt::FlushUsage => &[UUIDARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID],
            Stmt::FlushLastUsed => &[UUIDARRAYOID, TIMESTAMPTZARRAYOID, INTERVALOID],
            Stmt::ExtensionVersion | Stmt::ExtensionMembers => &[OIDOID],
            Stmt::PostgrestRoutes => &[TEXTARRAYOID],
            Stmt::LockOwnerLimits
            | Stmt::DeleteOwnerLimits
            | Stmt::ListOwnerLimits
            | Stmt::KeysWithQuotas => &[TEXTOID],
            Stmt::UpsertOwnerLimits => &[TEXTOID, INT4OID, INTERVALOID, INT8OID, TEXTOID],
            Stmt::ValidUsesOfKey => &[UUIDOID, DATEOID],
            Stmt::ValidUsesOfOwner => &[TEXTOID, DATEOID],
            Stmt::UsageOfOwnerByDay => &[TEXTOID, DATEOID, DATEOID],
            Stmt::ImportKeys => &[
                TEXTARRAYOID,
                TEXTARRAYOID,
                BYTEAARRAYOID,
                TEXTARRAYOID,
                TIMESTAMPTZARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                JSONBARRAYOID,
                INTERVALARRAYOID,
                TEXTARRAYOID,
                INT4ARRAYOID,
                INTERVALARRAYOID,
                INT8ARRAYOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TIMESTAMPTZARRAYOID,
                TEXTOID,
                TEXTOID,
            ],
            Stmt::RevokeLeaked => &[INT4ARRAYOID, BYTEAARRAYOID, INT4ARRAYOID],
        }
    }
}

thread_local! {
    static PLANS: RefCell<[Option<OwnedPreparedStatement>; STMT_COUNT]> =
        const { RefCell::new([const { None }; STMT_COUNT]) };
}

/// Run `stmt` with `args` inside an SPI connection, preparing it the first
/// time this backend runs it.
pub fn run<'conn>(
    client: &SpiClient<'conn>,
    stmt: Stmt,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    let idx = stmt as usize;
    if PLANS.with(|p| p.borrow()[idx].is_none()) {
        let types: Vec<PgOid> = stmt
            .arg_types()
            .iter()
            .map(|o| PgOid::BuiltIn(*o))
            .collect();
        let kept = client.prepare_mut(stmt.sql(), &types)?.keep();
        PLANS.with(|p| p.borrow_mut()[idx] = Some(kept));
    }
    PLANS.with(|p| {
        let plans = p.borrow();
        let plan = plans[idx].as_ref().expect("plan prepared above");
        // The plan is kept in TopMemoryContext for the backend's life;
        // executing it does not re-enter this module.
        client.select(plan, None, args)
    })
}

//! The background workers that store what verification recorded in shared
//! memory ([`crate::runtime::usage`]): usage counts into `api_keys.usage`,
//! last-used times into `api_keys.keys.last_used_at`.
//!
//! - The **launcher** (one per server, started with it when the library is
//!   preloaded, and after a standby's promotion) is connected to no
//!   database. Every `api_keys.flush_interval`, or sooner when a table is
//!   three-quarters full, it finds the databases with something to store
//!   and starts a flusher for each, one after the other. A database that no
//!   longer exists (or takes no connections) has its entries discarded.
//! - A **flusher** connects to one database, stores that database's
//!   entries in one transaction, and exits: no worker stays connected, so
//!   `DROP DATABASE` is never held up. Where the extension is not installed
//!   (any more) or is older than this library, it discards the entries.
//!
//! A flusher connects as the bootstrap superuser only because PostgreSQL 15
//! and 16 let a background worker connect only as a role with LOGIN; before
//! any statement it pins `search_path` to `pg_catalog, pg_temp`, finds the
//! extension's tables by OID and checks that the names its statements use
//! are those tables, and then runs every statement as `api_keys_worker`, a
//! NOLOGIN role without superuser that may only read key ids and write
//! `last_used_at` and `api_keys.usage`, inside a security-restricted
//! operation. A database's owner cannot redirect any of it.

use std::ffi::CStr;

use pgrx::bgworkers::{
    BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags,
};
use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::{Error, Result};
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{catalog, privilege, usage};
use crate::settings;

/// The role every flusher statement runs as.
const WORKER_ROLE: &CStr = c"api_keys_worker";

/// Start the launcher with the server. Called from `_PG_init` when
/// preloaded.
pub fn register() {
    BackgroundWorkerBuilder::new("api_keys launcher")
        .set_type("api_keys launcher")
        .set_library("api_keys")
        .set_function("api_keys_launcher")
        .enable_spi_access()
        .set_start_time(BgWorkerStartTime::RecoveryFinished)
        .set_restart_time(Some(std::time::Duration::from_secs(10)))
        .load();
}

/// The launcher's main function.
#[pgrx::pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn api_keys_launcher(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    BackgroundWorker::connect_worker_to_spi(None, None);
    // SAFETY: this process's own latch, in its PGPROC in shared memory.
    usage::set_launcher_latch(unsafe { pg_sys::MyLatch });
    // At start first: a clean shutdown left its entries to store.
    loop {
        flush_all();
        if !BackgroundWorker::wait_latch(Some(settings::flush_interval())) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration file, as any backend does
            // on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        usage::take_wake_request();
    }
}

/// Store every database's entries, one database after the other.
fn flush_all() {
    for db in usage::pending_databases() {
        if accepts_connections(db) {
            run_flusher(db);
        } else {
            usage::discard(db);
        }
    }
    let (counts, times) = usage::take_dropped();
    if counts + times > 0 {
        log!(
            "api_keys: {counts} usage counts and {times} last-used times found no room in \
             shared memory and were dropped: raise api_keys.usage_max_entries or \
             api_keys.last_used_max_keys"
        );
    }
}

/// Whether database `db` exists and takes connections.
fn accepts_connections(db: u32) -> bool {
    BackgroundWorker::transaction(|| {
        // SAFETY: a syscache lookup of a shared catalog, released at once;
        // the tuple's fixed part is a FormData_pg_database.
        unsafe {
            let tuple = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::DATABASEOID as _,
                pg_sys::Datum::from(pg_sys::Oid::from(db)),
            );
            if tuple.is_null() {
                return false;
            }
            let form = pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_database>(tuple);
            let allowed = (*form).datallowconn;
            pg_sys::ReleaseSysCache(tuple);
            allowed
        }
    })
}

/// Start a flusher for `db` and wait until it is done.
fn run_flusher(db: u32) {
    let started = BackgroundWorkerBuilder::new(&format!("api_keys flusher for database {db}"))
        .set_type("api_keys flusher")
        .set_library("api_keys")
        .set_function("api_keys_flusher")
        .set_argument(Some(pg_sys::Datum::from(db)))
        .enable_spi_access()
        .set_restart_time(None)
        // SAFETY: a global of this process.
        .set_notify_pid(unsafe { pg_sys::MyProcPid })
        .load_dynamic();
    match started {
        Ok(worker) => {
            let _ = worker.wait_for_shutdown();
        }
        Err(_) => log!(
            "api_keys: no background worker slot free to store database {db}'s usage; \
             raise max_worker_processes"
        ),
    }
}

/// A flusher's main function: store database `arg`'s entries and exit.
#[pgrx::pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn api_keys_flusher(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let db = arg.value() as u32;
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(pg_sys::Oid::from(db)), None);
    // An error ends this process (and the transaction) with its message in
    // the log; the entries stay in shared memory for the next flush.
    let stored = BackgroundWorker::transaction(|| flush(db).unwrap_or_else(|e| e.raise()));
    if let Some((counts, uses)) = stored {
        usage::settle(&counts, &uses);
    }
}

/// The flusher's transaction: what it stored, to be settled after the
/// commit; None when the entries were discarded instead.
fn flush(db: u32) -> Result<Option<(Vec<usage::Count>, Vec<usage::LastUse>)>> {
    pin_search_path();
    let Some(extension) = catalog::extension_oid() else {
        usage::discard(db);
        return Ok(None);
    };
    let version = Spi::connect(|client| {
        let args: [DatumWithOid; 1] = [extension.into()];
        let row = storage::run(client, Stmt::ExtensionVersion, &args)?.first();
        Ok::<_, Error>(row.get::<String>(1)?.unwrap_or_default())
    })?;
    if version != env!("CARGO_PKG_VERSION") {
        log!(
            "api_keys: database {db} has api_keys {version}, this library is {}: its usage \
             counts and last-used times are not stored; run ALTER EXTENSION api_keys UPDATE there",
            env!("CARGO_PKG_VERSION")
        );
        usage::discard(db);
        return Ok(None);
    }
    catalog::check_names()?;
    // SAFETY: a catalog lookup by a static name; missing_ok.
    let role = unsafe { pg_sys::get_role_oid(WORKER_ROLE.as_ptr(), true) };
    if role == pg_sys::InvalidOid {
        return Err(Error::Internal("role api_keys_worker is missing".into()));
    }
    let (counts, uses) = usage::peek(db);
    let skipped = privilege::run_as(role, || store(&counts, &uses))?;
    let uses = uses
        .into_iter()
        .filter(|u| !skipped.contains(&pgrx::Uuid::from_bytes(u.key)))
        .collect();
    Ok(Some((counts, uses)))
}

/// `SET LOCAL search_path = pg_catalog, pg_temp`, before anything else.
fn pin_search_path() {
    // SAFETY: sets a built-in setting for the current transaction only.
    unsafe {
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pg_sys::PGERROR as i32,
            false,
        );
    }
}

/// Store the counts and times; the ids of keys whose row was locked by
/// another session (their times wait for the next flush).
fn store(counts: &[usage::Count], uses: &[usage::LastUse]) -> Result<Vec<pgrx::Uuid>> {
    Spi::connect_mut(|client| {
        if !counts.is_empty() {
            let keys: Vec<pgrx::Uuid> = counts
                .iter()
                .map(|e| pgrx::Uuid::from_bytes(e.key))
                .collect();
            let days: Vec<i32> = counts.iter().map(|e| e.day).collect();
            let codes: Vec<String> = counts.iter().map(|e| e.code().to_string()).collect();
            let numbers: Vec<i64> = counts.iter().map(|e| e.count as i64).collect();
            let args: [DatumWithOid; 4] = [keys.into(), days.into(), codes.into(), numbers.into()];
            storage::run(client, Stmt::FlushUsage, &args)?;
        }
        if uses.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<pgrx::Uuid> = uses.iter().map(|u| pgrx::Uuid::from_bytes(u.key)).collect();
        let times: Vec<Option<TimestampWithTimeZone>> = uses
            .iter()
            .map(|u| TimestampWithTimeZone::try_from(u.at).ok())
            .collect();
        let resolution = settings::last_used_resolution_secs().max(0);
        let resolution = Interval::new(0, 0, i64::from(resolution) * 1_000_000).expect("seconds");
        let args: [DatumWithOid; 3] = [keys.into(), times.into(), resolution.into()];
        storage::run(client, Stmt::FlushLastUsed, &args)?
            .map(|r| Ok(r.get::<pgrx::Uuid>(1)?.expect("id")))
            .collect()
    })
}

//! The usage flusher: a background worker per database listed in
//! `api_keys.usage_databases` that moves that database's counts from shared
//! memory ([`crate::runtime::usage`]) into `api_keys.usage` every
//! `api_keys.usage_flush_interval`. A clean shutdown flushes (the worker
//! flushes when told to stop); a crash loses at most one interval.

use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::Result;
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{usage, xact};
use crate::settings;

/// Start one flusher per listed database. Called from `_PG_init` when
/// preloaded.
pub fn register() {
    for db in settings::usage_databases() {
        BackgroundWorkerBuilder::new(&format!("api_keys usage flusher for {db}"))
            .set_type("api_keys usage flusher")
            .set_library("api_keys")
            .set_function("api_keys_usage_flusher")
            .enable_spi_access()
            .set_extra(&db)
            .set_restart_time(Some(Duration::from_secs(5)))
            .load();
    }
}

/// Move this database's counts into `api_keys.usage`. Nothing is taken out
/// of shared memory while the extension is not installed here.
fn flush() -> Result<()> {
    if xact::on_standby() {
        return Ok(());
    }
    Spi::connect_mut(|client| {
        let installed = storage::run(client, Stmt::UsageTableExists, &[])?
            .first()
            .get::<bool>(1)?
            .unwrap_or(false);
        if !installed {
            return Ok(());
        }
        let (drained, dropped) = usage::drain(usage::this_database());
        if dropped > 0 {
            log!("api_keys: {dropped} usage counts dropped: raise api_keys.usage_max_entries");
        }
        if drained.is_empty() {
            return Ok(());
        }
        let keys: Vec<pgrx::Uuid> = drained
            .iter()
            .map(|e| pgrx::Uuid::from_bytes(e.key))
            .collect();
        let days: Vec<i32> = drained.iter().map(|e| e.day).collect();
        let codes: Vec<String> = drained.iter().map(|e| e.code().to_string()).collect();
        let counts: Vec<i64> = drained.iter().map(|e| e.count as i64).collect();
        let args: [DatumWithOid; 4] = [keys.into(), days.into(), codes.into(), counts.into()];
        storage::run(client, Stmt::FlushUsage, &args)?;
        Ok(())
    })
}

/// The flusher's main function.
#[pgrx::pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn api_keys_usage_flusher(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = BackgroundWorker::get_extra().to_string();
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    loop {
        let interval = Duration::from_secs(settings::USAGE_FLUSH_INTERVAL.get().max(1) as u64);
        let go_on = BackgroundWorker::wait_latch(Some(interval));
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration file in this worker, as
            // any backend does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        BackgroundWorker::transaction(|| {
            flush().unwrap_or_else(|e| e.raise());
        });
        if !go_on {
            break;
        }
    }
}

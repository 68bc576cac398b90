//! `api_keys`: API keys inside PostgreSQL.
//!
//! The pure core (`api_keys_core`, in `core/`) knows the key format, digest,
//! scopes and networks. This crate is the thin PostgreSQL layer on top:
//!
//! - [`settings`]: the GUCs;
//! - [`storage`]: every statement against the key table, prepared once;
//! - [`key_lookup`]: the hot path's read, straight through the digest index;
//! - [`verify`]: the hot path, `apikey_verify`;
//! - [`context`]: the unforgeable per-transaction key context for RLS;
//! - [`manage`]: create, revoke, rotate, update, list;
//! - [`events`]: the audit table and NOTIFY of every management action;
//! - [`lifecycle`]: rotation policy, expiry warnings, an owner's history;
//! - [`postgrest`]: the PostgREST pre-request hook;
//! - [`ratelimit`]: per-key rate-limit counters in shared memory;
//! - [`usage`]: usage counts in shared memory, flushed by a background worker;
//! - [`shmem`]: the shared-memory segments of both;
//! - [`error`]: every user-facing error and its SQLSTATE.
//!
//! Hand-written SQL (tables, grants, the PostgREST wrapper) lives in `sql/`.

use pgrx::prelude::*;

pub mod context;
pub mod error;
pub mod events;
pub mod key_lookup;
pub mod lifecycle;
pub mod manage;
pub mod metadata_arg;
pub mod postgrest;
pub mod ratelimit;
pub mod settings;
pub mod shmem;
pub mod storage;
pub mod usage;
pub mod verify;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/postgrest.sql",
    name = "postgrest",
    requires = [postgrest::postgrest_authenticate]
);
extension_sql_file!("../sql/grants.sql", name = "grants", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::define();
    ratelimit::init();
    usage::init();
    context::define_setting();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("tests.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}

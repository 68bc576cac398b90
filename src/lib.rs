//! `api_keys`: API keys inside PostgreSQL.
//!
//! Dependencies run one way: [`api`] (the SQL surface) → [`runtime`] (what
//! runs underneath) → `api_keys_core` (the pure core in `core/`: key
//! format, digest, scopes, networks, verification codes; no PostgreSQL in
//! it). [`settings`] and [`error`] are shared by both layers; [`upgrade`]
//! keeps older releases' C symbols answering. Hand-written SQL lives in
//! `sql/`: the install script's parts in `sql/install/`, the statements the
//! code runs in `sql/queries/`. `docs/architecture.md` draws the picture.

use pgrx::pg_sys;
use pgrx::prelude::*;

pub mod api;
pub mod error;
pub mod runtime;
pub mod settings;
pub mod upgrade;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/install/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/install/postgrest.sql",
    name = "postgrest",
    requires = [
        api::postgrest::postgrest_check,
        api::postgrest::postgrest_required_scope,
        api::postgrest::postgrest_route_check
    ]
);
extension_sql_file!("../sql/install/grants.sql", name = "grants", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // SAFETY: a global of the postmaster or backend loading the library.
    let preloaded = unsafe { pg_sys::process_shared_preload_libraries_in_progress };
    settings::define(preloaded);
    runtime::context::define_setting();
    settings::reserve_prefix();
    if preloaded {
        runtime::ratelimit::init();
        runtime::usage::init();
        runtime::quota::init();
        runtime::persist::init();
        runtime::workers::register();
    }
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

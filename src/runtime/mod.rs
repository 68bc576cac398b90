//! The runtime underneath the SQL surface: how keys are found, stored and
//! counted. Nothing here is called from SQL directly; [`crate::api`] is.
//!
//! - [`verification`] — the hot path shared by every checking function;
//! - [`key_lookup`] — its read, straight through the digest index, and the
//!   answer row formed from it;
//! - [`storage`] — every statement against the extension's tables (SQL text
//!   in `sql/queries/`);
//! - [`direct_insert`] — the rows key creation writes, without SPI;
//! - [`context`] — the unforgeable per-transaction key context for RLS;
//! - [`events`] — the audit log and NOTIFY of every management action;
//! - [`pepper`] — the server-side peppers of the digest;
//! - [`presented`] — the digests a presented key is looked up by (native or
//!   imported), or none: malformed;
//! - [`privilege`] — running code as another role, safely;
//! - [`xact`] — the transaction and server state (standby, read-only, ...);
//! - [`catalog`] — the extension's own tables and types, by OID;
//! - [`compat`] — the calls that differ between PostgreSQL versions;
//! - [`shmem`], [`ratelimit`], [`usage`], [`quota`] — counters and times
//!   in shared memory; [`persist`] — kept across a clean restart;
//! - [`limits`] — a request's rate limits and quotas, key's and owner's;
//! - [`owner_limits`] — the limits an owner's keys share, cached;
//! - [`workers`] — the background workers that store usage and last-used
//!   times.

pub mod catalog;
pub mod compat;
pub mod context;
pub mod direct_insert;
pub mod events;
pub mod key_lookup;
pub mod limits;
pub mod owner_limits;
pub mod pepper;
pub mod persist;
pub mod presented;
pub mod privilege;
pub mod quota;
pub mod ratelimit;
pub mod shmem;
pub mod storage;
pub mod usage;
pub mod verification;
pub mod workers;
pub mod xact;

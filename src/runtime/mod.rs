//! The runtime underneath the SQL surface: how keys are found, stored and
//! counted. Nothing here is called from SQL directly; [`crate::api`] is.
//!
//! - [`verification`] — the hot path shared by every checking function;
//! - [`key_lookup`] — its read, straight through the digest index, and the
//!   answer row formed from it;
//! - [`storage`] — every statement against the extension's tables (SQL text
//!   in `sql/queries/`);
//! - [`context`] — the unforgeable per-transaction key context for RLS;
//! - [`events`] — the audit log and NOTIFY of every management action;
//! - [`pepper`] — the server-side peppers of the digest;
//! - [`presented`] — the digests a presented key is looked up by (native or
//!   imported), or none: malformed;
//! - [`xact`] — the transaction and server state (standby, read-only, ...);
//! - [`shmem`], [`ratelimit`], [`usage`] — counters in shared memory;
//! - [`flusher`] — the background worker that stores the usage counts.

pub mod context;
pub mod events;
pub mod flusher;
pub mod key_lookup;
pub mod pepper;
pub mod presented;
pub mod ratelimit;
pub mod shmem;
pub mod storage;
pub mod usage;
pub mod verification;
pub mod xact;

//! The pure core of `api_keys`: everything that can be decided without a
//! database. Key format and checksum, digest, scope grammar and matching,
//! allowed-network matching, rate-limit windows, PostgREST routes and the
//! HTTP answers of the PostgREST hook, finding keys in text, which strings
//! may be imported keys. The pgrx layer (`src/` of the extension crate)
//! calls into this and adds storage, settings and the request context.

pub mod cidr;
pub mod code;
pub mod digest;
pub mod headers;
pub mod http;
pub mod imported;
pub mod interval;
pub mod key;
pub mod lifecycle;
pub mod quota;
pub mod ratelimit;
pub mod route;
pub mod scan;
pub mod scope;

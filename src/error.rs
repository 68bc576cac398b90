//! Every user-facing error of the extension, and the one place where each
//! becomes a PostgreSQL error with its SQLSTATE.
//!
//! Functions of the pgrx layer return [`Result`]; the `#[pg_extern]`s of
//! [`crate::api`] return `Result<T, ErrorReport>`, so `?` turns an [`Error`]
//! into the report PostgreSQL raises. Messages name the offending value but
//! never a key: nothing here ever receives a key's text.

use api_keys_core::code::Code;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// What went wrong, in the extension's terms.
#[derive(Debug)]
pub enum Error {
    /// 22023: an argument is invalid (empty name, bad scope, CIDR,
    /// environment, negative grace, expiry in the past, ...).
    InvalidArgument {
        message: String,
        hint: Option<String>,
    },
    /// 28000: `apikey_authenticate` with a key that does not verify.
    NotAuthenticated {
        code: Code,
        /// For `rate_limited`: seconds until a retry can succeed.
        retry_after: Option<u32>,
    },
    /// 42501: key management inside a key-authenticated transaction.
    ManagementFromKey,
    /// 55000: rotating a key that is revoked, expired or already rotated.
    NotRotatable {
        key_id: pgrx::Uuid,
        reason: &'static str,
    },
    /// P0002: rotating an unknown key.
    UnknownKey { key_id: pgrx::Uuid },
    /// 23505: importing a key whose digest is stored already (`stored_as`)
    /// or given twice in one call (`same_as`, the other item). `item` is the
    /// place in `apikey_import_many`'s array, from 1.
    DuplicateDigest {
        item: Option<usize>,
        stored_as: Option<pgrx::Uuid>,
        same_as: Option<usize>,
    },
    /// 55000: a rate limit or quota (named), but the library is not
    /// preloaded, so there are no counters.
    NeedsPreload(&'static str),
    /// 55000: an older schema's function called into a newer library.
    SchemaOutdated,
    /// 25006: key management in a read-only transaction or on a standby.
    ReadOnly { standby: bool },
    /// F0000: the configured pepper file cannot be used.
    PepperFile { path: String, problem: String },
    /// XX000: a statement of the extension's own failed in a way it does not
    /// expect (a bug).
    Internal(String),
}

impl Error {
    /// A 22023 with a message naming the bad value.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            message: message.into(),
            hint: None,
        }
    }

    /// A 22023 with a message and a HINT.
    pub fn invalid_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::InvalidArgument {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            Error::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            Error::NotAuthenticated { .. } => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            Error::ManagementFromKey => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Error::NotRotatable { .. } | Error::NeedsPreload(_) | Error::SchemaOutdated => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            Error::UnknownKey { .. } => ERRCODE_NO_DATA_FOUND,
            Error::DuplicateDigest { .. } => ERRCODE_UNIQUE_VIOLATION,
            Error::ReadOnly { .. } => ERRCODE_READ_ONLY_SQL_TRANSACTION,
            Error::PepperFile { .. } => ERRCODE_CONFIG_FILE_ERROR,
            Error::Internal(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    /// Raise this error; never returns. For the few places that cannot
    /// return a `Result` (hooks called by PostgreSQL).
    pub fn raise(self) -> ! {
        ErrorReport::from(self).report(PgLogLevel::ERROR);
        unreachable!("ERROR-level reports do not return")
    }
}

impl From<Error> for ErrorReport {
    fn from(error: Error) -> ErrorReport {
        let code = error.sqlstate();
        let report = |message: String| ErrorReport::new(code, message, "api_keys");
        match error {
            Error::InvalidArgument { message, hint } => {
                let r = report(message);
                match hint {
                    Some(h) => r.set_hint(h),
                    None => r,
                }
            }
            Error::NotAuthenticated {
                code: verdict,
                retry_after,
            } => {
                let r = report(format!("API key not accepted: {verdict}"))
                    .set_detail(format!("apikey_verify answered \"{verdict}\""));
                match retry_after {
                    Some(s) => r.set_hint(format!("Retry after {s} seconds.")),
                    None => r,
                }
            }
            Error::ManagementFromKey => report("API keys cannot manage API keys".into()).set_hint(
                "This transaction was authenticated with apikey_authenticate(); manage keys \
                 from a separate transaction as a role granted api_keys_admin.",
            ),
            Error::NotRotatable { key_id, reason } => {
                report(format!("API key {key_id} cannot be rotated: {reason}"))
            }
            Error::UnknownKey { key_id } => report(format!("API key {key_id} does not exist")),
            Error::DuplicateDigest {
                item,
                stored_as,
                same_as,
            } => {
                let at = item.map(|i| format!("keys[{i}]: ")).unwrap_or_default();
                let what = match (stored_as, same_as) {
                    (Some(id), _) => format!("this digest is stored already, as API key {id}"),
                    (None, Some(other)) => format!("this digest is also keys[{other}]'s"),
                    (None, None) => "this digest was stored meanwhile by another transaction".into(),
                };
                report(format!("{at}{what}"))
                    .set_hint("A key can be imported once; apikey_list shows the keys stored.")
            }
            Error::NeedsPreload(what) => report(format!(
                "{what} need the api_keys library in shared_preload_libraries"
            ))
            .set_hint(
                "Add api_keys to shared_preload_libraries in postgresql.conf and restart the server.",
            ),
            Error::SchemaOutdated => report(
                "the api_keys library is newer than this database's api_keys objects".into(),
            )
            .set_hint("Run ALTER EXTENSION api_keys UPDATE in this database."),
            Error::ReadOnly { standby: true } => {
                report("API keys cannot be managed on a standby".into())
                    .set_hint("Manage keys on the primary; verification works here.")
            }
            Error::ReadOnly { standby: false } => {
                report("API keys cannot be managed in a read-only transaction".into())
            }
            Error::PepperFile { path, problem } => {
                report(format!("api_keys.pepper_file \"{path}\": {problem}")).set_hint(
                    "Fix the file or unset api_keys.pepper_file, then SELECT pg_reload_conf().",
                )
            }
            Error::Internal(message) => report(format!("api_keys: {message}")),
        }
    }
}

impl From<pgrx::spi::SpiError> for Error {
    fn from(e: pgrx::spi::SpiError) -> Error {
        Error::Internal(format!("internal query failed: {e}"))
    }
}

/// `Result` shorthand for the pgrx layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Emit a WARNING (for example, an allowed network that allows everything).
pub fn warn(message: &str) {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_WARNING,
        message.to_string(),
        "api_keys",
    )
    .report(PgLogLevel::WARNING);
}

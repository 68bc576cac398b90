//! Every user-facing error of the extension, and the one place where each
//! becomes a PostgreSQL error with its SQLSTATE.
//!
//! Messages name the offending value but never a key: nothing in this module
//! ever receives a key's text.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// What went wrong, in the contract's terms.
#[derive(Debug)]
pub enum ApiKeyError {
    /// 22023: an argument is invalid (empty name, bad scope, CIDR,
    /// environment, negative grace, expiry in the past, ...).
    InvalidArgument {
        message: String,
        hint: Option<String>,
    },
    /// 28000: `apikey_authenticate` with a key that does not verify.
    NotAuthenticated {
        code: &'static str,
        /// For `rate_limited`: seconds until a retry can succeed.
        retry_after: Option<u32>,
    },
    /// 42501: key management inside a key-authenticated transaction.
    ManagementFromKey,
    /// 55000: rotating a key that is revoked, expired or already rotated.
    NotRotatable {
        key_id: String,
        reason: &'static str,
    },
    /// P0002: rotating an unknown key.
    UnknownKey { key_id: String },
    /// 55000: a rate-limited key, but the library is not preloaded, so
    /// there are no counters.
    RateLimitsUnavailable,
    /// 55000: an older schema's function called into a newer library.
    SchemaOutdated,
    /// 25006: key management in a read-only transaction or on a standby.
    ReadOnly { standby: bool },
}

impl ApiKeyError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiKeyError::InvalidArgument {
            message: message.into(),
            hint: None,
        }
    }

    pub fn invalid_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        ApiKeyError::InvalidArgument {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            ApiKeyError::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
            ApiKeyError::NotAuthenticated { .. } => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            ApiKeyError::ManagementFromKey => ERRCODE_INSUFFICIENT_PRIVILEGE,
            ApiKeyError::NotRotatable { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            ApiKeyError::UnknownKey { .. } => ERRCODE_NO_DATA_FOUND,
            ApiKeyError::RateLimitsUnavailable | ApiKeyError::SchemaOutdated => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            ApiKeyError::ReadOnly { .. } => ERRCODE_READ_ONLY_SQL_TRANSACTION,
        }
    }

    fn report(self) -> ErrorReport {
        let code = self.sqlstate();
        let fname = "api_keys";
        match self {
            ApiKeyError::InvalidArgument { message, hint } => {
                let r = ErrorReport::new(code, message, fname);
                match hint {
                    Some(h) => r.set_hint(h),
                    None => r,
                }
            }
            ApiKeyError::NotAuthenticated {
                code: verdict,
                retry_after,
            } => {
                let r = ErrorReport::new(code, format!("API key not accepted: {verdict}"), fname)
                    .set_detail(format!("apikey_verify answered \"{verdict}\""));
                match retry_after {
                    Some(s) => r.set_hint(format!("Retry after {s} seconds.")),
                    None => r,
                }
            }
            ApiKeyError::ManagementFromKey => {
                ErrorReport::new(code, "API keys cannot manage API keys", fname).set_hint(
                    "This transaction was authenticated with apikey_authenticate(); manage keys \
                     from a separate transaction as a role granted api_keys_admin.",
                )
            }
            ApiKeyError::NotRotatable { key_id, reason } => ErrorReport::new(
                code,
                format!("API key {key_id} cannot be rotated: {reason}"),
                fname,
            ),
            ApiKeyError::UnknownKey { key_id } => {
                ErrorReport::new(code, format!("API key {key_id} does not exist"), fname)
            }
            ApiKeyError::RateLimitsUnavailable => ErrorReport::new(
                code,
                "rate limits need the api_keys library in shared_preload_libraries",
                fname,
            )
            .set_hint(
                "Add api_keys to shared_preload_libraries in postgresql.conf and restart the server.",
            ),
            ApiKeyError::SchemaOutdated => ErrorReport::new(
                code,
                "the api_keys library is newer than this database's api_keys objects",
                fname,
            )
            .set_hint("Run ALTER EXTENSION api_keys UPDATE in this database."),
            ApiKeyError::ReadOnly { standby: true } => ErrorReport::new(
                code,
                "API keys cannot be managed on a standby",
                fname,
            )
            .set_hint("Manage keys on the primary; verification works here."),
            ApiKeyError::ReadOnly { standby: false } => ErrorReport::new(
                code,
                "API keys cannot be managed in a read-only transaction",
                fname,
            ),
        }
    }

    /// Raise this error; never returns.
    pub fn raise(self) -> ! {
        self.report().report(PgLogLevel::ERROR);
        unreachable!("ERROR-level reports do not return")
    }
}

/// `Result` shorthand for the pgrx layer.
pub type Result<T> = std::result::Result<T, ApiKeyError>;

/// Unwrap or raise: the last step of every `#[pg_extern]` that can fail.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.raise(),
        }
    }
}

/// Emit a WARNING (for example, an allowed network that allows everything).
pub fn warn(message: &str) {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_WARNING,
        message.to_string(),
        "api_keys",
    )
    .report(PgLogLevel::WARNING);
}

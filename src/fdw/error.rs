//! The wrapper's errors, each turned into the Postgres ERROR users see: SQLSTATE, message and
//! hint. Every user-facing text of the FDW's failures is here or in the entity that raises it.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Errors of the foreign data wrapper, each with its SQLSTATE.
#[derive(Debug, thiserror::Error)]
pub enum FdwError {
    #[error("unknown option \"{name}\" for {object}")]
    UnknownOption {
        name: String,
        object: &'static str,
        valid: String,
    },
    #[error("option \"{name}\" is invalid: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    #[error("option \"{0}\" is required")]
    MissingOption(&'static str),
    #[error("the foreign table has no valid \"entity\" option")]
    MissingEntity,
    #[error("column \"{column}\" is not a column of EasyCars {table}")]
    UnknownColumn { table: &'static str, column: String },
    #[error("the easycars foreign server is for dealership {server}, but this session acts for {session}")]
    WrongTenant { server: i32, session: String },
    #[error("the base_url option of an easycars_fdw server is honoured only on a server a superuser owns")]
    UntrustedBaseUrl,
    #[error("{0}")]
    Destination(crate::destination::Refused),
    #[error("a scan may push at most {limit} values of {column} to EasyCars, not {count}")]
    TooManyValues {
        column: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("the EasyCars answers of one scan exceed max_response_bytes ({limit} bytes)")]
    AnswersTooLarge { limit: u64 },
    #[error("EasyCars quotations can only be inserted, not read")]
    InsertOnly,
    #[error("{message}")]
    NeedsFilter {
        message: &'static str,
        hint: &'static str,
    },
    #[error("{0}")]
    Credentials(#[from] crate::error::EasycarsError),
    /// EasyCars' own message, which already names EasyCars.
    #[error("{0}")]
    Api(#[from] easycars_api::client::ApiError),
    #[error("all {cap} EasyCars call slots of this integrator account are busy")]
    IntegratorBusy { cap: usize },
    #[error("{0}")]
    BadRow(String),
    #[error("internal error in easycars_fdw: {0}")]
    Internal(&'static str),
}

impl FdwError {
    /// Raises this error as a Postgres ERROR.
    pub fn report(self) -> ! {
        let report: ErrorReport = self.into();
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

impl From<FdwError> for ErrorReport {
    fn from(e: FdwError) -> Self {
        use easycars_api::client::ApiError;
        use PgSqlErrorCode::*;
        if let FdwError::Credentials(inner) = e {
            return inner.into();
        }
        let message = e.to_string();
        let (code, hint): (PgSqlErrorCode, Option<String>) = match &e {
            FdwError::UnknownOption { valid, .. } => (ERRCODE_FDW_INVALID_OPTION_NAME, Some(format!("Valid options: {valid}."))),
            FdwError::InvalidOption { .. } => (ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE, None),
            FdwError::MissingOption(name) => (
                ERRCODE_FDW_OPTION_NAME_NOT_FOUND,
                Some(format!("Add it with ALTER SERVER ... OPTIONS (ADD {name} '...').")),
            ),
            FdwError::MissingEntity => (
                ERRCODE_FDW_OPTION_NAME_NOT_FOUND,
                Some("Create EasyCars foreign tables with IMPORT FOREIGN SCHEMA easycars FROM SERVER ... INTO ...;".into()),
            ),
            FdwError::UnknownColumn { .. } => (
                ERRCODE_FDW_COLUMN_NAME_NOT_FOUND,
                Some("Create EasyCars foreign tables with IMPORT FOREIGN SCHEMA, which declares every column.".into()),
            ),
            FdwError::WrongTenant { server, .. } => (
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                Some(format!("Act for that dealership with SET app.current_dealership_id = '{server}', as a role an administrator allowed to (easycars.grant_dealership).")),
            ),
            FdwError::UntrustedBaseUrl => (
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                Some("Drop the option (ALTER SERVER ... OPTIONS (DROP base_url)) to use the dealership's credentials row, or have a superuser own the server.".into()),
            ),
            FdwError::Destination(_) => (ERRCODE_INSUFFICIENT_PRIVILEGE, Some(crate::error::DESTINATION_HINT.into())),
            FdwError::TooManyValues { column, .. } => (
                ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                Some(format!("Each {column} value is one EasyCars call; query in smaller batches.")),
            ),
            FdwError::AnswersTooLarge { .. } => (ERRCODE_PROGRAM_LIMIT_EXCEEDED, Some(MAX_RESPONSE_HINT.into())),
            FdwError::InsertOnly => (ERRCODE_FEATURE_NOT_SUPPORTED, Some("EasyCars has no endpoint that reads quotations.".into())),
            FdwError::NeedsFilter { hint, .. } => (ERRCODE_FEATURE_NOT_SUPPORTED, Some((*hint).to_owned())),
            FdwError::Api(api) => match api {
                ApiError::Auth { .. } => (
                    ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                    Some("Check the dealership's credentials and environment with easycars.set_credentials().".into()),
                ),
                ApiError::Validation { .. } => (ERRCODE_FDW_ERROR, Some("EasyCars refused the request (Code 7); check the values sent.".into())),
                ApiError::Timeout { .. } | ApiError::DeadlineExceeded { .. } => (
                    ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                    Some("EasyCars did not answer in time; raise timeout_ms on the server or try later.".into()),
                ),
                ApiError::Network { .. } | ApiError::Http { .. } | ApiError::RateLimited { .. } => (
                    ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                    Some("EasyCars is unreachable or overloaded; the call was retried. Try again later.".into()),
                ),
                ApiError::TooLarge { .. } => (ERRCODE_PROGRAM_LIMIT_EXCEEDED, Some(MAX_RESPONSE_HINT.into())),
                ApiError::Redirected { .. } => (
                    ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                    Some("Redirects are never followed (they could carry the credentials elsewhere); give the API root itself, with https.".into()),
                ),
                ApiError::Warning { .. } | ApiError::System { .. } | ApiError::UnknownCode { .. } => (
                    ERRCODE_FDW_ERROR,
                    Some("EasyCars reported a problem on its side; try again later, or ask EasyCars support with the message.".into()),
                ),
                ApiError::Malformed { .. } => (
                    ERRCODE_FDW_REPLY_HANDLE,
                    Some("EasyCars answered something that is not its documented JSON; the call was retried.".into()),
                ),
                ApiError::InvalidInput { .. } => (ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE, None),
            },
            FdwError::IntegratorBusy { .. } => (
                ERRCODE_LOCK_NOT_AVAILABLE,
                Some("Other sessions are calling EasyCars with the same ClientID (see pg_locks); try later, run fewer sync workers, or have a superuser raise easycars.max_calls_per_integrator.".into()),
            ),
            FdwError::BadRow(_) => (ERRCODE_FDW_INVALID_DATA_TYPE, None),
            FdwError::Credentials(_) => unreachable!(),
            FdwError::Internal(_) => (ERRCODE_INTERNAL_ERROR, None),
        };
        let report = ErrorReport::new(code, message, "easycars_fdw");
        match hint {
            Some(h) => report.set_hint(h),
            None => report,
        }
    }
}

const MAX_RESPONSE_HINT: &str = "A superuser or the server's owner can raise the cap: ALTER SERVER ... OPTIONS (ADD max_response_bytes '1073741824'); the memory is held by this backend until the query ends.";

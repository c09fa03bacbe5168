//! The errors of the extension's SQL surface, each with its SQLSTATE, message, detail and hint.
//!
//! SECURITY: no variant carries a secret value; validation errors name the argument, never echo it.

use easycars_crypto::CryptoError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

/// Errors raised by easycars' SQL functions.
#[derive(Debug, thiserror::Error)]
pub enum EasycarsError {
    #[error("{name} must not be NULL")]
    NullArgument { name: &'static str },
    #[error("{name} is not valid: {reason}")]
    InvalidArgument {
        name: &'static str,
        reason: &'static str,
        hint: &'static str,
    },
    #[error("dealership {0} does not exist")]
    NoSuchDealership(i32),
    #[error("dealership {0} has no EasyCars credentials")]
    NoCredentials(i32),
    #[error("the EasyCars credentials of dealership {0} are deactivated")]
    Deactivated(i32),
    #[error("{0}")]
    Destination(crate::destination::Refused),
    #[error("easycars.key_file is not set")]
    KeyFileNotSet,
    #[error("the key file named by easycars.key_file is not usable: {reason}")]
    KeyFile { reason: String },
    #[error(
        "the key file named by easycars.key_file is accessible by other operating-system users"
    )]
    KeyFileMode,
    #[error("the key file named by easycars.key_file is invalid: {0}")]
    KeyRing(CryptoError),
    #[error("credentials of dealership {dealership_id} need key \"{key_id}\", which is not in the key file named by easycars.key_file")]
    MissingKey { dealership_id: i32, key_id: String },
    #[error("the {column} of dealership {dealership_id} cannot be decrypted: {source}")]
    Undecryptable {
        dealership_id: i32,
        column: &'static str,
        source: CryptoError,
    },
    #[error("{0}")]
    Spi(#[from] pgrx::spi::SpiError),
}

impl EasycarsError {
    /// Raises this error as a Postgres ERROR.
    pub fn into_report(self) -> ! {
        ErrorReport::from(self).report(pgrx::PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

impl From<CryptoError> for EasycarsError {
    fn from(e: CryptoError) -> Self {
        EasycarsError::KeyRing(e)
    }
}

const KEY_HINT: &str = "Create a key readable by the server's OS user only: install -m 600 -o postgres -g postgres /dev/null /etc/postgresql/easycars.keys; \
echo \"k1:$(head -c 32 /dev/urandom | base64)\" | sudo -u postgres tee /etc/postgresql/easycars.keys; then ALTER SYSTEM SET easycars.key_file = '/etc/postgresql/easycars.keys'; SELECT pg_reload_conf();";

/// How a superuser allows another destination for credentials.
pub const DESTINATION_HINT: &str = "Credentials go only to my.easycars.net.au and testmy.easycars.com.au over https, and to hosts a superuser lists: ALTER SYSTEM SET easycars.allowed_hosts = 'host:port'; SELECT pg_reload_conf();";

impl From<EasycarsError> for ErrorReport {
    fn from(e: EasycarsError) -> Self {
        use PgSqlErrorCode::*;
        let message = e.to_string();
        let (code, hint): (PgSqlErrorCode, Option<String>) = match &e {
            EasycarsError::NullArgument { .. } => (ERRCODE_NULL_VALUE_NOT_ALLOWED, None),
            EasycarsError::InvalidArgument { hint, .. } => (ERRCODE_INVALID_PARAMETER_VALUE, Some((*hint).to_owned())),
            EasycarsError::NoSuchDealership(id) => (
                ERRCODE_FOREIGN_KEY_VIOLATION,
                Some(format!("Create it first: INSERT INTO easycars.dealership (id, name) VALUES ({id}, '...');")),
            ),
            EasycarsError::NoCredentials(id) => (
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                Some(format!("Store them with easycars.set_credentials({id}, client_id, client_secret, account_number, account_secret).")),
            ),
            EasycarsError::Deactivated(id) => (
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                Some(format!("An administrator can reactivate them: UPDATE easycars.credentials SET is_active = true WHERE dealership_id = {id};")),
            ),
            EasycarsError::Destination(_) => (
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                Some(DESTINATION_HINT.to_owned()),
            ),
            EasycarsError::KeyFileNotSet => (ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, Some(KEY_HINT.to_owned())),
            EasycarsError::KeyFile { .. } | EasycarsError::KeyRing(_) => (ERRCODE_CONFIG_FILE_ERROR, Some(KEY_HINT.to_owned())),
            EasycarsError::KeyFileMode => (
                ERRCODE_CONFIG_FILE_ERROR,
                Some("Make it readable by the server's user only: chmod 600 <key file>.".to_owned()),
            ),
            EasycarsError::MissingKey { key_id, .. } => (
                ERRCODE_CONFIG_FILE_ERROR,
                Some(format!(
                    "Add the line for key \"{key_id}\" back to the key file (any position after the first), or store the credentials again with easycars.set_credentials()."
                )),
            ),
            EasycarsError::Undecryptable { .. } => (
                ERRCODE_DATA_CORRUPTED,
                Some("The stored value was altered or copied from another row; store the credentials again with easycars.set_credentials().".to_owned()),
            ),
            EasycarsError::Spi(_) => (ERRCODE_INTERNAL_ERROR, None),
        };
        let report = ErrorReport::new(code, message, "easycars");
        match hint {
            Some(h) => report.set_hint(h),
            None => report,
        }
    }
}

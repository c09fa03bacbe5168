//! EasyCars credentials: validated, encrypted with the key file's current key, and decrypted only
//! inside the extension. No SQL function returns a plaintext secret.

use crate::crypto::keyring;
use crate::error::EasycarsError;
use easycars_crypto::{envelope_key_id, Keyring};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use zeroize::Zeroizing;

/// The four encrypted columns, in table order; the names are also the associated data.
const SECRET_COLUMNS: [&str; 4] = [
    "client_id",
    "client_secret",
    "account_number",
    "account_secret",
];

/// A dealership's decrypted credentials; the secrets are zeroed when dropped.
pub struct Credentials {
    pub dealership_id: i32,
    pub client_id: Zeroizing<String>,
    pub client_secret: Zeroizing<String>,
    pub account_number: Zeroizing<String>,
    pub account_secret: Zeroizing<String>,
    pub environment: String,
    pub yard_code: Option<String>,
    pub base_url: Option<String>,
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, EasycarsError> {
    value.ok_or(EasycarsError::NullArgument { name })
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check_guid(value: &str, name: &'static str) -> Result<(), EasycarsError> {
    if is_guid(value) {
        Ok(())
    } else {
        Err(EasycarsError::InvalidArgument {
            name,
            reason: "expected a GUID of 8-4-4-4-12 hexadecimal digits",
            hint:
                "Copy it exactly as EasyCars issued it, e.g. AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE.",
        })
    }
}

fn check_account_number(value: &str) -> Result<(), EasycarsError> {
    let digits = value.strip_prefix("EC").unwrap_or("");
    if !digits.is_empty() && value.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(EasycarsError::InvalidArgument {
            name: "account_number",
            reason: "expected EC followed by digits, at most 20 characters",
            hint: "EasyCars dealer account numbers look like EC114575.",
        })
    }
}

fn canonical_environment(value: &str) -> Result<&'static str, EasycarsError> {
    match value.to_ascii_lowercase().as_str() {
        "test" => Ok("Test"),
        "production" => Ok("Production"),
        _ => Err(EasycarsError::InvalidArgument {
            name: "environment",
            reason: "expected Test or Production",
            hint: "Test uses testmy.easycars.com.au, Production my.easycars.net.au; each has its own credentials.",
        }),
    }
}

fn check_yard_code(value: &str) -> Result<(), EasycarsError> {
    if !value.trim().is_empty()
        && value.chars().count() <= 50
        && !value.chars().any(char::is_control)
    {
        Ok(())
    } else {
        Err(EasycarsError::InvalidArgument {
            name: "yard_code",
            reason: "expected 1 to 50 printable characters",
            hint: "Pass NULL to list stock from every yard.",
        })
    }
}

/// Whether `value` can be an EasyCars API root: http(s), a host, no user info, query or fragment,
/// no whitespace or control characters, at most 2000 bytes. Shared by `set_credentials` and the
/// `base_url` server option.
pub fn is_safe_base_url(value: &str) -> bool {
    let host = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    value.len() <= 2000
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && !value.contains(['?', '#'])
        // SECURITY: credentials belong in easycars.credentials, never inside a URL (or an option
        // every role can read).
        && host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
}

fn check_base_url(value: &str) -> Result<(), EasycarsError> {
    if is_safe_base_url(value) {
        Ok(())
    } else {
        Err(EasycarsError::InvalidArgument {
            name: "base_url",
            reason: "expected an http:// or https:// URL without user info, query or fragment",
            hint: "Give the API root, e.g. https://my.easycars.net.au/ECService or http://127.0.0.1:8080/ECService; NULL uses the environment's.",
        })
    }
}

/// `EC114575` becomes `EC****75`: enough to recognise an account, not to use it.
fn mask_account_number(account_number: &str) -> String {
    let digits = &account_number[2..];
    let shown = if digits.len() >= 4 {
        &digits[digits.len() - 2..]
    } else {
        ""
    };
    format!("EC{}{}", "*".repeat(digits.len() - shown.len()), shown)
}

/// Stores (or replaces) the EasyCars credentials of a dealership, encrypted.
#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
#[allow(clippy::too_many_arguments)]
fn set_credentials(
    dealership_id: Option<i32>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    account_number: Option<&str>,
    account_secret: Option<&str>,
    environment: default!(Option<&str>, "'Production'"),
    yard_code: default!(Option<&str>, "NULL"),
    base_url: default!(Option<&str>, "NULL"),
) -> Result<(), ErrorReport> {
    store(
        dealership_id,
        [client_id, client_secret, account_number, account_secret],
        environment,
        yard_code,
        base_url,
    )?;
    Ok(())
}

/// Validates, encrypts and upserts one dealership's credentials (for `set_credentials` and the
/// `credentials_input` trigger, both running with the owner's rights).
fn store(
    dealership_id: Option<i32>,
    secrets: [Option<&str>; 4],
    environment: Option<&str>,
    yard_code: Option<&str>,
    base_url: Option<&str>,
) -> Result<(), EasycarsError> {
    let dealership_id = dealership_id.ok_or(EasycarsError::NullArgument {
        name: "dealership_id",
    })?;
    let secrets = [
        required(secrets[0], "client_id")?,
        required(secrets[1], "client_secret")?,
        required(secrets[2], "account_number")?,
        required(secrets[3], "account_secret")?,
    ];
    check_guid(secrets[0], "client_id")?;
    check_guid(secrets[1], "client_secret")?;
    check_account_number(secrets[2])?;
    check_guid(secrets[3], "account_secret")?;
    let environment = canonical_environment(required(environment, "environment")?)?;
    if let Some(y) = yard_code {
        check_yard_code(y)?;
    }
    if let Some(u) = base_url {
        check_base_url(u)?;
        crate::destination::check(u).map_err(EasycarsError::Destination)?;
    }
    let exists = Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM easycars.dealership WHERE id = $1)",
        &[dealership_id.into()],
    )?;
    if exists != Some(true) {
        return Err(EasycarsError::NoSuchDealership(dealership_id));
    }

    let keys = keyring()?;
    let envelopes: Vec<_> = SECRET_COLUMNS
        .iter()
        .zip(secrets)
        .map(|(column, plain)| keys.encrypt(dealership_id, column, plain))
        .collect();
    let nonces = envelopes
        .iter()
        .map(|e| e.nonce.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let masked = mask_account_number(secrets[2]);
    // SECURITY: secrets travel as parameters only, so they never appear in SQL text or logs.
    let args: Vec<DatumWithOid> = vec![
        dealership_id.into(),
        envelopes[0].text.as_str().into(),
        envelopes[1].text.as_str().into(),
        envelopes[2].text.as_str().into(),
        envelopes[3].text.as_str().into(),
        nonces.as_str().into(),
        masked.as_str().into(),
        environment.into(),
        yard_code.into(),
        base_url.into(),
    ];
    Spi::run_with_args(
        "INSERT INTO easycars.credentials AS c (dealership_id, client_id_encrypted, client_secret_encrypted, \
             account_number_encrypted, account_secret_encrypted, encryption_iv, account_number_masked, \
             environment, yard_code, base_url, is_active) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true) \
         ON CONFLICT (dealership_id) DO UPDATE SET \
             client_id_encrypted = EXCLUDED.client_id_encrypted, \
             client_secret_encrypted = EXCLUDED.client_secret_encrypted, \
             account_number_encrypted = EXCLUDED.account_number_encrypted, \
             account_secret_encrypted = EXCLUDED.account_secret_encrypted, \
             encryption_iv = EXCLUDED.encryption_iv, \
             account_number_masked = EXCLUDED.account_number_masked, \
             environment = EXCLUDED.environment, yard_code = EXCLUDED.yard_code, \
             base_url = EXCLUDED.base_url, is_active = true",
        &args,
    )?;
    Ok(())
}

/// While alive, no error context of the caller is added to a report: `COPY` adds the line it is
/// reading (the secrets) to every message raised while a row is processed. Restored when dropped
/// normally; an ERROR unwinding through it leaves the context empty for the report that pgrx
/// raises at the function's boundary, after which PostgreSQL's error recovery restores the
/// context of whoever catches it (every `PG_TRY` saves and restores it).
struct NoCallerErrorContext(*mut pg_sys::ErrorContextCallback);

impl NoCallerErrorContext {
    fn enter() -> Self {
        // SAFETY: error_context_stack is the backend's global callback list; we hold the only
        // reference to its previous head and put it back (or leave it to error recovery).
        unsafe {
            let saved = pg_sys::error_context_stack;
            pg_sys::error_context_stack = std::ptr::null_mut();
            NoCallerErrorContext(saved)
        }
    }
}

impl Drop for NoCallerErrorContext {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: restores the head saved by enter(), which is still live: its owner (the
            // COPY in progress) is a caller of this function.
            unsafe { pg_sys::error_context_stack = self.0 };
        }
    }
}

/// `BEFORE INSERT` trigger of `easycars.credentials_input`: stores each row's credentials as
/// `set_credentials` would and keeps no row. Made for `COPY ... FROM STDIN`, whose data reaches
/// no statement log, statistics view or `pg_stat_activity`; errors name the argument and, unlike
/// COPY's own, never quote the line.
#[pg_trigger]
fn _credentials_input_store<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, ErrorReport> {
    let _quiet = NoCallerErrorContext::enter();
    let stored = (|| -> Result<(), EasycarsError> {
        let row = trigger.new().ok_or(EasycarsError::NullArgument {
            name: "the new row",
        })?;
        let text = |name: &'static str| -> Result<Option<Zeroizing<String>>, EasycarsError> {
            row.get_by_name::<String>(name)
                .map(|v| v.map(Zeroizing::new))
                .map_err(|_| EasycarsError::NullArgument { name })
        };
        let dealership_id =
            row.get_by_name::<i32>("dealership_id")
                .map_err(|_| EasycarsError::NullArgument {
                    name: "dealership_id",
                })?;
        let [client_id, client_secret, account_number, account_secret] = [
            text("client_id")?,
            text("client_secret")?,
            text("account_number")?,
            text("account_secret")?,
        ];
        let (environment, yard_code, base_url) =
            (text("environment")?, text("yard_code")?, text("base_url")?);
        store(
            dealership_id,
            [
                client_id.as_deref().map(String::as_str),
                client_secret.as_deref().map(String::as_str),
                account_number.as_deref().map(String::as_str),
                account_secret.as_deref().map(String::as_str),
            ],
            Some(environment.as_deref().map_or("Production", String::as_str)),
            yard_code.as_deref().map(String::as_str),
            base_url.as_deref().map(String::as_str),
        )
    })();
    if let Err(e) = stored {
        // Raised here, inside the quiet context, rather than returned to pgrx.
        ErrorReport::from(e).report(PgLogLevel::ERROR);
    }
    Ok(None)
}

/// One stored credentials row, still encrypted.
struct StoredRow {
    dealership_id: i32,
    envelopes: [String; 4],
    environment: String,
    yard_code: Option<String>,
    base_url: Option<String>,
    is_active: bool,
}

fn stored_rows(only: Option<i32>, for_update: bool) -> Result<Vec<StoredRow>, EasycarsError> {
    let sql = format!(
        "SELECT dealership_id, client_id_encrypted, client_secret_encrypted, account_number_encrypted, \
                account_secret_encrypted, environment::text, yard_code::text, base_url, is_active \
         FROM easycars.credentials WHERE $1::int IS NULL OR dealership_id = $1 ORDER BY dealership_id{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    Spi::connect_mut(|client| {
        let mut rows = Vec::new();
        for row in client.update(sql.as_str(), None, &[only.into()])? {
            let text = |i: usize| -> Result<String, pgrx::spi::SpiError> {
                Ok(row.get::<String>(i)?.unwrap_or_default())
            };
            rows.push(StoredRow {
                dealership_id: row.get::<i32>(1)?.unwrap_or_default(),
                envelopes: [text(2)?, text(3)?, text(4)?, text(5)?],
                environment: text(6)?,
                yard_code: row.get::<String>(7)?,
                base_url: row.get::<String>(8)?,
                is_active: row.get::<bool>(9)?.unwrap_or(false),
            });
        }
        Ok::<_, pgrx::spi::SpiError>(rows)
    })
    .map_err(EasycarsError::from)
}

fn decrypt_row(keys: &Keyring, row: &StoredRow) -> Result<[Zeroizing<String>; 4], EasycarsError> {
    let open = |i: usize| -> Result<Zeroizing<String>, EasycarsError> {
        let column = SECRET_COLUMNS[i];
        keys.decrypt(row.dealership_id, column, &row.envelopes[i])
            .map_err(|source| match source {
                easycars_crypto::CryptoError::UnknownKey(key_id) => EasycarsError::MissingKey {
                    dealership_id: row.dealership_id,
                    key_id,
                },
                source @ (easycars_crypto::CryptoError::NoKeys
                | easycars_crypto::CryptoError::BadKeyLine { .. }
                | easycars_crypto::CryptoError::DuplicateKeyId(_)
                | easycars_crypto::CryptoError::Malformed
                | easycars_crypto::CryptoError::Tampered
                | easycars_crypto::CryptoError::NotUtf8) => EasycarsError::Undecryptable {
                    dealership_id: row.dealership_id,
                    column,
                    source,
                },
            })
    };
    Ok([open(0)?, open(1)?, open(2)?, open(3)?])
}

/// Decrypts a dealership's credentials for the extension's own API calls. Runs with the caller's
/// rights: only SECURITY DEFINER entry points of the extension can reach the encrypted columns.
pub fn load(dealership_id: i32) -> Result<Credentials, EasycarsError> {
    let row = stored_rows(Some(dealership_id), false)?
        .into_iter()
        .next()
        .ok_or(EasycarsError::NoCredentials(dealership_id))?;
    // Deactivated credentials are dead for every use: syncs, scans and writes alike.
    if !row.is_active {
        return Err(EasycarsError::Deactivated(dealership_id));
    }
    let [client_id, client_secret, account_number, account_secret] =
        decrypt_row(&*keyring()?, &row)?;
    Ok(Credentials {
        dealership_id,
        client_id,
        client_secret,
        account_number,
        account_secret,
        environment: row.environment,
        yard_code: row.yard_code,
        base_url: row.base_url,
    })
}

/// Re-encrypts every credential not yet under the key file's first key; returns how many rows changed.
#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn rotate_encryption_key() -> Result<i32, ErrorReport> {
    let keys = keyring()?;
    let current = keys.current_key_id().to_owned();
    let mut changed = 0;
    for row in stored_rows(None, true)? {
        if row
            .envelopes
            .iter()
            .all(|e| envelope_key_id(e) == Ok(current.as_str()))
        {
            continue;
        }
        let plain = decrypt_row(&keys, &row)?;
        let fresh: Vec<_> = SECRET_COLUMNS
            .iter()
            .zip(plain.iter())
            .map(|(column, p)| keys.encrypt(row.dealership_id, column, p))
            .collect();
        let nonces = fresh
            .iter()
            .map(|e| e.nonce.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Spi::run_with_args(
            "UPDATE easycars.credentials SET client_id_encrypted = $2, client_secret_encrypted = $3, \
                 account_number_encrypted = $4, account_secret_encrypted = $5, encryption_iv = $6 \
             WHERE dealership_id = $1",
            &[
                row.dealership_id.into(),
                fresh[0].text.as_str().into(),
                fresh[1].text.as_str().into(),
                fresh[2].text.as_str().into(),
                fresh[3].text.as_str().into(),
                nonces.as_str().into(),
            ],
        )
        .map_err(EasycarsError::from)?;
        changed += 1;
    }
    Ok(changed)
}

/// Checks that the stored credentials decrypt with the current key file, without revealing them.
#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
// pgrx reads the TableIterator type from the signature itself, so it cannot be an alias.
#[allow(clippy::type_complexity)]
fn verify_credentials(
    dealership_id: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(dealership_id, i32),
            name!(key_ids, Vec<String>),
            name!(decryptable, bool),
            name!(problem, Option<String>),
        ),
    >,
    ErrorReport,
> {
    let keys = keyring()?;
    let mut out = Vec::new();
    for row in stored_rows(dealership_id, false)? {
        let mut ids: Vec<String> = row
            .envelopes
            .iter()
            .map(|e| envelope_key_id(e).unwrap_or("?").to_owned())
            .collect();
        ids.dedup();
        let problem = decrypt_row(&keys, &row).err().map(|e| e.to_string());
        out.push((row.dealership_id, ids, problem.is_none(), problem));
    }
    Ok(TableIterator::new(out))
}

/// Decrypts a dealership's credentials for the foreign data wrapper, which runs with the rights of
/// whoever queries a foreign table: the encrypted row is read as the extension owner, the way a
/// `SECURITY DEFINER ... SET search_path = pg_catalog, pg_temp` function would read it, and with
/// `SECURITY_RESTRICTED_OPERATION` (see [`crate::security::as_extension_owner`]).
pub fn load_as_owner(dealership_id: i32) -> Result<Credentials, EasycarsError> {
    crate::security::as_extension_owner(|| load(dealership_id))
        .unwrap_or(Err(EasycarsError::NoCredentials(dealership_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_account_numbers_and_environments() {
        assert!(is_guid("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"));
        assert!(is_guid("0f0e0d0c-1111-2222-3333-444455556666"));
        for bad in [
            "",
            "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEE",
            "AAAAAAAA-BBBB-CCCC-DDDD",
            "GAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
        assert!(check_account_number("EC114575").is_ok());
        for bad in [
            "EC",
            "114575",
            "ec114575",
            "EC11457X",
            "EC123456789012345678901",
        ] {
            assert!(check_account_number(bad).is_err(), "{bad}");
        }
        assert_eq!(canonical_environment("test").ok(), Some("Test"));
        assert_eq!(canonical_environment("PRODUCTION").ok(), Some("Production"));
        assert!(canonical_environment("staging").is_err());
    }

    #[test]
    fn masking_shows_two_digits_at_most() {
        assert_eq!(mask_account_number("EC114575"), "EC****75");
        assert_eq!(mask_account_number("EC123"), "EC***");
    }

    #[test]
    fn base_urls_without_user_info_query_or_fragment() {
        assert!(is_safe_base_url("https://my.easycars.net.au/ECService"));
        assert!(is_safe_base_url("http://127.0.0.1:8080/TestECService"));
        for bad in [
            "ftp://x",
            "https://u:p@h/x",
            "https://h/x?a=1",
            "https://h/x#f",
            "https:// h",
            "https://",
        ] {
            assert!(!is_safe_base_url(bad), "{bad}");
        }
    }
}

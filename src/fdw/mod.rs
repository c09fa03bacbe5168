//! The `easycars_fdw` foreign data wrapper: EasyCars stock, leads, contacts and quotations as
//! foreign tables. Scans use our own plan-safe callbacks (see `scan`); handler, validator,
//! `IMPORT FOREIGN SCHEMA` and the write path come from supabase-wrappers.

pub mod catalog;
pub mod fetch;
pub mod jsonb;
pub mod modify;
pub mod options;
pub mod runtime;
pub mod scan;
pub mod write;

use catalog::Entity;
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::collections::HashMap;
use supabase_wrappers::prelude::*;

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

/// Default of `max_response_bytes`: one EasyCars answer, and all answers one scan holds.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;

/// A foreign server's settings, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub dealership_id: i32,
    pub base_url: Option<String>,
    pub timeout_ms: u64,
    pub max_retries: u32,
    pub concurrency: usize,
    /// The most bytes one EasyCars answer may have, and all answers one scan holds together.
    pub max_response_bytes: u64,
    /// Whether a superuser owns the server: only then is its `base_url` option honoured, since
    /// the server's owner chooses where the dealership's decrypted credentials are sent.
    pub owner_is_superuser: bool,
}

impl ServerConfig {
    pub fn from_options(opts: &HashMap<String, String>) -> Result<ServerConfig, FdwError> {
        let o = options::Options::new(options::SERVER, opts, "an easycars_fdw server")?;
        Ok(ServerConfig {
            dealership_id: o.int("dealership_id")? as i32,
            base_url: o.base_url("base_url")?,
            timeout_ms: o.int("timeout_ms")?,
            max_retries: o.int("max_retries")? as u32,
            concurrency: o.int("concurrency")? as usize,
            max_response_bytes: o.int("max_response_bytes")?,
            owner_is_superuser: false,
        })
    }

    /// The settings of a foreign server, and whether a superuser owns it.
    pub fn for_server(server_oid: pg_sys::Oid) -> Result<ServerConfig, FdwError> {
        // SAFETY: GetForeignServer raises a normal ERROR for an unknown OID and otherwise
        // returns a palloc'd copy of the catalog row, valid for this call.
        let (options, owner) = unsafe {
            let server = pg_sys::GetForeignServer(server_oid);
            (options_map((*server).options), (*server).owner)
        };
        let mut config = ServerConfig::from_options(&options)?;
        config.owner_is_superuser = crate::security::is_superuser(owner);
        Ok(config)
    }

    /// The settings of the server behind a foreign table.
    pub fn for_table(ftable_oid: pg_sys::Oid) -> Result<ServerConfig, FdwError> {
        // SAFETY: as for_server; the foreign table's OID comes from an open relation.
        let server_oid = unsafe { (*pg_sys::GetForeignTable(ftable_oid)).serverid };
        ServerConfig::for_server(server_oid)
    }

    /// SECURITY: foreign tables have no RLS, so the tenant rule is enforced here: superusers and
    /// easycars_admin members pass; anyone else must act for the server's dealership, which
    /// [`crate::tenant::current`] grants only to roles allowed to.
    pub fn check_tenant(&self) -> Result<(), FdwError> {
        if crate::security::is_admin(crate::security::current_role())
            || crate::tenant::current() == Some(self.dealership_id)
        {
            return Ok(());
        }
        Err(FdwError::WrongTenant {
            server: self.dealership_id,
            session: match crate::tenant::setting().filter(|s| !s.is_empty()) {
                None => "no dealership".into(),
                Some(s) if crate::tenant::selected() == Some(self.dealership_id) => {
                    format!("{s}, which this role is not allowed to act for")
                }
                Some(s) => s,
            },
        })
    }
}

/// A catalog options list (`DefElem`s) as a map.
unsafe fn options_map(list: *mut pg_sys::List) -> HashMap<String, String> {
    // SAFETY: callers pass the `options` of a ForeignServer or ForeignTable that GetForeignServer
    // or GetForeignTable just returned: a List of DefElem, palloc'd and alive for the call. Each
    // `defname` is a NUL-terminated string, and defGetString returns one (or raises an ERROR for
    // an option without a value); both are copied at once. Backend thread, where pgrx's FFI guard
    // turns an ERROR into an unwind up to the calling callback's #[pg_guard].
    unsafe {
        pgrx::PgList::<pg_sys::DefElem>::from_pg(list)
            .iter_ptr()
            .map(|def| {
                let name = std::ffi::CStr::from_ptr((*def).defname)
                    .to_string_lossy()
                    .into_owned();
                let value = std::ffi::CStr::from_ptr(pg_sys::defGetString(def))
                    .to_string_lossy()
                    .into_owned();
                (name, value)
            })
            .collect()
    }
}

/// A foreign table's options.
///
/// # Safety
/// `ftable_oid` must be the OID of an existing foreign table (the catalog lookup errors otherwise).
pub unsafe fn table_options(ftable_oid: pg_sys::Oid) -> HashMap<String, String> {
    // SAFETY: `ftable_oid` names a foreign table (the contract above); GetForeignTable returns a
    // palloc'd ForeignTable (or raises an ERROR, which pgrx's FFI guard turns into an unwind),
    // and its `options` is the DefElem List options_map expects.
    unsafe { options_map((*pg_sys::GetForeignTable(ftable_oid)).options) }
}

/// The wrapper instance the framework creates per server, for `IMPORT FOREIGN SCHEMA`.
#[wrappers_fdw(
    version = "0.3.0",
    author = "easycars",
    website = "https://github.com/easycars/easycars",
    error_type = "FdwError"
)]
pub struct EasycarsFdw {}

impl ForeignDataWrapper<FdwError> for EasycarsFdw {
    fn new(server: ForeignServer) -> Result<Self, FdwError> {
        // The server's options are checked here too (IMPORT FOREIGN SCHEMA); scans and writes
        // read them again themselves, so a cached plan always sees the current ones.
        ServerConfig::for_server(server.server_oid)?;
        Ok(EasycarsFdw {})
    }

    // Scans never reach these: `fdw_routine_hook` replaces every scan callback with ours.
    fn begin_scan(
        &mut self,
        _: &[Qual],
        _: &[Column],
        _: &[Sort],
        _: &Option<Limit>,
        _: &HashMap<String, String>,
    ) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework scan path called"))
    }

    fn iter_scan(&mut self, _row: &mut Row) -> Result<Option<()>, FdwError> {
        Err(FdwError::Internal("framework scan path called"))
    }

    fn end_scan(&mut self) -> Result<(), FdwError> {
        Ok(())
    }

    // Writes never reach these either: `fdw_routine_hook` installs our own write callbacks
    // (see `write`), which can return what EasyCars created and free everything on ERROR.
    fn begin_modify(&mut self, _options: &HashMap<String, String>) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn insert(&mut self, _row: &Row) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn update(&mut self, _rowid: &Cell, _new_row: &Row) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn delete(&mut self, _rowid: &Cell) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn end_modify(&mut self) -> Result<(), FdwError> {
        Ok(())
    }

    fn import_foreign_schema(
        &mut self,
        stmt: ImportForeignSchemaStmt,
    ) -> Result<Vec<String>, FdwError> {
        if stmt.remote_schema != "easycars" {
            return Err(FdwError::InvalidOption {
                name: "remote schema",
                reason: format!(
                    "EasyCars offers schema \"easycars\", not \"{}\"",
                    stmt.remote_schema
                ),
            });
        }
        let wanted = |e: Entity| match stmt.list_type {
            ImportSchemaType::FdwImportSchemaAll => true,
            ImportSchemaType::FdwImportSchemaLimitTo => {
                stmt.table_list.iter().any(|t| t == e.name())
            }
            ImportSchemaType::FdwImportSchemaExcept => {
                !stmt.table_list.iter().any(|t| t == e.name())
            }
        };
        Ok(Entity::ALL
            .into_iter()
            .filter(|e| wanted(*e))
            .map(|e| e.create_statement(&stmt.local_schema, &stmt.server_name))
            .collect())
    }

    fn validator(
        options: Vec<Option<String>>,
        catalog: Option<pg_sys::Oid>,
    ) -> Result<(), FdwError> {
        let opts: HashMap<String, String> = options
            .into_iter()
            .flatten()
            .filter_map(|o| o.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        match catalog {
            Some(oid) if oid == pg_sys::ForeignServerRelationId => {
                ServerConfig::from_options(&opts).map(|_| ())
            }
            Some(oid) if oid == pg_sys::ForeignTableRelationId => {
                let o =
                    options::Options::new(options::TABLE, &opts, "an easycars_fdw foreign table")?;
                let entity = o.text("entity").ok_or(FdwError::MissingOption("entity"))?;
                let entity = Entity::from_name(entity).ok_or_else(|| FdwError::InvalidOption {
                    name: "entity",
                    reason: "expected stock, leads, contacts or quotations".into(),
                })?;
                match (o.text("rowid_column"), entity.rowid_column()) {
                    (None, _) => Ok(()),
                    (Some(r), Some(expected)) if r == expected => Ok(()),
                    (Some(_), expected) => Err(FdwError::InvalidOption {
                        name: "rowid_column",
                        reason: match expected {
                            Some(c) => format!("must be {c} for {}", entity.name()),
                            None => format!("{} cannot be written", entity.name()),
                        },
                    }),
                }
            }
            // SECURITY: user mappings would be the natural home of secrets, and their options are
            // readable in the catalogs; credentials live encrypted in easycars.credentials instead.
            Some(oid) if oid == pg_sys::UserMappingRelationId => match opts.keys().next() {
                Some(name) => Err(FdwError::UnknownOption {
                    name: name.clone(),
                    object: "an easycars_fdw user mapping",
                    valid: "none (credentials are stored with easycars.set_credentials())".into(),
                }),
                None => Ok(()),
            },
            _ => match opts.keys().next() {
                Some(name) => Err(FdwError::UnknownOption {
                    name: name.clone(),
                    object: "the easycars_fdw wrapper",
                    valid: "none".into(),
                }),
                None => Ok(()),
            },
        }
    }

    fn fdw_routine_hook(routine: &mut pgrx::PgBox<pg_sys::FdwRoutine, pgrx::AllocatedByRust>) {
        scan::install(routine);
        write::install(routine);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT
        || event == pg_sys::XactEvent::XACT_EVENT_COMMIT
        || event == pg_sys::XactEvent::XACT_EVENT_PARALLEL_COMMIT
    {
        scan::release_on_abort(None);
        fetch::forget_answers();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        scan::release_on_abort(Some(my_subid));
    }
}

/// Frees scan state that an aborted (sub)transaction left behind: Postgres does not call
/// EndForeignScan on error, so without this every failed scan would leak its fetched rows.
pub fn register_cleanup() {
    // SAFETY: called once, from _PG_init when the library loads, on the backend thread inside
    // its #[pg_guard]. on_xact and on_subxact are functions of the callback types that stay loaded as
    // long as the backend (Postgres never unloads a library), and they ignore `arg`, so NULL is
    // fine. The registrations are allocated in TopMemoryContext.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

/// `CREATE FOREIGN TABLE` text for one entity, as `IMPORT FOREIGN SCHEMA` would write it, under
/// another name; the sync functions use it for their internal per-dealership tables.
#[pg_extern(immutable, parallel_safe)]
fn _foreign_table_ddl(
    entity: &str,
    table_schema: &str,
    table_name: &str,
    server: &str,
) -> Result<String, ErrorReport> {
    let entity = Entity::from_name(entity).ok_or_else(|| FdwError::InvalidOption {
        name: "entity",
        reason: "expected stock, leads, contacts or quotations".into(),
    })?;
    Ok(entity.create_statement_named(table_schema, table_name, server))
}

/// How many scan and write states this backend holds now; both are 0 between statements, also
/// after a statement an ERROR or a cancel stopped (for the tests, and for diagnostics).
#[pg_extern(volatile, parallel_safe)]
fn _fdw_live_states() -> TableIterator<'static, (name!(scans, i64), name!(writes, i64))> {
    TableIterator::once((
        scan::live_count() as i64,
        write::LIVE_WRITES.load(std::sync::atomic::Ordering::Relaxed) as i64,
    ))
}

/// Whether the FDW's `jsonb` encoder (`easycars-jsonb`) builds exactly `jsonb_in`'s bytes for a
/// document: `same`, `fallback` (the encoder leaves it to `jsonb_in`) or where they differ.
/// For tests and diagnostics; raises `jsonb_in`'s error for text that is not valid jsonb.
#[pg_extern(immutable, parallel_safe, strict)]
fn _jsonb_encoder_check(json: &str) -> String {
    let Some(ours) = easycars_jsonb::encode(json) else {
        return "fallback".into();
    };
    // SAFETY: via_jsonb_in returns jsonb_in's result: a fresh, untoasted jsonb varlena palloc'd in
    // the current memory context, which is not reset before this function returns. varsize_any
    // reads its header, and the slice covers exactly that allocation and is only read. Backend
    // thread, inside the #[pg_extern] function's guard.
    let theirs = unsafe {
        let p = jsonb::via_jsonb_in(json).cast_mut_ptr::<pg_sys::varlena>();
        std::slice::from_raw_parts(p as *const u8, pgrx::varsize_any(p))
    };
    match ours.iter().zip(theirs).position(|(a, b)| a != b) {
        None if ours.len() == theirs.len() => "same".into(),
        at => format!(
            "differs at byte {} (ours {} bytes, jsonb_in {})",
            at.unwrap_or(ours.len().min(theirs.len())),
            ours.len(),
            theirs.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn server_options_parse_with_defaults() {
        let c = ServerConfig::from_options(&options(&[("dealership_id", "7")])).unwrap();
        assert_eq!(
            (c.dealership_id, c.timeout_ms, c.max_retries, c.concurrency),
            (7, 30_000, 3, 16)
        );
        assert_eq!(c.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert!(!c.owner_is_superuser);
        let c = ServerConfig::from_options(&options(&[
            ("dealership_id", "1"),
            ("timeout_ms", "600000"),
            ("max_response_bytes", "1024"),
        ]))
        .unwrap();
        assert_eq!((c.timeout_ms, c.max_response_bytes), (600_000, 1024));
    }

    #[test]
    fn bad_server_options_are_refused_by_name() {
        for (pairs, expect) in [
            (vec![], "dealership_id"),
            (vec![("dealership_id", "0")], "dealership_id"),
            (
                vec![("dealership_id", "1"), ("timeout_ms", "99")],
                "timeout_ms",
            ),
            (
                vec![("dealership_id", "1"), ("max_response_bytes", "1")],
                "max_response_bytes",
            ),
            (
                vec![("dealership_id", "1"), ("base_url", "https://u@h/")],
                "base_url",
            ),
            (
                vec![("dealership_id", "1"), ("client_secret", "x")],
                "client_secret",
            ),
        ] {
            let err = ServerConfig::from_options(&options(&pairs)).unwrap_err();
            assert!(err.to_string().contains(expect), "{err}");
        }
    }

    #[test]
    fn identifiers_are_quoted_unless_plain() {
        assert_eq!(catalog::quote_ident("stock"), "stock");
        assert_eq!(catalog::quote_ident("Stock"), "\"Stock\"");
        assert_eq!(catalog::quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(catalog::quote_ident("1x"), "\"1x\"");
    }
}

//! A foreign server's settings (`ServerConfig`, read again for every scan and write so a cached
//! plan always sees the current ones), the tenant rule for foreign tables, and the catalog's
//! options lists as maps.

use super::entities::Entity;
use super::error::FdwError;
use super::options;
use pgrx::pg_sys;
use std::collections::HashMap;

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

/// The entity of a foreign table (its `entity` option).
///
/// # Safety
/// As [`table_options`]: `ftable_oid` must be the OID of an existing foreign table.
pub unsafe fn table_entity(ftable_oid: pg_sys::Oid) -> Result<Entity, FdwError> {
    // SAFETY: the caller's contract is table_options's.
    let opts = unsafe { table_options(ftable_oid) };
    opts.get("entity")
        .and_then(|e| Entity::from_name(e))
        .ok_or(FdwError::MissingEntity)
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
}

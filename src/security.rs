//! Raising rights safely: the one place where easycars' Rust code acts as the extension owner.
//!
//! PostgreSQL runs a `SECURITY DEFINER ... SET search_path = pg_catalog, pg_temp` function by
//! switching the user id and pinning `search_path` in a new GUC nest level for the duration of
//! the call (`fmgr_security_definer`), and runs maintenance commands (VACUUM, REFRESH, index
//! builds) with `SECURITY_RESTRICTED_OPERATION` so that no code reachable from the caller's
//! objects can change session state. [`as_extension_owner`] does both, so SQL run inside it can
//! only resolve names in `pg_catalog` (types, functions, operators; `pg_temp` is searched last
//! and never for functions or operators) and every query it runs names its objects in full.

use pgrx::pg_sys;
use pgrx::prelude::*;

/// The `search_path` every raised-rights path runs under.
pub const PINNED_SEARCH_PATH: &std::ffi::CStr = c"pg_catalog, pg_temp";

/// Undoes what [`as_extension_owner`] or [`with_pinned_search_path`] set up, also when a
/// Postgres ERROR or a Rust panic unwinds through it.
struct Restore {
    nest_level: std::ffi::c_int,
    identity: Option<(pg_sys::Oid, std::ffi::c_int)>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: both calls only restore state this guard saved in this backend; AtEOXact_GUC
        // with isCommit = false pops exactly the nest level we pushed (and any above it), which
        // is what a (sub)transaction abort would do anyway. Neither raises an ERROR.
        unsafe {
            pg_sys::AtEOXact_GUC(false, self.nest_level);
            if let Some((user, context)) = self.identity {
                pg_sys::SetUserIdAndSecContext(user, context);
            }
        }
    }
}

/// Pushes a GUC nest level with `search_path` pinned to [`PINNED_SEARCH_PATH`].
fn pin_search_path() -> std::ffi::c_int {
    // SAFETY: plain calls into the GUC machinery, as fmgr_security_definer makes them; the value
    // is a valid search_path, so set_config_option cannot fail on it (and would raise a normal
    // ERROR, caught by pgrx's FFI guard, if it did).
    unsafe {
        let nest_level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            PINNED_SEARCH_PATH.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        nest_level
    }
}

/// Runs `f` with `search_path` pinned to `pg_catalog, pg_temp` (with the caller's rights).
pub fn with_pinned_search_path<T>(f: impl FnOnce() -> T) -> T {
    let _restore = Restore {
        nest_level: pin_search_path(),
        identity: None,
    };
    f()
}

/// The role that owns the easycars extension (the superuser who created it).
pub fn extension_owner() -> Option<pg_sys::Oid> {
    with_pinned_search_path(|| {
        Spi::get_one::<pg_sys::Oid>(
            "SELECT e.extowner FROM pg_catalog.pg_extension e \
             WHERE e.extname OPERATOR(pg_catalog.=) 'easycars'::pg_catalog.name",
        )
        .ok()
        .flatten()
    })
}

/// Runs `f` as the extension owner: the user id switched (`SECURITY_LOCAL_USERID_CHANGE`), no
/// session state changeable (`SECURITY_RESTRICTED_OPERATION`: no temporary objects, no `SET ROLE`,
/// no `RESET`), `search_path` pinned to `pg_catalog, pg_temp`; all undone when `f` returns or
/// unwinds. `f` must run only fully-qualified SQL that names no object the caller can create.
pub fn as_extension_owner<T>(f: impl FnOnce() -> T) -> Option<T> {
    let owner = extension_owner()?;
    let (mut user, mut context) = (pg_sys::InvalidOid, 0);
    // SAFETY: reads the backend's current identity into two locals.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut user, &mut context) };
    let nest_level = pin_search_path();
    let _restore = Restore {
        nest_level,
        identity: Some((user, context)),
    };
    // SAFETY: switches to a role that exists (the extension's owner); `_restore` switches back,
    // on return or unwind, before anything of the caller's runs again.
    unsafe {
        pg_sys::SetUserIdAndSecContext(
            owner,
            context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as std::ffi::c_int
                | pg_sys::SECURITY_RESTRICTED_OPERATION as std::ffi::c_int,
        )
    };
    Some(f())
}

/// The role the current SQL runs as (`current_user`), before any switch of ours.
pub fn current_role() -> pg_sys::Oid {
    // SAFETY: a plain read of the backend's current user id.
    unsafe { pg_sys::GetUserId() }
}

/// Whether `role` has the privileges of the named role (directly or through inheritance);
/// false when that role does not exist.
pub fn has_privileges_of(role: pg_sys::Oid, of: &std::ffi::CStr) -> bool {
    // SAFETY: catalog lookups by name and OID; get_role_oid with missing_ok never raises.
    unsafe {
        let of = pg_sys::get_role_oid(of.as_ptr(), true);
        of != pg_sys::InvalidOid && pg_sys::has_privs_of_role(role, of)
    }
}

/// Whether `role` is a superuser.
pub fn is_superuser(role: pg_sys::Oid) -> bool {
    // SAFETY: a syscache lookup of an OID; an unknown role is simply not a superuser.
    unsafe { pg_sys::superuser_arg(role) }
}

/// Whether `role` administers easycars: a superuser or a member of `easycars_admin`.
pub fn is_admin(role: pg_sys::Oid) -> bool {
    is_superuser(role) || has_privileges_of(role, c"easycars_admin")
}

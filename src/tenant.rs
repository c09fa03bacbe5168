//! Which dealership a session acts for, and whether its role may.
//!
//! `app.current_dealership_id` is only a *selector* (the convention connection-pooled applications
//! already use): any role can set any `app.*` setting, so a value counts only when the current
//! role is allowed to act for that dealership — a superuser, a member of `easycars_admin`, or a
//! role granted it with `easycars.grant_dealership()` / `grant_all_dealerships()` (directly or
//! through a role it inherits). Row-level security, the foreign tables and the syncs all go
//! through this module, so the rule and the parsing of the setting live in one place.

use crate::security;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// The setting that selects the dealership of a session.
pub const SETTING: &std::ffi::CStr = c"app.current_dealership_id";

/// A dealership id as written in the setting: a positive 32-bit integer in canonical decimal
/// form. `'01'`, `' 1'`, `'+1'`, `'1.0'` and `''` name no dealership, so a typo shows no rows
/// instead of someone else's.
pub fn parse_dealership_id(value: &str) -> Option<i32> {
    let canonical = !value.is_empty()
        && value.len() <= 10
        && value.bytes().all(|b| b.is_ascii_digit())
        && !value.starts_with('0');
    canonical
        .then(|| value.parse::<i32>().ok())
        .flatten()
        .filter(|id| *id > 0)
}

/// The raw value of `app.current_dealership_id` in this session, if set.
pub fn setting() -> Option<String> {
    crate::gucs::current(SETTING)
}

/// The dealership the setting selects, whether or not the role may act for it.
pub fn selected() -> Option<i32> {
    setting().as_deref().and_then(parse_dealership_id)
}

/// Whether `role` may act for `dealership_id`: superusers and easycars_admin members for every
/// dealership, other roles where an admin granted it (that dealership, or all).
pub fn may_act_for(role: pg_sys::Oid, dealership_id: i32) -> bool {
    allowed_dealerships(role).is_none_or(|ids| ids.binary_search(&dealership_id).is_ok())
}

/// The dealerships `role` may act for: `None` for every one (superusers, easycars_admin members,
/// roles trusted with grant_all_dealerships), else the ones granted to it or a role it inherits.
pub fn allowed_dealerships(role: pg_sys::Oid) -> Option<Vec<i32>> {
    if security::is_admin(role) {
        return None;
    }
    // SECURITY: the grants are read with the owner's rights (the caller may not read the table),
    // under a pinned search_path, with every name qualified; the caller's role is matched in Rust
    // afterwards.
    let grants = security::as_extension_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT a.role_id::pg_catalog.oid, a.dealership_id FROM easycars.dealership_access a",
                    None,
                    &[],
                )?
                .map(|row| Ok((row.get::<pg_sys::Oid>(1)?, row.get::<i32>(2)?)))
                .collect::<Result<Vec<_>, pgrx::spi::SpiError>>()
        })
    });
    let Some(Ok(grants)) = grants else {
        return Some(Vec::new());
    };
    let mut ids = Vec::new();
    for (grantee, dealership) in grants {
        let Some(grantee) = grantee else { continue };
        // SAFETY: a catalog check of two role OIDs; a dropped grantee matches nobody.
        if unsafe { pg_sys::has_privs_of_role(role, grantee) } {
            match dealership {
                None => return None,
                Some(id) => ids.push(id),
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

/// The dealership this session acts for: the selected one when the current role may act for it,
/// else none.
pub fn current() -> Option<i32> {
    selected().filter(|id| may_act_for(security::current_role(), *id))
}

/// The dealership this session acts for: `app.current_dealership_id` as an integer when the
/// current role may act for that dealership, else NULL. Every row-level security policy of
/// easycars compares against it.
#[pg_extern(stable, parallel_restricted, name = "current_dealership_id")]
fn current_dealership_id_sql() -> Option<i32> {
    current()
}

/// Whether the current role may act for a dealership (superuser, easycars_admin, or granted).
#[pg_extern(stable, parallel_restricted, name = "may_act_for")]
fn may_act_for_sql(dealership_id: Option<i32>) -> bool {
    dealership_id.is_some_and(|id| may_act_for(security::current_role(), id))
}

/// Whether the current role administers easycars (superuser or easycars_admin member).
#[pg_extern(stable, parallel_safe, name = "_is_admin")]
fn is_admin_sql() -> bool {
    security::is_admin(security::current_role())
}

#[cfg(test)]
mod tests {
    use super::parse_dealership_id;

    #[test]
    fn canonical_positive_integers_only() {
        assert_eq!(parse_dealership_id("1"), Some(1));
        assert_eq!(parse_dealership_id("2147483647"), Some(i32::MAX));
        for bad in [
            "",
            "0",
            "01",
            " 1",
            "1 ",
            "+1",
            "-1",
            "1.0",
            "2147483648",
            "99999999999",
            "1e3",
            "x",
        ] {
            assert_eq!(parse_dealership_id(bad), None, "{bad:?}");
        }
    }
}

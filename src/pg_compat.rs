//! The few places where PostgreSQL's C API differs between the majors easycars is built for
//! (15, the default feature, and 18). Call sites use these helpers and stay free of `cfg`s.

use pgrx::pg_sys;
use std::ptr::null_mut;

/// The attributes (`pg_attribute` rows) of a tuple descriptor, in column order.
///
/// Up to PostgreSQL 17 they are the descriptor's `attrs` array. PostgreSQL 18 begins the array
/// with one `CompactAttribute` per column (`compact_attrs`) and stores the full attributes right
/// after them, which is where its own `TupleDescAttr()` reads them.
///
/// # Safety
/// `desc` must point to a valid tuple descriptor that stays alive and unchanged for `'a`.
pub unsafe fn tuple_desc_attrs<'a>(desc: pg_sys::TupleDesc) -> &'a [pg_sys::FormData_pg_attribute] {
    // SAFETY: the caller guarantees `desc` is a valid descriptor for 'a; it holds `natts`
    // attributes laid out as described above for the major this crate is built for.
    unsafe {
        let natts = usize::try_from((*desc).natts).unwrap_or(0);
        #[cfg(not(feature = "pg18"))]
        let first = (*desc).attrs.as_ptr();
        #[cfg(feature = "pg18")]
        let first = (*desc)
            .compact_attrs
            .as_ptr()
            .add(natts)
            .cast::<pg_sys::FormData_pg_attribute>();
        std::slice::from_raw_parts(first, natts)
    }
}

/// `create_foreignscan_path` for a plain scan of `rel`: the relation's own target, no pathkeys,
/// no outer relations, no outer plan, no restrictions or private data kept in the path.
///
/// PostgreSQL 18 added `disabled_nodes` (0: this path is not disabled) and 17 added
/// `fdw_restrictinfo` (NULL here).
///
/// # Safety
/// `root` and `rel` must be the planner's for a foreign table, inside a planner callback.
pub unsafe fn create_foreignscan_path(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    rows: f64,
    startup_cost: f64,
    total_cost: f64,
) -> *mut pg_sys::ForeignPath {
    // SAFETY: the caller passes the planner's root and rel; every NULL argument is one the
    // function documents as optional, and it allocates the path in the planner's memory context.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        let path = pg_sys::create_foreignscan_path(
            root,
            rel,
            null_mut(),
            rows,
            startup_cost,
            total_cost,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
        );
        #[cfg(feature = "pg18")]
        let path = pg_sys::create_foreignscan_path(
            root,
            rel,
            null_mut(),
            rows,
            0,
            startup_cost,
            total_cost,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
        );
        path
    }
}

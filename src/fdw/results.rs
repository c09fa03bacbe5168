//! What this session's INSERTs created in EasyCars, for `easycars.fdw_insert_results()` (from
//! the time writes could not return it; `RETURNING` carries the same values now).

use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;

/// One record EasyCars created for this session.
#[derive(Debug, Clone)]
pub struct Created {
    pub entity: &'static str,
    pub external_id: Option<String>,
    pub lead_number: Option<String>,
    pub customer_no: Option<String>,
    pub quote_number: Option<String>,
}

const MAX_RESULTS: usize = 100_000;

thread_local! {
    /// This session's created records with the time, oldest first; the oldest go beyond
    /// MAX_RESULTS.
    static CREATED: RefCell<VecDeque<(Created, TimestampWithTimeZone)>> =
        const { RefCell::new(VecDeque::new()) };
}

/// Keeps a created record, stamped with the current time.
pub fn remember(created: Created) {
    let at = now();
    CREATED.with_borrow_mut(|all| {
        if all.len() >= MAX_RESULTS {
            all.pop_front();
        }
        all.push_back((created, at));
    });
}

fn now() -> TimestampWithTimeZone {
    // SAFETY: GetCurrentTimestamp has no preconditions and returns a TimestampTz (an i64 passed by
    // value), exactly the non-NULL Datum TimestampWithTimeZone::from_datum expects. It runs on the
    // backend thread, inside a write callback.
    unsafe {
        TimestampWithTimeZone::from_datum(
            pgrx::pg_sys::Datum::from(pgrx::pg_sys::GetCurrentTimestamp()),
            false,
        )
    }
    .unwrap_or_else(|| super::error::FdwError::Internal("clock").report())
}

/// What this session's INSERTs created in EasyCars, oldest first.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn fdw_insert_results() -> TableIterator<
    'static,
    (
        name!(entity, String),
        name!(external_id, Option<String>),
        name!(lead_number, Option<String>),
        name!(customer_no, Option<String>),
        name!(quote_number, Option<String>),
        name!(created_at, TimestampWithTimeZone),
    ),
> {
    let rows: Vec<_> = CREATED.with_borrow(|all| {
        all.iter()
            .map(|(c, at)| {
                (
                    c.entity.to_owned(),
                    c.external_id.clone(),
                    c.lead_number.clone(),
                    c.customer_no.clone(),
                    c.quote_number.clone(),
                    *at,
                )
            })
            .collect()
    });
    TableIterator::new(rows)
}

/// Forgets this session's insert results; returns how many there were.
#[pg_extern(volatile, parallel_unsafe)]
fn clear_fdw_insert_results() -> i64 {
    CREATED.with_borrow_mut(|all| {
        let n = all.len() as i64;
        all.clear();
        n
    })
}

//! The due queue of scheduled syncs: which (dealership, kind) a worker runs next, claimed so that
//! no two workers run the same one, and settled afterwards with the next due time (the interval
//! after a success, an exponential backoff after a failure).
//!
//! A claim is a lease (`claimed_until`), taken and committed before the run: a worker killed
//! mid-run leaves nothing claimed for longer than the lease. Claims and settlements run with the
//! owner's rights (the schedule is the administrators' table), for the dealerships the calling
//! role may act for only.

use crate::{security, tenant};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// Creates the missing schedule rows (stock, lead_push, lead_refresh) of the dealerships with active
/// credentials that the current role may sync; returns how many. A worker calls it once, before
/// it starts claiming.
#[pg_extern(volatile, parallel_unsafe)]
fn _ensure_schedule() -> i64 {
    let allowed = tenant::allowed_dealerships(security::current_role());
    let created = security::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let allowed_arg: DatumWithOid = allowed.into();
            client
                .update(
                    "INSERT INTO easycars.sync_schedule (dealership_id, kind) \
                     SELECT c.dealership_id, k.kind FROM easycars.credentials c \
                     CROSS JOIN pg_catalog.unnest(ARRAY['stock', 'lead_push', 'lead_refresh']) AS k(kind) \
                     WHERE c.is_active AND ($1::pg_catalog.int4[] IS NULL \
                                            OR c.dealership_id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int4[])) \
                     ON CONFLICT DO NOTHING RETURNING 1",
                    None,
                    &[allowed_arg],
                )
                .map(|created| created.len() as i64)
        })
    });
    match created {
        Some(Ok(n)) => n,
        Some(Err(e)) => crate::error::EasycarsError::from(e).into_report(),
        None => 0,
    }
}

/// Claims the oldest due, unpaused, unclaimed (dealership, kind) of `p_kinds` that the current
/// role may sync, for `p_lease`. No row when nothing is due.
#[pg_extern(volatile, parallel_unsafe)]
fn _claim_due(
    p_kinds: Vec<String>,
    p_lease: pgrx::datum::Interval,
) -> TableIterator<'static, (name!(dealership_id, i32), name!(kind, String))> {
    let allowed = tenant::allowed_dealerships(security::current_role());
    let claimed = security::as_extension_owner(|| {
        Spi::connect_mut(|client| {
            let allowed_arg: DatumWithOid = allowed.into();
            let rows = client.update(
                "WITH c AS ( \
                     SELECT s.dealership_id, s.kind FROM easycars.sync_schedule s \
                     JOIN easycars.credentials cr ON cr.dealership_id OPERATOR(pg_catalog.=) s.dealership_id AND cr.is_active \
                     WHERE s.kind OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]) AND s.paused_at IS NULL \
                       AND s.next_due_at OPERATOR(pg_catalog.<=) pg_catalog.now() \
                       AND (s.claimed_until IS NULL OR s.claimed_until OPERATOR(pg_catalog.<) pg_catalog.now()) \
                       AND ($2::pg_catalog.int4[] IS NULL \
                            OR s.dealership_id OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.int4[])) \
                     ORDER BY s.next_due_at, s.dealership_id, s.kind \
                     LIMIT 1 FOR UPDATE OF s SKIP LOCKED) \
                 UPDATE easycars.sync_schedule s \
                 SET claimed_until = pg_catalog.now() OPERATOR(pg_catalog.+) $3::pg_catalog.interval, \
                     claimed_by = pg_catalog.pg_backend_pid() \
                 FROM c WHERE s.dealership_id OPERATOR(pg_catalog.=) c.dealership_id \
                   AND s.kind OPERATOR(pg_catalog.=) c.kind \
                 RETURNING s.dealership_id, s.kind",
                None,
                &[p_kinds.clone().into(), allowed_arg, p_lease.into()],
            )?;
            rows.map(|row| {
                Ok((
                    row.get::<i32>(1)?.unwrap_or(0),
                    row.get::<String>(2)?.unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::SpiError>>()
        })
    });
    let rows = match claimed {
        Some(Ok(rows)) => rows,
        Some(Err(e)) => crate::error::EasycarsError::from(e).into_report(),
        None => Vec::new(),
    };
    TableIterator::new(rows)
}

/// Records how a claimed run ended and when it is due next: the interval after a success, a
/// doubling wait (capped by `easycars.sync_backoff_max`) after each failure in a row. Only this
/// backend's own claim is settled.
#[pg_extern(volatile, parallel_unsafe)]
fn _settle_due(
    p_dealership_id: i32,
    p_kind: &str,
    p_outcome: &str,
    p_started: pgrx::datum::TimestampWithTimeZone,
    p_error: Option<&str>,
) {
    let interval = crate::gucs::setting_text(&crate::gucs::SYNC_INTERVAL, "15 minutes");
    let cap = crate::gucs::setting_text(&crate::gucs::SYNC_BACKOFF_MAX, "6 hours");
    let settled = security::as_extension_owner(|| {
        Spi::run_with_args(
            "UPDATE easycars.sync_schedule s SET \
                 last_outcome = $3, last_started_at = $4, last_finished_at = pg_catalog.clock_timestamp(), \
                 failures = CASE WHEN $3 OPERATOR(pg_catalog.=) 'Failed' THEN s.failures OPERATOR(pg_catalog.+) 1 ELSE 0 END, \
                 backoff_reason = CASE WHEN $3 OPERATOR(pg_catalog.=) 'Failed' THEN pg_catalog.left($5, 1000) END, \
                 next_due_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) CASE \
                     WHEN $3 OPERATOR(pg_catalog.=) 'Failed' THEN least( \
                         coalesce(s.every, $6::pg_catalog.interval) OPERATOR(pg_catalog.*) \
                             pg_catalog.power(2, least(s.failures, 30))::pg_catalog.float8, \
                         $7::pg_catalog.interval) \
                     ELSE coalesce(s.every, $6::pg_catalog.interval) END, \
                 claimed_until = NULL, claimed_by = NULL \
             WHERE s.dealership_id OPERATOR(pg_catalog.=) $1 AND s.kind OPERATOR(pg_catalog.=) $2 \
               AND s.claimed_by OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()",
            &[
                p_dealership_id.into(),
                p_kind.into(),
                p_outcome.into(),
                p_started.into(),
                p_error.into(),
                interval.as_str().into(),
                cap.as_str().into(),
            ],
        )
    });
    if let Some(Err(e)) = settled {
        crate::error::EasycarsError::from(e).into_report()
    }
}

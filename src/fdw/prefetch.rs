//! Look-ahead for sync workers: a worker starts the GetAdvertisementStocks fetches of the next few
//! dealerships it has claimed while it writes the current one, so a hung EasyCars account waits
//! out its deadline beside the others instead of holding the worker for it.
//!
//! A fetch started here is exactly the one the sync's scan would make: the same foreign table's
//! server, the same decrypted credentials and destination, for the same role in the same backend.
//! The scan takes the answer ([`take`]) only when all of that still matches, and otherwise fetches
//! for itself; nothing a scan could not have fetched is ever handed to it.
//!
//! A worker keeps `easycars.sync_lookahead` fetches *young* (running for less than
//! [`park_after`], a few times the usual answer time). A fetch that runs longer is parked: it
//! keeps running to its deadline but no longer counts, so the worker claims another in its place
//! and hung accounts pile up side by side instead of filling the window (at most four times the
//! look-ahead are in flight).
//!
//! Fetches outlive the transaction that started them (the worker commits once per dealership), so
//! they are kept per backend and dropped when taken, when the worker forgets them, or when a
//! transaction aborts (the worker failed or was cancelled). Each holds one call slot of its
//! integrator (integrator_cap.rs) until it finishes, and each ends by the run deadline it was
//! started with (`easycars.sync_deadline`).

use super::error::FdwError;
use super::fetch::{client_and_credentials, Pool};
use super::integrator_cap::{self, Slots};
use super::runtime::{block_on_interruptible, spawn_background};
use super::server::ServerConfig;
use easycars_api::client::{ApiError, RawStock};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A fetch's task, stopped when dropped (a tokio handle alone would let it run on).
struct Task(JoinHandle<(Result<RawStock, ApiError>, Duration)>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One fetch started ahead of its sync.
struct Pending {
    /// The role that started it; only the same role's scan takes it.
    user: pg_sys::Oid,
    /// The server settings it was fetched with ([`fingerprint`]).
    server: String,
    /// The answer, and how long it took.
    task: Task,
    started: Instant,
    /// Its integrator call slot, released as soon as the fetch is seen finished.
    slot: Option<Slots>,
}

thread_local! {
    /// This backend's fetches started ahead, by dealership.
    static PENDING: RefCell<HashMap<i32, Pending>> = RefCell::new(HashMap::new());
    /// Signalled by every fetch as it finishes, so [`next_ready`] sleeps until one does.
    static FINISHED: Arc<Notify> = Arc::new(Notify::new());
    static CALLBACKS: Cell<bool> = const { Cell::new(false) };
    /// How long this backend's fetches ahead took to answer, a moving average (none yet: None).
    static USUAL: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// A fetch running longer than this is parked: four times the usual answer time of this
/// backend's fetches, and at least a second (two seconds before any has answered).
fn park_after() -> Duration {
    USUAL.get().map_or(Duration::from_secs(2), |usual| {
        (usual * 4).max(Duration::from_secs(1))
    })
}

/// Counts one answer's time into the usual answer time.
fn note_answer_time(took: Duration) {
    USUAL.set(Some(match USUAL.get() {
        None => took,
        Some(usual) => usual.mul_f64(0.8) + took.mul_f64(0.2),
    }));
}

/// What must be equal for a scan to take a fetch: every server setting that shapes the request
/// (the credentials are the dealership's, and the destination follows from them and these).
fn fingerprint(server: &ServerConfig) -> String {
    format!(
        "{}|{:?}|{}|{}|{}|{}|{}",
        server.dealership_id,
        server.base_url,
        server.timeout_ms,
        server.max_retries,
        server.concurrency,
        server.max_response_bytes,
        server.owner_is_superuser
    )
}

/// Starts fetching dealership `dealership_id`'s stock through its sync foreign table
/// (`easycars_remote.stock_d<N>`), to end by `deadline`. Returns false, having started nothing,
/// when there is nothing to fetch ahead: no such table, a role that may not read it or act for
/// the dealership, no free integrator slot, or credentials that cannot be used (the sync itself
/// then reports why).
pub fn start(dealership_id: i32, deadline: Instant) -> bool {
    forget(Some(dealership_id));
    let Some(table) = sync_table(dealership_id) else {
        return false;
    };
    let role = crate::security::current_role();
    // SAFETY: pg_class_aclcheck reads the catalogs for an OID that exists (just looked up).
    let may_read =
        unsafe { pg_sys::pg_class_aclcheck(table, role, pg_sys::ACL_SELECT as pg_sys::AclMode) }
            == pg_sys::AclResult::ACLCHECK_OK;
    if !may_read || !crate::tenant::may_act_for(role, dealership_id) {
        return false;
    }
    let Ok(server) = ServerConfig::for_table(table) else {
        return false;
    };
    if server.dealership_id != dealership_id {
        return false;
    }
    // Its own connection pool: connections belong to the runtime that opened them, and these
    // are driven by the background thread.
    let Ok((client, creds)) = client_and_credentials(&server, Pool::Background) else {
        return false;
    };
    let Some(slot) = integrator_cap::try_acquire_unshared(&creds.client_id, integrator_cap::cap())
    else {
        return false;
    };
    client.limit_until(Some(deadline));
    register_callbacks();
    let finished = FINISHED.with(Arc::clone);
    let Some(task) = spawn_background(async move {
        let t0 = Instant::now();
        let answer = client.get_stock_raw(&creds, None).await;
        finished.notify_one();
        (answer, t0.elapsed())
    }) else {
        return false;
    };
    let task = Task(task);
    PENDING.with_borrow_mut(|pending| {
        pending.insert(
            dealership_id,
            Pending {
                user: role,
                server: fingerprint(&server),
                task,
                started: Instant::now(),
                slot: Some(slot),
            },
        )
    });
    true
}

/// The OID of `easycars_remote.stock_d<N>`, if it exists.
fn sync_table(dealership_id: i32) -> Option<pg_sys::Oid> {
    let name = format!("easycars_remote.stock_d{dealership_id}");
    Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid",
        &[name.as_str().into()],
    )
    .ok()
    .flatten()
}

/// The first of `dealerships` (in their order) whose fetch has finished or that has none. When
/// none is ready: `None` at once if fewer than `room_for` of them are young (there is room to
/// claim another), else a wait until one is ready or room appears. `None` for an empty list.
pub fn next_ready(dealerships: &[i32], room_for: usize) -> Option<i32> {
    loop {
        release_finished_slots();
        let park = park_after();
        let (ready, young, next_park) = PENDING.with_borrow(|pending| {
            let ready = dealerships
                .iter()
                .copied()
                .find(|d| pending.get(d).is_none_or(|p| p.task.0.is_finished()));
            let ages: Vec<Duration> = dealerships
                .iter()
                .filter_map(|d| pending.get(d))
                .map(|p| p.started.elapsed())
                .filter(|age| *age < park)
                .collect();
            // When the youngest-to-park of them will be parked.
            let next_park = ages.iter().map(|age| park - *age).min();
            (ready, ages.len(), next_park)
        });
        if ready.is_some() || dealerships.is_empty() {
            return ready;
        }
        if young < room_for {
            return None;
        }
        // Until a fetch finishes or (when claims may follow) the next one is parked; a wake-up
        // may be for a fetch not in the list, so look again at least every second.
        let second = Duration::from_secs(1);
        let wait = next_park
            .filter(|_| room_for > 0)
            .map_or(second, |w| w.min(second));
        let finished = FINISHED.with(Arc::clone);
        block_on_interruptible(async move {
            let _ = tokio::time::timeout(wait, finished.notified()).await;
        });
    }
}

/// Drops the fetch of one dealership (or all of them): its task stops and its slot is released.
pub fn forget(dealership_id: Option<i32>) {
    // try_borrow: the abort callback may run while an ERROR unwinds through a borrow.
    let dropped: Vec<Pending> = PENDING.with(|cell| match cell.try_borrow_mut() {
        Ok(mut pending) => match dealership_id {
            Some(d) => pending.remove(&d).into_iter().collect(),
            None => pending.drain().map(|(_, p)| p).collect(),
        },
        Err(_) => Vec::new(),
    });
    drop(dropped);
}

/// The answer fetched ahead for a scan of `server` by the current role, waiting for it if it is
/// still running; `None` when there is none (or it was fetched another way: the scan fetches).
pub(crate) fn take(server: &ServerConfig) -> Option<Result<RawStock, FdwError>> {
    let p = PENDING.with_borrow_mut(|pending| pending.remove(&server.dealership_id))?;
    if p.user != crate::security::current_role() || p.server != fingerprint(server) {
        return None;
    }
    // The slot stays held while the call may still be in flight; a cancel meanwhile drops both
    // the task (stopping it) and the slot.
    let Pending {
        mut task,
        slot: _slot,
        ..
    } = p;
    Some(match block_on_interruptible(&mut task.0) {
        Ok((Ok(answer), took)) => {
            note_answer_time(took);
            Ok(answer)
        }
        Ok((Err(e), _)) => Err(FdwError::from(e)),
        Err(_) => Err(FdwError::Internal("the fetch started ahead stopped")),
    })
}

/// Releases the slots of fetches that have finished: they have no call in flight any more.
pub(crate) fn release_finished_slots() {
    let done: Vec<Slots> = PENDING.with_borrow_mut(|pending| {
        pending
            .values_mut()
            .filter(|p| p.task.0.is_finished())
            .filter_map(|p| p.slot.take())
            .collect()
    });
    drop(done);
}

/// Once per backend: an aborted transaction (the worker that started them failed or was
/// cancelled) and the backend's exit drop every fetch started ahead, releasing their slots while
/// the lock manager is still there.
fn register_callbacks() {
    if CALLBACKS.get() {
        return;
    }
    // SAFETY: both register plain functions with no argument, valid for the life of the backend
    // (the library is never unloaded). before_shmem_exit callbacks run at backend exit before
    // shared memory and the lock manager go away.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize));
    }
    CALLBACKS.set(true);
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT {
        // Releasing a session-level advisory lock (a slot) needs no catalog access and cannot
        // fail, so it is safe while the transaction aborts.
        forget(None);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    forget(None);
}

/// `easycars.sync_deadline` from now, the end a run starting now would have.
fn deadline_from_now() -> Instant {
    let deadline = crate::gucs::setting_text(&crate::gucs::SYNC_DEADLINE, "5 minutes");
    let seconds = Spi::get_one_with_args::<f64>(
        "SELECT pg_catalog.date_part('epoch', $1::pg_catalog.interval)",
        &[deadline.as_str().into()],
    )
    .ok()
    .flatten()
    .filter(|s| s.is_finite() && *s > 0.0)
    .unwrap_or(300.0);
    Instant::now() + Duration::from_secs_f64(seconds.min(1e9))
}

/// Internal (run_due_syncs): starts fetching a claimed dealership's stock ahead of its sync, to end
/// by `easycars.sync_deadline` from now; true when it started.
#[pg_extern(volatile, parallel_unsafe)]
fn _prefetch_stock(p_dealership_id: i32) -> bool {
    start(p_dealership_id, deadline_from_now())
}

/// Internal (run_due_syncs): the first of the dealerships whose stock fetched ahead is ready (or
/// that has none); NULL when none is but fewer than `p_room_for` are young (claim another);
/// otherwise waits for one of the two.
#[pg_extern(volatile, parallel_unsafe)]
fn _prefetch_next(p_dealership_ids: Vec<i32>, p_room_for: i32) -> Option<i32> {
    next_ready(&p_dealership_ids, usize::try_from(p_room_for).unwrap_or(0))
}

/// Internal (run_due_syncs): drops what was fetched ahead for a dealership, or for all (NULL).
#[pg_extern(volatile, parallel_unsafe)]
fn _prefetch_forget(p_dealership_id: Option<i32>) {
    forget(p_dealership_id);
}

#[cfg(test)]
mod tests {
    use super::{note_answer_time, park_after};
    use std::time::Duration;

    #[test]
    fn a_fetch_is_parked_after_four_usual_answer_times() {
        assert_eq!(park_after(), Duration::from_secs(2), "before any answer");
        note_answer_time(Duration::from_millis(100));
        assert_eq!(park_after(), Duration::from_secs(1), "never below a second");
        for _ in 0..50 {
            note_answer_time(Duration::from_secs(3));
        }
        let park = park_after();
        assert!(
            park > Duration::from_millis(11_900) && park <= Duration::from_secs(12),
            "slow answers (3 s) park after about 12 s: {park:?}"
        );
        note_answer_time(Duration::from_secs(300));
        assert!(
            park_after() < Duration::from_secs(300),
            "one hung answer moves the usual time only a fifth of the way"
        );
    }
}

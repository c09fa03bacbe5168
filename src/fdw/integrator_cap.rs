//! The cap on concurrent EasyCars calls per integrator account (one ClientID serves many
//! dealerships): `easycars.max_calls_per_integrator` slots, shared by every backend.
//!
//! A slot is a session-level advisory lock, so the count is global to the cluster's database, a
//! backend that dies frees its slots at once, and `pg_locks` shows who holds them. Slots are held
//! while a scan or a write talks to EasyCars and released when its session is dropped.
//!
//! Advisory locks are re-entrant within a backend. A scan or write may re-take a slot its own
//! backend holds for another scan or write (their calls are one after the other, and a statement
//! can never wait on itself). A look-ahead fetch (prefetch.rs) runs beside everything else, so it
//! takes only a slot nothing in this backend holds, and nothing re-takes its slot: a scan waits for
//! it until the fetch ends (by its deadline at the latest).

use super::error::FdwError;
use md5::{Digest, Md5};
use pgrx::{pg_sys, IntoDatum};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

thread_local! {
    /// The slot keys this backend holds, with how many times (advisory locks count re-entries).
    static HELD: RefCell<HashMap<i32, usize>> = RefCell::new(HashMap::new());
    /// Those of them held by look-ahead fetches, which nothing may re-take.
    static AHEAD: RefCell<std::collections::HashSet<i32>> = RefCell::new(Default::default());
}

/// The cap in effect: `easycars.max_calls_per_integrator` (0: none).
pub fn cap() -> usize {
    usize::try_from(crate::gucs::MAX_CALLS_PER_INTEGRATOR.get()).unwrap_or(0)
}

/// The first advisory-lock key of every slot ("ECS1"): it keeps them apart from other users'
/// advisory locks; the second key is the slot's digest.
const SLOT_CLASS: i32 = 0x4543_5331;

/// Slots this backend holds for one session; released on drop.
#[derive(Debug)]
pub struct Slots {
    keys: Vec<i32>,
    /// Held by a look-ahead fetch.
    ahead: bool,
}

impl Slots {
    /// How many calls the holder may have in flight at once.
    pub fn count(&self) -> usize {
        self.keys.len()
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // try_with: at exit the thread-locals may already be gone (the locks go with the backend).
        for &key in &self.keys {
            if self.ahead {
                let _ = AHEAD.try_with(|ahead| ahead.borrow_mut().remove(&key));
            }
            advisory(pg_sys::pg_advisory_unlock_int4, key);
            let _ = HELD.try_with(|held| {
                let mut held = held.borrow_mut();
                if let Some(n) = held.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        held.remove(&key);
                    }
                }
            });
        }
    }
}

/// Takes the advisory lock of `key` and counts it as held here.
fn take(key: i32) -> bool {
    let taken = advisory(pg_sys::pg_try_advisory_lock_int4, key);
    if taken {
        HELD.with_borrow_mut(|held| *held.entry(key).or_insert(0) += 1);
    }
    taken
}

/// One slot of the integrator's `cap` that no other backend and nothing in this one holds, without
/// waiting; `None` when there is none. With no cap, an empty (always granted) share.
pub fn try_acquire_unshared(client_id: &str, cap: usize) -> Option<Slots> {
    if cap == 0 {
        return Some(Slots {
            keys: Vec::new(),
            ahead: true,
        });
    }
    let key = (0..cap)
        .map(|slot| slot_key(client_id, slot))
        .find(|key| !HELD.with_borrow(|held| held.contains_key(key)) && take(*key))?;
    AHEAD.with_borrow_mut(|ahead| ahead.insert(key));
    Some(Slots {
        keys: vec![key],
        ahead: true,
    })
}

/// Takes up to `want` slots of the integrator's `cap` (at least one, waiting for it until
/// `until`); `cap` 0 means no cap, and no slot is taken.
pub fn acquire(
    client_id: &str,
    want: usize,
    cap: usize,
    until: Instant,
) -> Result<Slots, FdwError> {
    if cap == 0 || want == 0 {
        return Ok(Slots {
            keys: Vec::new(),
            ahead: false,
        });
    }
    let mut keys: Vec<i32> = (0..cap).map(|slot| slot_key(client_id, slot)).collect();
    // Slots nothing in this backend holds first, so re-entry is the last resort.
    keys.sort_by_key(|key| HELD.with_borrow(|held| held.contains_key(key)));
    let mut held = Slots {
        keys: Vec::new(),
        ahead: false,
    };
    let mut pause = Duration::from_millis(5);
    loop {
        for &key in &keys {
            if held.keys.len() >= want {
                break;
            }
            if !held.keys.contains(&key)
                && !AHEAD.with_borrow(|ahead| ahead.contains(&key))
                && take(key)
            {
                held.keys.push(key);
            }
        }
        if !held.keys.is_empty() {
            return Ok(held);
        }
        if Instant::now() >= until {
            return Err(FdwError::IntegratorBusy { cap });
        }
        // Every slot is busy: wait a little (a cancel or statement_timeout still acts). This
        // backend's own look-ahead fetches free theirs once seen finished.
        let nap = pause.min(until.saturating_duration_since(Instant::now()));
        super::runtime::block_on_interruptible(async move { tokio::time::sleep(nap).await });
        super::prefetch::release_finished_slots();
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// The second advisory-lock key of slot `slot` of an integrator: a digest, so `pg_locks`, which
/// every role may read, never shows the ClientID.
fn slot_key(client_id: &str, slot: usize) -> i32 {
    let mut h = Md5::new();
    h.update(b"easycars integrator slot\0");
    h.update(client_id.as_bytes());
    h.update(b"\0");
    h.update(slot.to_le_bytes());
    let d = h.finalize();
    i32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// Calls a two-int4 advisory-lock function on (SLOT_CLASS, key) and returns its boolean.
fn advisory(f: unsafe fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum, key: i32) -> bool {
    // SAFETY: pg_try_advisory_lock_int4 and pg_advisory_unlock_int4 are builtins taking two
    // non-null int4 and returning a non-null boolean; direct_function_call builds their fcinfo.
    // Backend thread, inside the caller's #[pg_guard].
    unsafe {
        pgrx::direct_function_call::<bool>(f, &[SLOT_CLASS.into_datum(), key.into_datum()])
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::slot_key;

    #[test]
    fn slots_are_per_integrator_and_hide_the_client_id() {
        let a: Vec<i32> = (0..8)
            .map(|s| slot_key("11111111-2222-3333-4444-555555555555", s))
            .collect();
        let b: Vec<i32> = (0..8)
            .map(|s| slot_key("99999999-2222-3333-4444-555555555555", s))
            .collect();
        let distinct: std::collections::HashSet<i32> = a.iter().chain(&b).copied().collect();
        assert_eq!(
            distinct.len(),
            16,
            "every slot of every integrator is its own lock"
        );
        assert_eq!(
            a[3],
            slot_key("11111111-2222-3333-4444-555555555555", 3),
            "stable across backends"
        );
    }
}

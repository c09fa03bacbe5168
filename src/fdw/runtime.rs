//! Waiting on the network from a Postgres backend without becoming uncancellable.
//!
//! Postgres checks for interrupts only between rows, so a blocking HTTP call would ignore
//! `pg_cancel_backend` and `statement_timeout` until it returned. Every wait here polls the
//! future in short ticks on a current-thread runtime and checks for interrupts between ticks: a
//! cancel raises SQLSTATE 57014 within about a tick, and the future (and its connection) is
//! dropped as the error unwinds.

use std::cell::OnceCell;
use std::future::Future;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(50);

thread_local! {
    static RUNTIME: OnceCell<tokio::runtime::Runtime> = const { OnceCell::new() };
}

/// Runs `fut` to completion, checking for Postgres interrupts every 50 ms.
pub fn block_on_interruptible<F: Future>(fut: F) -> F::Output {
    RUNTIME.with(|cell| {
        if cell.get().is_none() {
            match easycars_api::client::new_runtime() {
                Ok(rt) => {
                    let _ = cell.set(rt);
                }
                Err(_) => super::FdwError::Internal("cannot start the I/O runtime").report(),
            }
        }
        let Some(rt) = cell.get() else {
            super::FdwError::Internal("no I/O runtime").report()
        };
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Ok(out) = rt.block_on(async { tokio::time::timeout(TICK, &mut fut).await }) {
                return out;
            }
            pgrx::check_for_interrupts!();
        }
    })
}

/// Starts `fut` on this backend's background I/O thread, where it runs on its own while the
/// backend does anything else (a look-ahead fetch must not stall while its worker writes another
/// dealership, or its timers would fire on answers already received). For pure Rust futures only:
/// the thread makes no Postgres calls, allocates no Postgres memory, and has every signal blocked,
/// so Postgres's handlers keep running on the backend's own thread. `None` if the thread cannot
/// start.
pub fn spawn_background<F>(fut: F) -> Option<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    static BACKGROUND: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    let rt = BACKGROUND.get_or_init(|| {
        // The runtime's threads inherit this mask (tokio starts them from here or from each other).
        let _blocked = SignalsBlocked::new();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(4)
            .thread_name("easycars-io")
            .enable_all()
            .build()
            .ok()
    });
    rt.as_ref().map(|rt| rt.spawn(fut))
}

/// `f` over `items` on every core, results in order. For pure Rust work only: the threads make
/// no Postgres calls and allocate no Postgres memory. They start with every signal blocked, so
/// Postgres's handlers (cancel, timeout, latch) keep running on the backend's own thread.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    // Below this a thread costs more than it saves.
    if workers < 2 || items.len() < 2048 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(workers);
    let f = &f;
    let blocked = SignalsBlocked::new();
    let parts: Vec<Vec<R>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let handle = std::thread::Builder::new()
                    .name("easycars-cpu".into())
                    .spawn_scoped(scope, move || part.iter().map(f).collect::<Vec<R>>());
                (part, handle)
            })
            .collect();
        drop(blocked);
        handles
            .into_iter()
            .map(|(part, handle)| match handle {
                // A thread that could not start or that panicked: do its share here.
                Ok(h) => h.join().unwrap_or_else(|_| part.iter().map(f).collect()),
                Err(_) => part.iter().map(f).collect(),
            })
            .collect()
    });
    parts.into_iter().flatten().collect()
}

/// Blocks every signal on this thread until dropped (new threads inherit the mask).
struct SignalsBlocked(libc::sigset_t);

impl SignalsBlocked {
    fn new() -> Self {
        // SAFETY: sigset_t is a plain C bit set, for which all-zero bytes are valid (sigfillset
        // then fills `all`); both pointers are to locals that outlive the calls. pthread_sigmask
        // changes only this thread's mask and stores the previous one in `old`.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
            SignalsBlocked(old)
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: `self.0` is the mask pthread_sigmask stored in new(); the guard is a local of
        // parallel_map, so it is dropped on the thread that made it, and restoring the mask
        // touches only that thread.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}

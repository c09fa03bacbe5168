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

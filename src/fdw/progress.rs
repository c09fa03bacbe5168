//! Live progress of a sync's foreign scan, visible from any session before the run commits: the
//! backend's `application_name` (in `pg_stat_activity`), which `easycars.running_syncs` reads.
//! It needs no shared memory, so it works whether or not the library is preloaded.

use pgrx::pg_sys;
use std::ffi::CString;
use std::time::{Duration, Instant};

/// At most one update a second: cheap, and often enough to watch.
const EVERY: Duration = Duration::from_secs(1);
/// The clock is read once per this many rows.
const CLOCK_EVERY_ROWS: usize = 64;

/// Items read of the scan's total, for the sync run the scan belongs to.
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    last: Instant,
}

impl Progress {
    /// Progress over `total` items when the scan belongs to a sync run (whose `_report` set
    /// `easycars_run.label`); publishes "0 of total read" at once. `None` outside a run.
    pub fn start(total: usize) -> Option<Progress> {
        let label = run_label()?;
        let p = Progress {
            label,
            total,
            done: 0,
            last: Instant::now(),
        };
        p.publish();
        Some(p)
    }

    /// One more item read.
    pub fn step(&mut self) {
        self.done += 1;
        if self.done.is_multiple_of(CLOCK_EVERY_ROWS) && self.last.elapsed() >= EVERY {
            self.publish();
            self.last = Instant::now();
        }
    }

    /// The scan has read everything: the final count.
    pub fn finish(&self) {
        self.publish();
    }

    fn publish(&self) {
        set_application_name(&phase(&self.label, self.done, self.total));
    }
}

/// The published text; `running_syncs` parses ": <done> of <total> ".
fn phase(label: &str, done: usize, total: usize) -> String {
    format!("{label}: {done} of {total} read")
}

/// The run's label (`easycars stock inbound d=1 run=42`), or `None` outside a sync run. A session
/// may set it itself: it only ever changes its own application_name.
fn run_label() -> Option<String> {
    crate::gucs::current(c"easycars_run.label").filter(|l| !l.is_empty())
}

/// Sets `application_name` for the rest of the transaction, as `set_config(..., true)` does.
fn set_application_name(text: &str) {
    let Ok(value) = CString::new(text) else {
        return;
    };
    // SAFETY: a plain call into the GUC machinery from the backend's thread during execution, as
    // set_config() makes it; application_name accepts any text (its check hook only cleans it),
    // and an ERROR would unwind through the caller's #[pg_guard].
    unsafe {
        pg_sys::set_config_option(
            c"application_name".as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            0,
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_phase_is_what_running_syncs_parses() {
        let p = super::phase("easycars stock d=7 run=42", 250, 1000);
        assert_eq!(p, "easycars stock d=7 run=42: 250 of 1000 read");
        // pg_stat_activity keeps 63 bytes of application_name: the counts and the space after
        // them survive even with the longest ids.
        let p = super::phase(
            "easycars stock d=123456789 run=1234567890",
            100_000,
            100_000,
        );
        let kept = &p[..p.len().min(63)];
        assert!(kept.contains(": 100000 of 100000 "), "{kept}");
    }
}

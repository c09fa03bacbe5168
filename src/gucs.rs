//! Every setting of easycars, defined when the library loads.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

/// `easycars.key_file`: absolute path of the key file holding the AES-256-GCM keys for
/// credentials (one `key_id:base64-of-32-bytes` per line; the first encrypts, all decrypt).
///
/// SECURITY: superuser-only to set (`SUSET`) and to show (`SUPERUSER_ONLY`); the keys themselves
/// never live in a setting, a table or SQL text.
pub static KEY_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `easycars.allowed_hosts`: hosts besides EasyCars' own that may receive decrypted credentials
/// (`host` or `host:port`, comma-separated), such as the bundled simulator or a proxy.
///
/// SECURITY: superuser-only to set (`SUSET`): easycars_admin members may point credentials and
/// servers at a base URL, but only a superuser decides which hosts such a URL may name.
pub static ALLOWED_HOSTS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `easycars.sync_interval`: how often each dealership's stock, lead push and lead refresh are
/// due (unless its schedule row says otherwise), as a PostgreSQL interval.
pub static SYNC_INTERVAL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"15 minutes"));

/// `easycars.sync_backoff_max`: the longest a failing dealership waits before its next try.
pub static SYNC_BACKOFF_MAX: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"6 hours"));

/// `easycars.sync_deadline`: the total time one sync run may spend waiting on EasyCars (every call,
/// retries and backoff included), as a PostgreSQL interval. A hung account costs a worker at most
/// this, never the schedule window.
pub static SYNC_DEADLINE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"5 minutes"));

/// `easycars.sync_lookahead`: how many claimed stock syncs a worker (`run_due_syncs`) keeps
/// fetching ahead while it writes the current one; 0 runs them one after another.
pub static SYNC_LOOKAHEAD: GucSetting<i32> = GucSetting::<i32>::new(8);

/// `easycars.max_calls_per_integrator`: the most EasyCars calls in flight at once, across every
/// backend, for one integrator account (ClientID); 0 for no cap.
///
/// SECURITY: superuser-only to set (`SUSET`): it protects EasyCars (and the integrator's standing
/// with it) from every session together, so no session may raise it for itself.
pub static MAX_CALLS_PER_INTEGRATOR: GucSetting<i32> = GucSetting::<i32>::new(16);

/// A text setting's current value, or `default` when unset.
pub fn setting_text(setting: &GucSetting<Option<CString>>, default: &str) -> String {
    setting
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// The current value of any setting by name, our own, a placeholder (`app.*`, `easycars_run.*`)
/// or PostgreSQL's; `None` when it does not exist in this session.
pub fn current(name: &std::ffi::CStr) -> Option<String> {
    // SAFETY: with missing_ok, GetConfigOption returns NULL or a pointer to the setting's current
    // value, a NUL-terminated string valid until the setting changes; it is copied at once.
    unsafe {
        let value = pgrx::pg_sys::GetConfigOption(name.as_ptr(), true, false);
        (!value.is_null()).then(|| {
            std::ffi::CStr::from_ptr(value)
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// The current `easycars.allowed_hosts`, empty when unset.
pub fn allowed_hosts() -> String {
    ALLOWED_HOSTS
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Registers the settings and reserves the `easycars.` prefix so misspelt settings are refused.
pub fn init() {
    GucRegistry::define_string_guc(
        c"easycars.key_file",
        c"Path of the key file with the AES-256-GCM keys that encrypt EasyCars credentials.",
        c"One key_id:base64-of-32-bytes per line; the first line encrypts, every line decrypts. \
          The file must be readable only by the server's operating-system user.",
        &KEY_FILE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        c"easycars.allowed_hosts",
        c"Hosts besides EasyCars' own that may receive EasyCars credentials.",
        c"Comma-separated host or host:port entries (a proxy, the bundled simulator). Plain http is \
          accepted for loopback hosts only. my.easycars.net.au and testmy.easycars.com.au over https \
          are always allowed.",
        &ALLOWED_HOSTS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"easycars.sync_interval",
        c"How often each dealership's stock, lead push and lead refresh are due.",
        c"A PostgreSQL interval, e.g. '15 minutes'; a dealership's sync_schedule row may set its own.",
        &SYNC_INTERVAL,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"easycars.sync_backoff_max",
        c"The longest a failing dealership waits before its next try.",
        c"A PostgreSQL interval; after each failure the wait doubles (from sync_interval) up to this.",
        &SYNC_BACKOFF_MAX,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"easycars.sync_deadline",
        c"The total time one sync run may spend waiting on EasyCars.",
        c"A PostgreSQL interval covering every call of the run, retries and backoff included; a run \
          past it fails with 'deadline exceeded' and is retried later with backoff.",
        &SYNC_DEADLINE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"easycars.sync_lookahead",
        c"How many claimed stock syncs a sync worker fetches ahead while it writes the current one.",
        c"Each is one EasyCars call in flight from the worker's backend (within \
          easycars.max_calls_per_integrator); a fetch running far longer than usual is parked and \
          makes room for another (at most four times this many in flight), so hung accounts wait \
          out their deadlines side by side. 0 runs each claimed sync at once.",
        &SYNC_LOOKAHEAD,
        0,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"easycars.max_calls_per_integrator",
        c"The most EasyCars calls in flight at once for one integrator account (ClientID), across all sessions.",
        c"Each scan or write takes one slot per call it may have in flight (lead lookups up to the \
          server's concurrency) and waits for a free one up to its deadline; 0 disables the cap.",
        &MAX_CALLS_PER_INTEGRATOR,
        0,
        10_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SAFETY: called once from _PG_init, after the settings above are defined.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"easycars".as_ptr()) };
}

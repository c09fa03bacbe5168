//! `easycars-sim`: a faithful, fault-injecting EasyCars API simulator on 127.0.0.1.
//!
//! It speaks the API as EasyCars documents it under both path prefixes
//! (`/TestECService`, `/ECService`): StockService `RequestToken` and `GetAdvertisementStocks`,
//! LeadService `RequestToken`, `CreateLead`, `UpdateLead`, `GetLeadDetail`, `SearchContacts`
//! and `CreateQuotation`. Data is generated deterministically from a seed; a control API under
//! `/_sim/` injects faults, latency and clock shifts, mutates stock and reports statistics.
//!
//! Run it in-process with [`serve`] (tests) or as the `easycars-sim` binary.

pub mod api;
pub mod config;
pub mod control;
pub mod faults;
pub mod gen;
pub mod json;
pub mod jwt;
pub mod leads;
pub mod rng;
pub mod stats;
pub mod stock;
pub mod time;

pub use config::{BadAccount, Modes, SimConfig};

use axum::routing::{any, get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tokio::net::TcpListener;

/// Shared server state.
pub struct AppState {
    /// Start-up configuration.
    pub cfg: SimConfig,
    /// `http://127.0.0.1:PORT` (used in image URLs).
    pub base_url: String,
    /// Seeded dealers.
    pub dealers: Vec<gen::Dealer>,
    /// AccountNumber → dealer index.
    pub by_account: HashMap<String, usize>,
    /// ClientID → (ClientSecret, dealer indexes).
    pub integrators: HashMap<String, (String, Vec<usize>)>,
    /// Token signer.
    pub signer: jwt::Signer,
    /// Current modes.
    pub modes: RwLock<Modes>,
    /// Clock shift in seconds.
    pub clock_shift: AtomicI64,
    /// Fault queue and latency.
    pub faults: faults::Faults,
    /// Request statistics.
    pub stats: Arc<stats::Stats>,
    /// Stock mutations per dealer.
    pub overlays: Vec<Mutex<Arc<stock::Overlay>>>,
    /// Leads, customers, quotations.
    pub lead_store: Mutex<leads::LeadStore>,
}

impl AppState {
    /// Build the state for a configuration and base URL.
    pub fn new(cfg: SimConfig, base_url: String) -> Self {
        let dealers = gen::dealers(
            cfg.seed,
            cfg.dealers,
            cfg.vehicles,
            cfg.yards,
            cfg.shared_integrator,
        );
        let by_account = dealers
            .iter()
            .map(|d| (d.account_number.clone(), d.index))
            .collect();
        let mut integrators: HashMap<String, (String, Vec<usize>)> = HashMap::new();
        for d in &dealers {
            integrators
                .entry(d.client_id.clone())
                .or_insert_with(|| (d.client_secret.clone(), Vec::new()))
                .1
                .push(d.index);
        }
        let overlays = dealers
            .iter()
            .map(|d| Mutex::new(Arc::new(stock::Overlay::new(d.base_vehicles))))
            .collect();
        AppState {
            signer: jwt::Signer::new(cfg.seed),
            modes: RwLock::new(cfg.modes.clone()),
            clock_shift: AtomicI64::new(0),
            faults: faults::Faults::default(),
            stats: stats::Stats::new(cfg.stats_keep),
            lead_store: Mutex::new(leads::LeadStore::default()),
            base_url: cfg
                .public_url
                .clone()
                .unwrap_or(base_url)
                .trim_end_matches('/')
                .to_string(),
            cfg,
            dealers,
            by_account,
            integrators,
            overlays,
        }
    }

    /// The simulated clock (unix seconds, shift applied).
    pub fn now(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.clock_shift.load(Ordering::SeqCst)
    }

    /// Current modes.
    pub fn modes(&self) -> Modes {
        self.modes.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Snapshot of a dealer's stock mutations.
    pub fn overlay(&self, dealer: usize) -> Arc<stock::Overlay> {
        self.overlays[dealer]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The lead store.
    pub fn leads(&self) -> MutexGuard<'_, leads::LeadStore> {
        self.lead_store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the start-up state.
    pub fn reset(&self) {
        self.faults.reset();
        self.stats.reset();
        self.clock_shift.store(0, Ordering::SeqCst);
        for (d, slot) in self.overlays.iter().enumerate() {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                Arc::new(stock::Overlay::new(self.dealers[d].base_vehicles));
        }
        *self.leads() = leads::LeadStore::default();
        *self.modes.write().unwrap_or_else(|e| e.into_inner()) = self.cfg.modes.clone();
    }
}

/// The router for a state.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/{prefix}/{service}/{route}", any(api::handle))
        .route("/publicimages/image/{a}/{b}/{hash}", get(api::image))
        .route("/_sim/manifest", get(control::manifest))
        .route("/_sim/stats", get(control::stats))
        .route("/_sim/leads", get(control::leads))
        .route(
            "/_sim/faults",
            post(control::add_faults)
                .get(control::list_faults)
                .delete(control::clear_faults),
        )
        .route(
            "/_sim/latency",
            post(control::set_latency).get(control::get_latency),
        )
        .route("/_sim/clock", post(control::clock).get(control::get_clock))
        .route(
            "/_sim/config",
            post(control::set_config).get(control::get_config),
        )
        .route("/_sim/reset", post(control::reset))
        .route("/_sim/fields", get(control::fields))
        .route(
            "/_sim/stock/{account}/{op}",
            post(control::stock)
                .get(control::stock_item)
                // Hardening tests add items with descriptions of several megabytes.
                .layer(axum::extract::DefaultBodyLimit::max(64 << 20)),
        )
        .fallback(api::fallback)
        .with_state(state)
}

/// Serve on an already-bound listener until the future is dropped.
pub async fn serve(cfg: SimConfig, listener: TcpListener) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState::new(cfg, format!("http://{addr}")));
    serve_state(state, listener).await
}

/// A simulator started in-process by [`spawn_on_loopback`].
pub struct OnLoopback {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// What `GET /_sim/manifest` answers at start: dealers, credentials, counts.
    pub manifest: serde_json::Value,
}

/// Starts a simulator on 127.0.0.1 at a free port on the current tokio runtime, for tests that
/// run it in-process; it serves until the runtime ends.
pub async fn spawn_on_loopback(cfg: SimConfig) -> std::io::Result<OnLoopback> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = Arc::new(AppState::new(cfg, base.clone()));
    let manifest = control::manifest_json(&state);
    tokio::spawn(serve_state(state, listener));
    Ok(OnLoopback { base, manifest })
}

/// Serve a prepared state.
pub async fn serve_state(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

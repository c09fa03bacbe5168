//! Simulator configuration (CLI flags) and the behaviour modes that can also be changed at
//! run time through `POST /_sim/config`.

use serde::{Deserialize, Serialize};

/// What a wrong AccountNumber/AccountSecret gets (undocumented; see `easycars-api.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BadAccount {
    /// `{"Code":1,...}` (default).
    Code1,
    /// `{"Code":7,...}`.
    Code7,
    /// GetAdvertisementStocks answers `{"StockList":[],"Code":0}`; lead routes answer Code 7.
    Empty,
}

/// Behaviour switches for the places the documentation leaves open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modes {
    /// HTTP status of an invalid-token answer: 200 (default) or 401. The body is always
    /// `{"Code":1,"ErrorMessage":"Invalid token."}`.
    pub auth_failure_status: u16,
    /// Answer to a wrong account.
    pub bad_account: BadAccount,
    /// Reject a StockService token on LeadService and vice versa.
    pub strict_token_service: bool,
    /// Reject a token whose ClientID is not the integrator of the account in the body.
    pub strict_token_account: bool,
    /// Add the non-standard `LeadStatus` to GetLeadDetail.
    pub include_lead_status: bool,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            auth_failure_status: 200,
            bad_account: BadAccount::Code1,
            strict_token_service: false,
            strict_token_account: false,
            include_lead_status: false,
        }
    }
}

/// Everything the simulator is started with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed for all generated data.
    pub seed: u64,
    /// Number of dealers.
    pub dealers: usize,
    /// Generated vehicles per dealer.
    pub vehicles: usize,
    /// Yards per dealer.
    pub yards: usize,
    /// Token lifetime in seconds (documented: 600).
    pub token_ttl: i64,
    /// One integrator (ClientID/ClientSecret) for all dealers instead of one per dealer.
    pub shared_integrator: bool,
    /// Include a duplicate and a broken image URL in some vehicles.
    pub image_quirks: bool,
    /// Requests kept per route in `/_sim/stats`.
    pub stats_keep: usize,
    /// Log requests to stderr.
    pub verbose: bool,
    /// Base URL for image URLs (default: the listening address).
    pub public_url: Option<String>,
    /// Initial modes.
    pub modes: Modes,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            dealers: 2,
            vehicles: 50,
            yards: 3,
            token_ttl: 600,
            shared_integrator: false,
            image_quirks: true,
            stats_keep: 20,
            verbose: false,
            public_url: None,
            modes: Modes::default(),
        }
    }
}

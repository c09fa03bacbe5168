//! The EasyCars HTTP client: token handling, retries, deadlines, response caps and
//! secret-safe errors, built to the API as EasyCars documents it (authentication, the Stock and Lead services,
//! result codes).
//!
//! # Behaviour
//! - **Routes.** `{base_url}/StockService/<Route>` and `{base_url}/LeadService/<Route>`, where
//!   `base_url` is an environment root ([`environment_root`]) or a simulator's
//!   `http://127.0.0.1:PORT/TestECService`.
//! - **Tokens.** `RequestToken?ClientID=..&ClientSecret=..` (query parameters, empty body) on
//!   the same service as the data call, so strict servers that bind a token to its service work.
//!   Tokens are cached process-wide per (base URL, service, ClientID, ClientSecret fingerprint)
//!   until `lifetime − token_refresh_margin`, where the lifetime is the JWT's `exp − iat`
//!   (clock-skew free), else `exp − now`, else 600 s, always clamped to 0..=24 h
//!   ([`MAX_TOKEN_LIFETIME`]). Concurrent misses for one key are single-flighted. A data call
//!   answered with Code 1 (HTTP 200 or 401) evicts the token and is retried **once** with a
//!   fresh one; a second Code 1 is [`ApiError::Auth`]. A Code 1 or a missing token at
//!   `RequestToken` itself is [`ApiError::Auth`] and never retried.
//! - **Retries.** Exponential backoff with full jitter (`backoff_base` · 2ⁿ capped at
//!   `backoff_cap`) on network errors, per-request timeouts, HTTP 5xx, HTTP 429 (waiting
//!   `Retry-After` instead when given, as delay-seconds or an HTTP-date), Code 5, Code 9 and
//!   malformed or truncated JSON. Code 1 (apart from the single token refresh) and Code 7 are
//!   never retried. Every attempt builds a fresh request. At most `max_retries` retries per
//!   HTTP exchange, and never past the total `deadline` of the logical call: when the next wait
//!   (or a `Retry-After`) would pass it, the call stops with [`ApiError::DeadlineExceeded`] (or
//!   [`ApiError::RateLimited`], without sleeping). Unusable `Retry-After` values are ignored;
//!   absurdly large ones count as "past the deadline". The deadline is never shorter than
//!   `request_timeout` (see [`ClientConfig::deadline`]).
//! - **Size cap.** Bodies are read chunk by chunk and refused with [`ApiError::TooLarge`] as
//!   soon as they pass `max_response_bytes` (a larger `Content-Length` is refused up front).
//! - **No redirects.** A 3xx answer is never followed (the request may carry the ClientSecret
//!   in its query or the AccountSecret in its body, and a redirect could send either to another
//!   host); it is [`ApiError::Redirected`], never retried. No `Referer` header is sent.
//!
//! # Security
//! No error, `Debug` output or log contains the ClientSecret, AccountSecret, AccountNumber, a
//! token, a request body or a URL query string: reqwest errors are stripped of their URL,
//! server-supplied messages are scrubbed of the caller's secrets, and [`Credentials`] and
//! [`AccessToken`] redact themselves. Credentials are held in [`Zeroizing`] strings. This module
//! writes no logs.
//!
//! # Cancellation
//! Every `async fn` here is cancellation-safe: the future may be dropped at any `.await`
//! (the Postgres side polls it in 100 ms ticks on a current-thread runtime and drops it when
//! the user cancels; see [`block_on_with_ticks`]). Dropping closes the in-flight HTTP
//! connection; the token cache is only written after a complete `RequestToken` answer and its
//! lock is never held across an `.await`; the single-flight lock is a `tokio::sync::Mutex`
//! whose guard is released on drop. Nothing is left half-updated.
//!
//! A [`Client`] owns a reqwest connection pool that belongs to the runtime it is first used
//! on; use one `Client` per runtime. The token cache is runtime-independent.

pub use crate::route::{Route, Service};
use crate::wire::{
    CreateLeadRequest, CreateQuotationRequest, LeadDetailResponse, LeadResponse, QuotationResponse,
    SearchContactsRequest, SearchContactsResponse, StockItem, TokenResponse,
};
use base64::Engine as _;
use futures_util::stream::{self, StreamExt as _};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The Test environment root (`.com.au`).
pub const TEST_ROOT: &str = "https://testmy.easycars.com.au/TestECService";
/// The Production environment root (`.net.au`).
pub const PRODUCTION_ROOT: &str = "https://my.easycars.net.au/ECService";

/// Lifetime assumed for a token whose JWT payload cannot be decoded.
pub const FALLBACK_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

/// Longest lifetime ever derived from a JWT, whatever its claims say (EasyCars issues 600 s).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest server-supplied text kept in an error message.
const MAX_MESSAGE_CHARS: usize = 300;

/// The environment root for a credential's environment (`Test` or `Production`,
/// case-insensitive), `None` for anything else.
pub fn environment_root(environment: &str) -> Option<&'static str> {
    if environment.eq_ignore_ascii_case("test") {
        Some(TEST_ROOT)
    } else if environment.eq_ignore_ascii_case("production") {
        Some(PRODUCTION_ROOT)
    } else {
        None
    }
}

/// A current-thread runtime with IO and timers, as the Postgres backend uses.
pub fn new_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Run `fut` on `rt`, waking every `tick` to call `keep_going`; if it returns false the future
/// is dropped (cancelled) and `None` is returned. `keep_going` may also unwind (a Postgres
/// `ERROR` raised by an interrupt check): the future is dropped during unwinding, which is safe.
pub fn block_on_with_ticks<F: Future>(
    rt: &tokio::runtime::Runtime,
    fut: F,
    tick: Duration,
    mut keep_going: impl FnMut() -> bool,
) -> Option<F::Output> {
    rt.block_on(async move {
        let mut fut = std::pin::pin!(fut);
        loop {
            match tokio::time::timeout(tick, fut.as_mut()).await {
                Ok(v) => return Some(v),
                Err(_) => {
                    if !keep_going() {
                        return None;
                    }
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Configuration and credentials
// ---------------------------------------------------------------------------------------------

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Environment root, e.g. `https://my.easycars.net.au/ECService` or
    /// `http://127.0.0.1:PORT/TestECService`; `/StockService/<Route>` and
    /// `/LeadService/<Route>` are appended. Default: the Test root.
    pub base_url: String,
    /// Timeout of one HTTP exchange, body included (default 30 s).
    pub request_timeout: Duration,
    /// Retries per HTTP exchange after the first attempt (default 3).
    pub max_retries: u32,
    /// Total budget of one logical call, token fetch and retries included (default 120 s).
    ///
    /// Callers should set `deadline >= request_timeout`: a shorter deadline would silently cut
    /// every exchange to it, so [`Client::new`] raises it to `request_timeout` (see
    /// [`Client::config`] for the effective value). Give it more than `request_timeout` to leave
    /// room for retries after a slow attempt.
    pub deadline: Duration,
    /// Most requests in flight for fan-out calls such as [`Client::get_lead_details`] (default 8).
    pub concurrency: usize,
    /// Largest accepted response body in bytes, enforced while streaming (default 512 MiB).
    pub max_response_bytes: u64,
    /// A cached token is replaced this long before it expires (default 30 s).
    pub token_refresh_margin: Duration,
    /// First backoff step (default 200 ms).
    pub backoff_base: Duration,
    /// Largest backoff step (default 5 s).
    pub backoff_cap: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: TEST_ROOT.to_string(),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            deadline: Duration::from_secs(120),
            concurrency: 8,
            max_response_bytes: 512 * 1024 * 1024,
            token_refresh_margin: Duration::from_secs(30),
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
        }
    }
}

/// Integrator and dealer credentials. `Debug` shows only the ClientID.
// SECURITY: every field is zeroized on drop; the Debug impl redacts all but the ClientID.
#[derive(Clone)]
pub struct Credentials {
    /// Integrator ClientID (used only for RequestToken).
    pub client_id: Zeroizing<String>,
    /// Integrator ClientSecret (used only for RequestToken).
    pub client_secret: Zeroizing<String>,
    /// Dealer AccountNumber (sent in every data body).
    pub account_number: Zeroizing<String>,
    /// Dealer AccountSecret (sent in every data body).
    pub account_secret: Zeroizing<String>,
}

impl Credentials {
    /// Build from plain strings.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        account_number: impl Into<String>,
        account_secret: impl Into<String>,
    ) -> Self {
        Credentials {
            client_id: Zeroizing::new(client_id.into()),
            client_secret: Zeroizing::new(client_secret.into()),
            account_number: Zeroizing::new(account_number.into()),
            account_secret: Zeroizing::new(account_secret.into()),
        }
    }

    /// The values that must never appear in output.
    /// Every value that must never appear in an error or log: the ClientID too, since with the
    /// ClientSecret it names the integrator account.
    fn secrets(&self) -> [&str; 4] {
        [
            self.client_id.as_str(),
            self.client_secret.as_str(),
            self.account_number.as_str(),
            self.account_secret.as_str(),
        ]
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &"***")
            .field("client_secret", &"***")
            .field("account_number", &"***")
            .field("account_secret", &"***")
            .finish()
    }
}

/// A bearer token. `Debug` redacts it.
#[derive(Clone)]
pub struct AccessToken {
    token: Zeroizing<String>,
    lifetime: Duration,
}

impl AccessToken {
    /// The token text (for an `Authorization: Bearer` header only).
    pub fn expose_secret(&self) -> &str {
        &self.token
    }

    /// The lifetime derived from the JWT (see [`token_lifetime`]).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"***")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// A `GetLeadDetail` answer: typed, plus the JSON object exactly as received (envelope
/// included), which the FDW stores as raw data.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadDetail {
    /// The typed response.
    pub detail: LeadDetailResponse,
    /// The raw response object.
    pub raw: Map<String, Value>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Everything a call can fail with. Messages never contain secrets, tokens, request bodies or
/// URL query strings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Bad ClientID/ClientSecret, a rejected token after one refresh, or a Code 1 account error.
    #[error("EasyCars authentication failed: {message}")]
    Auth {
        /// Server text (scrubbed).
        message: String,
    },
    /// Code 7 (Failed): validation error, lead not found, ... Never retried.
    #[error("EasyCars rejected the request: {message}")]
    Validation {
        /// Server text (scrubbed).
        message: String,
    },
    /// Code 5 (Warning), still returned after the retries.
    #[error("EasyCars returned a warning: {message}")]
    Warning {
        /// Server text (scrubbed).
        message: String,
    },
    /// Code 9 (SystemError), still returned after the retries.
    #[error("EasyCars system error: {message}")]
    System {
        /// Server text (scrubbed).
        message: String,
    },
    /// An undocumented `Code`.
    #[error("EasyCars returned undocumented code {code} from {route}: {message}")]
    UnknownCode {
        /// Route, e.g. `StockService/GetAdvertisementStocks`.
        route: &'static str,
        /// The code.
        code: i64,
        /// Server text (scrubbed).
        message: String,
    },
    /// An HTTP status that is not an EasyCars envelope answer (5xx after retries, other 4xx).
    #[error("EasyCars answered HTTP {status} on {route}")]
    Http {
        /// HTTP status.
        status: u16,
        /// Route.
        route: &'static str,
    },
    /// A 3xx answer. Redirects are never followed (they could carry the secrets elsewhere) nor
    /// retried; the `Location` is not kept. Usually a wrong `base_url` (e.g. http instead of
    /// https, or a missing path).
    #[error("EasyCars answered with a redirect (HTTP {status}) on {route}; redirects are not followed, check the base URL")]
    Redirected {
        /// HTTP status (300-399).
        status: u16,
        /// Route.
        route: &'static str,
    },
    /// HTTP 429 after the retries, or a `Retry-After` longer than the remaining deadline.
    #[error("EasyCars rate limit on {route} (retry after {retry_after:?})")]
    RateLimited {
        /// Route.
        route: &'static str,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// One HTTP exchange took longer than `request_timeout` (after the retries).
    #[error("EasyCars request to {route} timed out")]
    Timeout {
        /// Route.
        route: &'static str,
    },
    /// Connection, TLS or transfer failure (after the retries).
    #[error("network error calling EasyCars {route}: {detail}")]
    Network {
        /// Route.
        route: &'static str,
        /// Sanitised cause (no URL).
        detail: String,
    },
    /// A body that is not the expected JSON (after the retries).
    #[error("malformed response from EasyCars {route}: {detail}")]
    Malformed {
        /// Route.
        route: &'static str,
        /// Sanitised parser message.
        detail: String,
    },
    /// A body larger than `max_response_bytes`.
    #[error("response from EasyCars {route} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Route.
        route: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The total deadline of the logical call ran out.
    #[error("EasyCars {route}: deadline exceeded after {attempts} attempt(s); last error: {last}")]
    DeadlineExceeded {
        /// Route.
        route: &'static str,
        /// HTTP attempts made (token requests included).
        attempts: u32,
        /// The last error seen, as text.
        last: String,
    },
    /// A bad configuration or an unserialisable request.
    #[error("invalid EasyCars client input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
}

impl ApiError {
    /// Whether the same call might succeed later (transient server or network trouble).
    pub fn retryable(&self) -> bool {
        match self {
            ApiError::Warning { .. }
            | ApiError::System { .. }
            | ApiError::RateLimited { .. }
            | ApiError::Timeout { .. }
            | ApiError::Network { .. }
            | ApiError::Malformed { .. }
            | ApiError::DeadlineExceeded { .. } => true,
            ApiError::Http { status, .. } => *status >= 500 || *status == 429,
            ApiError::Auth { .. }
            | ApiError::Validation { .. }
            | ApiError::UnknownCode { .. }
            | ApiError::Redirected { .. }
            | ApiError::TooLarge { .. }
            | ApiError::InvalidInput { .. } => false,
        }
    }

    /// Whether this is an authentication failure.
    pub fn is_auth(&self) -> bool {
        matches!(self, ApiError::Auth { .. })
    }

    /// HTTP attempts made, where known.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            ApiError::DeadlineExceeded { attempts, .. } => Some(*attempts),
            ApiError::Auth { .. }
            | ApiError::Validation { .. }
            | ApiError::Warning { .. }
            | ApiError::System { .. }
            | ApiError::UnknownCode { .. }
            | ApiError::Http { .. }
            | ApiError::Redirected { .. }
            | ApiError::RateLimited { .. }
            | ApiError::Timeout { .. }
            | ApiError::Network { .. }
            | ApiError::Malformed { .. }
            | ApiError::TooLarge { .. }
            | ApiError::InvalidInput { .. } => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secret scrubbing
// ---------------------------------------------------------------------------------------------

/// The secrets of one logical call, used to scrub any text that leaves this module.
struct Scrub<'a> {
    creds: &'a Credentials,
    token: Option<Zeroizing<String>>,
}

impl Scrub<'_> {
    // SECURITY: every string placed in an ApiError passes through here.
    fn clean(&self, text: &str) -> String {
        let mut out = strip_url_queries(text);
        let token = self.token.as_ref().map(|t| t.as_str());
        for s in self.creds.secrets().into_iter().chain(token) {
            out = replace_ignore_ascii_case(&out, s, "***");
        }
        truncate_chars(&out, MAX_MESSAGE_CHARS)
    }
}

/// `text` with every occurrence of `needle` replaced, ignoring ASCII case: a server may echo a
/// GUID secret in upper or lower case.
fn replace_ignore_ascii_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_owned();
    }
    // ASCII lower-casing keeps every byte offset, so positions found in the folded copy are
    // positions (and char boundaries) in the original.
    let folded = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = folded[at..].find(&needle) {
        out.push_str(&text[at..at + found]);
        out.push_str(with);
        at += found + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// Remove `?query` and `#fragment` from every `scheme://…` substring (linear time).
fn strip_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_url = false;
    let mut skipping = false;
    let mut prev = ['\0'; 2];
    for c in text.chars() {
        let boundary = c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '<' | ',');
        if boundary {
            in_url = false;
            skipping = false;
            prev = ['\0'; 2];
            out.push(c);
            continue;
        }
        if skipping {
            continue;
        }
        if !in_url && prev == [':', '/'] && c == '/' {
            in_url = true;
        }
        if in_url && (c == '?' || c == '#') {
            skipping = true;
            continue;
        }
        out.push(c);
        prev = [prev[1], c];
    }
    out
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A reqwest error as text, without its URL.
// SECURITY: reqwest errors carry the request URL, which for RequestToken holds the ClientSecret.
fn reqwest_detail(e: reqwest::Error, scrub: &Scrub<'_>) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    scrub.clean(&text)
}

// ---------------------------------------------------------------------------------------------
// Token cache
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    base: String,
    service: Service,
    client_id: String,
    /// Keyed SipHash of the ClientSecret, so a caller with the right ClientID but a wrong
    /// secret never receives a token cached for someone else.
    secret_fp: u64,
}

struct Cached {
    token: Zeroizing<String>,
    refresh_at: Instant,
}

/// Process-wide token cache.
static TOKENS: LazyLock<Mutex<HashMap<CacheKey, Cached>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Per-key single-flight locks for RequestToken.
static FETCH_LOCKS: LazyLock<Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Process-random key for secret fingerprints.
static FP_STATE: LazyLock<RandomState> = LazyLock::new(RandomState::new);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drop every cached token (all clients in the process).
pub fn clear_token_cache() {
    lock(&TOKENS).clear();
}

/// The lifetime of a JWT (payload as in [`crate::wire::TokenClaims`]): `exp − iat`, else
/// `exp − now`, else [`FALLBACK_TOKEN_LIFETIME`]; clamped to `0..=`[`MAX_TOKEN_LIFETIME`].
///
/// The token comes from the network, so nothing here trusts it: `exp`/`iat` may be integers or
/// (per RFC 7519) non-integer numbers, anything else counts as absent; arithmetic is done in
/// `i128`, so `exp = i64::MAX` or a negative `iat` cannot overflow; `iat >= exp` (a token born
/// expired) is a zero lifetime, and a zero lifetime is never cached.
pub fn token_lifetime(token: &str) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    token_lifetime_at(token, now)
}

/// [`token_lifetime`] with `now` given (unix seconds).
fn token_lifetime_at(token: &str, now: i64) -> Duration {
    let claims = token.split('.').nth(1).and_then(|p| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        Some((
            numeric_date(v.get("exp")?)?,
            v.get("iat").and_then(numeric_date),
        ))
    });
    let secs = match claims {
        Some((exp, Some(iat))) => i128::from(exp) - i128::from(iat),
        Some((exp, None)) => i128::from(exp) - i128::from(now),
        None => return FALLBACK_TOKEN_LIFETIME,
    };
    let max = i128::from(MAX_TOKEN_LIFETIME.as_secs());
    Duration::from_secs(u64::try_from(secs.clamp(0, max)).unwrap_or(0))
}

/// A JWT NumericDate (seconds since the epoch): an integer, or a finite non-integer number
/// truncated towards zero; out-of-range values saturate. `None` for anything that is not a
/// JSON number.
fn numeric_date(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    // `as` saturates for finite floats (and the value is finite: JSON has no NaN or infinity).
    v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)
}

/// `Instant::now() + d`, saturating instead of panicking on overflow (a century is far enough).
fn instant_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 60 * 60)))
        .unwrap_or(now)
}

/// A `Retry-After` value as a wait: delay-seconds (saturating, so an absurdly large number
/// means "longer than any deadline" rather than "absent"), or an HTTP-date (one in the past
/// means no wait). Anything else (negative, fractional, empty, garbage) is `None`.
fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let s = value.to_str().ok()?.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs = s
            .bytes()
            .try_fold(0u64, |acc, b| {
                acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(s).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// Retry bookkeeping of one logical call.
struct Budget {
    deadline_at: Instant,
    attempts: u32,
}

/// The result of one HTTP attempt.
enum Attempt {
    /// A Code 0 answer, as the bytes received: each caller parses only what it needs.
    Done(Answer),
    Retry {
        err: ApiError,
        retry_after: Option<Duration>,
    },
    Fail(ApiError),
}

/// The EasyCars client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    base: String,
    /// A hard end for every logical call, whatever `deadline` says: the end of the sync run the
    /// calls belong to (see [`Client::limit_until`]).
    /// Shared by clones, which serve the same calls.
    not_after: Arc<std::sync::Mutex<Option<Instant>>>,
    /// A lower bound than `concurrency` on calls in flight (0: none), see [`Client::limit_in_flight`].
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish()
    }
}

impl Client {
    /// Build a client. Fails on an unusable `base_url` (not http/https, with a query or
    /// fragment) or zero timeouts. A `deadline` shorter than `request_timeout` is raised to it
    /// (see [`ClientConfig::deadline`]).
    ///
    /// The HTTP client follows no redirects and sends no `Referer`.
    pub fn new(mut config: ClientConfig) -> Result<Client, ApiError> {
        let invalid = |m: &str| ApiError::InvalidInput { message: m.into() };
        let base = config.base_url.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|_| invalid("base_url is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("base_url must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("base_url must not have a query or fragment"));
        }
        if url.password().is_some() || !url.username().is_empty() {
            return Err(invalid("base_url must not contain user information"));
        }
        if config.request_timeout.is_zero() || config.deadline.is_zero() {
            return Err(invalid("request_timeout and deadline must be positive"));
        }
        // A deadline shorter than one exchange would silently cut every exchange to it.
        config.deadline = config.deadline.max(config.request_timeout);
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            // SECURITY: a redirect could carry the RequestToken query (ClientSecret) or a data
            // body (AccountSecret) to another host; 3xx answers become ApiError::Redirected.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("easycars-pg/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| invalid("cannot build the HTTP client"))?;
        Ok(Client {
            http,
            config: Arc::new(config),
            base,
            not_after: Arc::new(std::sync::Mutex::new(None)),
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        })
    }

    /// A client on the same connection pool with limits of its own ([`Client::limit_until`],
    /// [`Client::limit_in_flight`]): one per scan or fetch, so limits set for one dealership's
    /// run never reach the calls of another that are still in flight.
    pub fn with_own_limits(&self) -> Client {
        Client {
            not_after: Arc::new(std::sync::Mutex::new(None)),
            in_flight: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            ..self.clone()
        }
    }

    /// Keeps fan-out calls ([`Client::get_lead_details`]) to at most `n` in flight (`None`: the
    /// configured `concurrency`): the share of a cap held elsewhere, such as the slots of one
    /// integrator account across database sessions.
    pub fn limit_in_flight(&self, n: Option<usize>) {
        self.in_flight
            .store(n.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// Calls a fan-out may have in flight now.
    fn fan_out(&self) -> usize {
        match self.in_flight.load(std::sync::atomic::Ordering::Relaxed) {
            0 => self.config.concurrency.max(1),
            n => n.min(self.config.concurrency.max(1)),
        }
    }

    /// Ends every logical call started from now on no later than `at` (retries and backoff
    /// included), or lifts that limit with `None`. A sync run sets its total deadline this way,
    /// so a hung EasyCars account costs it at most that, however many calls the run makes.
    pub fn limit_until(&self, at: Option<Instant>) {
        *self.not_after.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn budget(&self) -> Budget {
        let own = instant_after(self.config.deadline);
        let cap = *self.not_after.lock().unwrap_or_else(|e| e.into_inner());
        Budget {
            deadline_at: cap.map_or(own, |c| c.min(own)),
            attempts: 0,
        }
    }

    fn key(&self, service: Service, creds: &Credentials) -> CacheKey {
        CacheKey {
            base: self.base.clone(),
            service,
            client_id: creds.client_id.to_string(),
            secret_fp: FP_STATE.hash_one(creds.client_secret.as_bytes()),
        }
    }

    fn url(&self, route: Route) -> Result<reqwest::Url, ApiError> {
        reqwest::Url::parse(&format!("{}/{}", self.base, route.path())).map_err(|_| {
            ApiError::InvalidInput {
                message: "cannot build the request URL".into(),
            }
        })
    }

    // -----------------------------------------------------------------------------------------
    // Public calls
    // -----------------------------------------------------------------------------------------

    /// Request a fresh StockService token (bypassing and then refreshing the cache). Useful as
    /// a connection test: it checks ClientID/ClientSecret only.
    pub async fn request_token(&self, creds: &Credentials) -> Result<AccessToken, ApiError> {
        let mut budget = self.budget();
        let key = self.key(Service::Stock, creds);
        let (token, lifetime) = self
            .fetch_token(Service::Stock, creds, &key, &mut budget)
            .await?;
        Ok(AccessToken { token, lifetime })
    }

    /// `GetAdvertisementStocks`: every stock item, exactly as received. `YardCode` is sent only
    /// when `yard_code` is non-empty.
    pub async fn get_stock(
        &self,
        creds: &Credentials,
        yard_code: Option<&str>,
    ) -> Result<Vec<StockItem>, ApiError> {
        let route = Route::GetAdvertisementStocks.path();
        self.get_stock_raw(creds, yard_code)
            .await?
            .iter()
            .map(|raw| {
                serde_json::from_str::<StockItem>(raw).map_err(|_| ApiError::Malformed {
                    route,
                    detail: "a StockList element is not an object".into(),
                })
            })
            .collect()
    }

    /// `GetAdvertisementStocks` with every item kept as the JSON text received, inside the
    /// answer itself: the answer is never built into a tree nor copied item by item, so memory
    /// stays near its size; callers parse one item at a time (the foreign data wrapper does, row
    /// by row).
    pub async fn get_stock_raw(
        &self,
        creds: &Credentials,
        yard_code: Option<&str>,
    ) -> Result<RawStock, ApiError> {
        let mut body = Map::new();
        if let Some(y) = yard_code.filter(|y| !y.is_empty()) {
            body.insert("YardCode".into(), Value::String(y.to_string()));
        }
        let route = Route::GetAdvertisementStocks.path();
        let answer = self
            .data_call(Route::GetAdvertisementStocks, creds, body)
            .await?;
        let malformed = |detail: &str| ApiError::Malformed {
            route,
            detail: detail.into(),
        };
        // The envelope check already found the items, in the same pass over the answer.
        let spans = match answer.stock_list {
            StockList::Absent => Vec::new(),
            StockList::NotArray => return Err(malformed("StockList is not an array")),
            StockList::Items(spans) => spans,
        };
        // The answer parsed as JSON, so it is UTF-8.
        let text =
            String::from_utf8(answer.body).map_err(|_| malformed("the answer is not UTF-8"))?;
        if spans
            .iter()
            .any(|&(start, end)| !text.get(start..end).is_some_and(|t| t.starts_with('{')))
        {
            return Err(malformed("a StockList element is not an object"));
        }
        Ok(RawStock { text, spans })
    }

    /// `GetLeadDetail` for one lead: typed and raw.
    pub async fn get_lead_detail(
        &self,
        creds: &Credentials,
        lead_number: &str,
    ) -> Result<LeadDetail, ApiError> {
        let route = Route::GetLeadDetail.path();
        let mut body = Map::new();
        body.insert("LeadNumber".into(), Value::String(lead_number.to_string()));
        let answer = self.data_call(Route::GetLeadDetail, creds, body).await?;
        let Value::Object(raw) = object(route, &answer.body)? else {
            return Err(ApiError::Malformed {
                route,
                detail: "the answer is not a JSON object".into(),
            });
        };
        let detail = typed(route, creds, Value::Object(raw.clone()))?;
        Ok(LeadDetail { detail, raw })
    }

    /// `GetLeadDetail` for many leads, at most `concurrency` in flight, results in input order.
    /// Each lead is its own logical call (own deadline and retries); the token is fetched once
    /// up front, and if that fails every lead gets the same error.
    pub async fn get_lead_details(
        &self,
        creds: &Credentials,
        lead_numbers: &[String],
    ) -> Vec<(String, Result<LeadDetail, ApiError>)> {
        if lead_numbers.is_empty() {
            return Vec::new();
        }
        let mut budget = self.budget();
        if let Err(e) = self.token(Service::Lead, creds, &mut budget).await {
            return lead_numbers
                .iter()
                .map(|n| (n.clone(), Err(e.clone())))
                .collect();
        }
        let mut out: Vec<(usize, String, Result<LeadDetail, ApiError>)> =
            stream::iter(lead_numbers.iter().cloned().enumerate())
                .map(|(i, n)| async move {
                    let r = self.get_lead_detail(creds, &n).await;
                    (i, n, r)
                })
                .buffer_unordered(self.fan_out())
                .collect()
                .await;
        out.sort_by_key(|(i, _, _)| *i);
        out.into_iter().map(|(_, n, r)| (n, r)).collect()
    }

    /// `CreateLead`. `AccountNumber`/`AccountSecret` are taken from `creds` (the request's own
    /// values are replaced).
    pub async fn create_lead(
        &self,
        creds: &Credentials,
        req: &CreateLeadRequest,
    ) -> Result<LeadResponse, ApiError> {
        self.typed_call(Route::CreateLead, creds, req).await
    }

    /// `UpdateLead` (only the request's present fields change). Account fields from `creds`.
    pub async fn update_lead(
        &self,
        creds: &Credentials,
        req: &crate::wire::UpdateLeadRequest,
    ) -> Result<LeadResponse, ApiError> {
        self.typed_call(Route::UpdateLead, creds, req).await
    }

    /// `SearchContacts`. Account fields from `creds`.
    pub async fn search_contacts(
        &self,
        creds: &Credentials,
        req: &SearchContactsRequest,
    ) -> Result<SearchContactsResponse, ApiError> {
        self.typed_call(Route::SearchContacts, creds, req).await
    }

    /// `CreateQuotation`. Account fields from `creds`.
    pub async fn create_quotation(
        &self,
        creds: &Credentials,
        req: &CreateQuotationRequest,
    ) -> Result<QuotationResponse, ApiError> {
        self.typed_call(Route::CreateQuotation, creds, req).await
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing
    // -----------------------------------------------------------------------------------------

    async fn typed_call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        route: Route,
        creds: &Credentials,
        req: &Req,
    ) -> Result<Resp, ApiError> {
        let body = match serde_json::to_value(req) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ApiError::InvalidInput {
                    message: format!("the {} request is not a JSON object", route.name()),
                })
            }
        };
        let answer = self.data_call(route, creds, body).await?;
        typed(route.path(), creds, object(route.path(), &answer.body)?)
    }

    /// A data call: body + account fields, bearer token, retries, and the single token refresh
    /// on Code 1. Returns the answer object (Code 0).
    async fn data_call(
        &self,
        route: Route,
        creds: &Credentials,
        mut body: Map<String, Value>,
    ) -> Result<Answer, ApiError> {
        let (service, name) = (route.service(), route.name());
        // SECURITY: the body holds the AccountSecret; it is zeroized on drop and never printed.
        body.insert(
            "AccountNumber".into(),
            Value::String(creds.account_number.to_string()),
        );
        body.insert(
            "AccountSecret".into(),
            Value::String(creds.account_secret.to_string()),
        );
        let bytes =
            Zeroizing::new(
                serde_json::to_vec(&body).map_err(|_| ApiError::InvalidInput {
                    message: format!("cannot serialise the {name} request"),
                })?,
            );
        for v in body.values_mut() {
            if let Value::String(s) = v {
                zeroize::Zeroize::zeroize(s);
            }
        }
        drop(body);
        let url = self.url(route)?;
        let mut budget = self.budget();
        let key = self.key(service, creds);
        let mut refreshed = false;
        loop {
            let token = self.token(service, creds, &mut budget).await?;
            let scrub = Scrub {
                creds,
                token: Some(token.clone()),
            };
            let make = || {
                let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.as_str()))
                    .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
                auth.set_sensitive(true);
                self.http
                    .post(url.clone())
                    .header(reqwest::header::AUTHORIZATION, auth)
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.to_vec())
            };
            match self.execute(route.path(), &make, &mut budget, &scrub).await {
                Err(ApiError::Auth { .. }) if !refreshed => {
                    // The token was refused (expired, revoked): evict it and retry once.
                    evict(&key, &token);
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    /// A cached token or a fresh one (single-flighted per key).
    async fn token(
        &self,
        service: Service,
        creds: &Credentials,
        budget: &mut Budget,
    ) -> Result<Zeroizing<String>, ApiError> {
        let key = self.key(service, creds);
        if let Some(t) = cached(&key) {
            return Ok(t);
        }
        let gate = lock(&FETCH_LOCKS)
            .entry(key.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _guard = gate.lock().await;
        if let Some(t) = cached(&key) {
            return Ok(t);
        }
        Ok(self.fetch_token(service, creds, &key, budget).await?.0)
    }

    /// RequestToken, then cache the token.
    async fn fetch_token(
        &self,
        service: Service,
        creds: &Credentials,
        key: &CacheKey,
        budget: &mut Budget,
    ) -> Result<(Zeroizing<String>, Duration), ApiError> {
        let token_route = Route::RequestToken(service);
        let route = token_route.path();
        let mut url = self.url(token_route)?;
        // SECURITY: the URL now holds the ClientSecret; it is never formatted into any output.
        url.query_pairs_mut()
            .append_pair("ClientID", &creds.client_id)
            .append_pair("ClientSecret", &creds.client_secret);
        let url = Zeroizing::new(url.to_string());
        let scrub = Scrub { creds, token: None };
        let make = || self.http.post(url.as_str()).body(Vec::new());
        let answer = self.execute(route, &make, budget, &scrub).await?;
        let resp: TokenResponse = typed(route, creds, object(route, &answer.body)?)?;
        let token = match resp.token {
            Some(t) if !t.is_empty() => Zeroizing::new(t),
            _ => {
                return Err(ApiError::Auth {
                    message: "RequestToken returned no token".into(),
                })
            }
        };
        let lifetime = token_lifetime(&token);
        if let Some(valid) = lifetime.checked_sub(self.config.token_refresh_margin) {
            lock(&TOKENS).insert(
                key.clone(),
                Cached {
                    token: token.clone(),
                    refresh_at: instant_after(valid),
                },
            );
        }
        Ok((token, lifetime))
    }

    /// One HTTP exchange with retries, backoff and the deadline.
    async fn execute(
        &self,
        route: &'static str,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
        budget: &mut Budget,
        scrub: &Scrub<'_>,
    ) -> Result<Answer, ApiError> {
        let mut retries = 0u32;
        let mut last: Option<ApiError> = None;
        loop {
            let remaining = budget.deadline_at.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(deadline(route, budget, last.as_ref()));
            }
            budget.attempts = budget.attempts.saturating_add(1);
            let per = self.config.request_timeout.min(remaining);
            let outcome = match tokio::time::timeout(per, self.attempt(route, make(), scrub)).await
            {
                Ok(o) => o,
                Err(_) if per < self.config.request_timeout => {
                    let err = ApiError::Timeout { route };
                    return Err(deadline(route, budget, Some(&err)));
                }
                Err(_) => Attempt::Retry {
                    err: ApiError::Timeout { route },
                    retry_after: None,
                },
            };
            let (err, retry_after) = match outcome {
                Attempt::Done(m) => return Ok(m),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { err, retry_after } => (err, retry_after),
            };
            if retries >= self.config.max_retries {
                return Err(err);
            }
            let wait = retry_after.unwrap_or_else(|| self.backoff(retries));
            // No `Instant + Duration` here: a server-chosen Retry-After may be u64::MAX seconds.
            if wait >= budget.deadline_at.saturating_duration_since(Instant::now()) {
                if retry_after.is_some() {
                    // The server asked for a longer pause than the budget allows.
                    return Err(err);
                }
                return Err(deadline(route, budget, Some(&err)));
            }
            retries += 1;
            last = Some(err);
            tokio::time::sleep(wait).await;
        }
    }

    /// Full-jitter exponential backoff for retry `n` (0-based).
    fn backoff(&self, n: u32) -> Duration {
        let base = self.config.backoff_base.as_nanos();
        let cap = self.config.backoff_cap.as_nanos();
        let step = base.saturating_mul(1u128 << n.min(40)).min(cap);
        if step == 0 {
            return Duration::ZERO;
        }
        let r = u128::from(RandomState::new().hash_one(Instant::now()));
        Duration::from_nanos(((r % (step + 1)).min(u128::from(u64::MAX))) as u64)
    }

    /// Send one request and classify the answer.
    async fn attempt(
        &self,
        route: &'static str,
        rb: reqwest::RequestBuilder,
        scrub: &Scrub<'_>,
    ) -> Attempt {
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return transport_error(route, e, scrub),
        };
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Attempt::Retry {
                err: ApiError::RateLimited { route, retry_after },
                retry_after,
            };
        }
        if status.is_redirection() {
            // Never followed (the client's policy is `none`): the Location is not even read.
            return Attempt::Fail(ApiError::Redirected {
                status: status.as_u16(),
                route,
            });
        }
        if status.is_server_error() {
            return Attempt::Retry {
                err: ApiError::Http {
                    status: status.as_u16(),
                    route,
                },
                retry_after: None,
            };
        }
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        if !status.is_success() && !unauthorized {
            return Attempt::Fail(ApiError::Http {
                status: status.as_u16(),
                route,
            });
        }
        let body = match read_capped(resp, self.config.max_response_bytes).await {
            Ok(b) => b,
            Err(ReadError::TooLarge) => {
                return Attempt::Fail(ApiError::TooLarge {
                    route,
                    limit: self.config.max_response_bytes,
                })
            }
            Err(ReadError::Transport(e)) => return transport_error(route, e, scrub),
        };
        // Only the envelope is read here (the rest is validated and skipped, not built), so a
        // 100,000-vehicle answer is parsed into a tree at most once, by the caller that wants it.
        let parsed: Result<EnvelopeProbe, _> = serde_json::from_slice(&body);
        // Where the stock items are, found in the same pass (only stock answers have any).
        let stock_list = match parsed.as_ref().map(|p| p.stock_list.as_ref()) {
            Ok(Some(ItemList::Items(items))) => {
                let base = body.as_ptr() as usize;
                StockList::Items(
                    items
                        .iter()
                        .map(|raw| {
                            // The items borrow from `body`; should one ever not, its span is
                            // out of range and get_stock_raw reports the answer as malformed.
                            let start = (raw.get().as_ptr() as usize).checked_sub(base);
                            start.map_or((usize::MAX, usize::MAX), |start| {
                                (start, start.saturating_add(raw.get().len()))
                            })
                        })
                        .collect(),
                )
            }
            Ok(Some(ItemList::NotArray)) => StockList::NotArray,
            _ => StockList::Absent,
        };
        let map = match parsed {
            Ok(e) => e,
            Err(_) if unauthorized => return Attempt::Fail(auth_401()),
            Err(e) if e.is_data() => {
                return Attempt::Retry {
                    err: ApiError::Malformed {
                        route,
                        detail: "the answer is not a JSON object".into(),
                    },
                    retry_after: None,
                }
            }
            Err(e) => {
                return Attempt::Retry {
                    err: ApiError::Malformed {
                        route,
                        // serde_json's syntax errors name a position, never the input.
                        detail: scrub.clean(&e.to_string()),
                    },
                    retry_after: None,
                };
            }
        };
        let code = map.code.as_ref().and_then(Value::as_i64);
        let message = |default: &str| match map.error_message.as_ref() {
            Some(Value::String(s)) if !s.trim().is_empty() => scrub.clean(s),
            _ => default.to_string(),
        };
        if unauthorized {
            return Attempt::Fail(ApiError::Auth {
                message: message("HTTP 401 Unauthorized"),
            });
        }
        match code {
            Some(0) => {
                drop(map);
                Attempt::Done(Answer { body, stock_list })
            }
            Some(1) => Attempt::Fail(ApiError::Auth {
                message: message("authentication failed"),
            }),
            Some(5) => Attempt::Retry {
                err: ApiError::Warning {
                    message: message("warning"),
                },
                retry_after: None,
            },
            Some(7) => Attempt::Fail(ApiError::Validation {
                message: message("request failed"),
            }),
            Some(9) => Attempt::Retry {
                err: ApiError::System {
                    message: message("system error"),
                },
                retry_after: None,
            },
            Some(code) => Attempt::Fail(ApiError::UnknownCode {
                route,
                code,
                message: message(""),
            }),
            None => Attempt::Retry {
                err: ApiError::Malformed {
                    route,
                    detail: "the answer has no integer Code".into(),
                },
                retry_after: None,
            },
        }
    }
}

/// What every answer is checked for before its payload is read; a stock answer's items are
/// found in the same pass (validated, borrowed, not built).
#[derive(serde::Deserialize)]
struct EnvelopeProbe<'a> {
    #[serde(rename = "Code", default)]
    code: Option<Value>,
    #[serde(rename = "ErrorMessage", default)]
    error_message: Option<Value>,
    #[serde(rename = "StockList", default, borrow)]
    stock_list: Option<ItemList<'a>>,
}

/// A `StockList` value: the items' texts, or a note that it is not an array (which does not
/// make the envelope unreadable: get_stock_raw reports it).
enum ItemList<'a> {
    Items(Vec<&'a RawValue>),
    NotArray,
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for ItemList<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ItemList<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a StockList")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                    items.push(raw);
                }
                Ok(ItemList::Items(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(ItemList::NotArray)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ItemList::NotArray)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ItemList::NotArray)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ItemList::NotArray)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ItemList::NotArray)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ItemList::NotArray)
            }
        }
        d.deserialize_any(V)
    }
}

/// A Code 0 answer: its bytes, and for a stock answer where each StockList item is in them.
struct Answer {
    body: Vec<u8>,
    stock_list: StockList,
}

enum StockList {
    Absent,
    NotArray,
    Items(Vec<(usize, usize)>),
}

/// A GetAdvertisementStocks answer as received, with where each StockList item's text is.
pub struct RawStock {
    text: String,
    spans: Vec<(usize, usize)>,
}

impl RawStock {
    /// How many items the StockList has.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The size of the answer text held, in bytes.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Item `i`'s JSON text, exactly as received (an object).
    pub fn get(&self, i: usize) -> &str {
        let (start, end) = self.spans[i];
        &self.text[start..end]
    }

    /// Every item's text, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|&(start, end)| &self.text[start..end])
    }

    /// The items' positions in the answer, for work split across threads (see [`RawStock::get`]).
    pub fn spans(&self) -> &[(usize, usize)] {
        &self.spans
    }

    /// The text at a position from [`RawStock::spans`].
    pub fn at(&self, span: (usize, usize)) -> &str {
        &self.text[span.0..span.1]
    }
}

/// An answer's bytes as a JSON object (already checked by `attempt`).
fn object(route: &'static str, answer: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(answer) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::Malformed {
            route,
            detail: "the answer is not a JSON object".into(),
        }),
    }
}

fn auth_401() -> ApiError {
    ApiError::Auth {
        message: "HTTP 401 Unauthorized".into(),
    }
}

fn deadline(route: &'static str, budget: &Budget, last: Option<&ApiError>) -> ApiError {
    ApiError::DeadlineExceeded {
        route,
        attempts: budget.attempts,
        last: last.map_or_else(|| "none".to_string(), ToString::to_string),
    }
}

fn transport_error(route: &'static str, e: reqwest::Error, scrub: &Scrub<'_>) -> Attempt {
    let err = if e.is_timeout() {
        ApiError::Timeout { route }
    } else {
        ApiError::Network {
            route,
            detail: reqwest_detail(e, scrub),
        }
    };
    Attempt::Retry {
        err,
        retry_after: None,
    }
}

/// Deserialize a typed answer; the error text is scrubbed.
fn typed<T: DeserializeOwned>(
    route: &'static str,
    creds: &Credentials,
    v: Value,
) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::Malformed {
        route,
        detail: Scrub { creds, token: None }.clean(&e.to_string()),
    })
}

fn cached(key: &CacheKey) -> Option<Zeroizing<String>> {
    let mut cache = lock(&TOKENS);
    match cache.get(key) {
        Some(c) if c.refresh_at > Instant::now() => Some(c.token.clone()),
        Some(_) => {
            cache.remove(key);
            None
        }
        None => None,
    }
}

/// Evict `token` for `key` unless another task already replaced it.
fn evict(key: &CacheKey, token: &str) {
    let mut cache = lock(&TOKENS);
    if cache.get(key).is_some_and(|c| c.token.as_str() == token) {
        cache.remove(key);
    }
}

enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Read a body chunk by chunk, refusing it as soon as it passes `limit`.
async fn read_capped(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let initial = resp.content_length().unwrap_or(0).min(1 << 20) as usize;
    let mut buf = Vec::with_capacity(initial);
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if (buf.len() as u64).saturating_add(chunk.len() as u64) > limit {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_check_finds_the_stock_items_in_the_same_pass() {
        let body = br#"{"Code":0,"ErrorMessage":null,"StockList":[ {"StockNumber":"A"} , {"StockNumber":"B","X":[1,{"y":"}"}]} ]}"#;
        let probe: EnvelopeProbe = serde_json::from_slice(body).unwrap();
        assert_eq!(probe.code, Some(Value::from(0)));
        let Some(ItemList::Items(items)) = probe.stock_list else {
            panic!("items expected")
        };
        let texts: Vec<&str> = items.iter().map(|r| r.get()).collect();
        assert_eq!(
            texts,
            [
                r#"{"StockNumber":"A"}"#,
                r#"{"StockNumber":"B","X":[1,{"y":"}"}]}"#
            ]
        );
        for (list, not_array) in [
            (r#""oops""#, true),
            ("{}", true),
            ("3", true),
            ("[]", false),
        ] {
            let body = format!(r#"{{"Code":0,"StockList":{list}}}"#);
            let probe: EnvelopeProbe = serde_json::from_str(&body).unwrap();
            assert_eq!(
                matches!(probe.stock_list, Some(ItemList::NotArray)),
                not_array,
                "{list}"
            );
        }
        let probe: EnvelopeProbe = serde_json::from_str(r#"{"Code":0,"StockList":null}"#).unwrap();
        assert!(probe.stock_list.is_none());
    }

    #[test]
    fn environment_roots() {
        assert_eq!(environment_root("Test"), Some(TEST_ROOT));
        assert_eq!(environment_root("production"), Some(PRODUCTION_ROOT));
        assert_eq!(environment_root("Staging"), None);
        assert!(TEST_ROOT.contains(".com.au") && PRODUCTION_ROOT.contains(".net.au"));
    }

    #[test]
    fn credentials_debug_redacts() {
        let c = Credentials::new("CID", "CSECRET", "EC123456", "asecret");
        let d = format!("{c:?}");
        for s in ["CID", "CSECRET", "EC123456", "asecret"] {
            assert!(!d.contains(s), "{d}");
        }
    }

    #[test]
    fn scrub_removes_secrets_and_queries() {
        let c = Credentials::new("CID", "CSECRET", "EC123456", "asecret");
        let s = Scrub {
            creds: &c,
            token: Some(Zeroizing::new("tok.en.x".into())),
        };
        let out = s.clean(
            "error sending request for url (https://h/x/RequestToken?ClientID=CID&ClientSecret=ZZZ): \
             account EC123456 / asecret / CSECRET / tok.en.x",
        );
        for bad in ["ZZZ", "EC123456", "asecret", "CSECRET", "tok.en.x", "?"] {
            assert!(!out.contains(bad), "{out}");
        }
        assert!(out.contains("https://h/x/RequestToken)"));
        // Echoed in another case, and the ClientID too.
        let echoed = s.clean("bad client cid / Csecret / ec123456 / ASECRET for CID");
        for bad in ["cid", "CID", "Csecret", "ec123456", "ASECRET"] {
            assert!(!echoed.contains(bad), "{echoed}");
        }
        assert_eq!(truncate_chars(&"é".repeat(400), 300).chars().count(), 301);
        // Linear on long words.
        let long = format!("http://h/{}?q={}", "a".repeat(1 << 20), "b".repeat(1 << 20));
        let t0 = Instant::now();
        let out = s.clean(&long);
        assert!(!out.contains('b') && t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn token_lifetimes() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let t = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"HS256","typ":"JWT"}"#),
            enc(r#"{"ClientID":"X","nbf":100,"exp":700,"iat":100}"#)
        );
        assert_eq!(token_lifetime(&t), Duration::from_secs(600));
        assert_eq!(token_lifetime("garbage"), FALLBACK_TOKEN_LIFETIME);
        assert_eq!(token_lifetime("a.!!!.c"), FALLBACK_TOKEN_LIFETIME);
        let past = format!("h.{}.s", enc(r#"{"exp":5}"#));
        assert_eq!(token_lifetime(&past), Duration::ZERO);
    }

    #[test]
    fn hostile_token_lifetimes_are_bounded() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let tok = |payload: &str| format!("h.{}.s", enc(payload));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let day = MAX_TOKEN_LIFETIME;
        assert_eq!(day, Duration::from_secs(86_400));
        let zero = Duration::ZERO;
        let cases = [
            (r#"{"exp":9223372036854775807,"iat":0}"#.to_string(), day),
            // exp − iat overflows i64.
            (r#"{"exp":9223372036854775807,"iat":-1}"#.into(), day),
            (
                r#"{"exp":9223372036854775807,"iat":-9223372036854775808}"#.into(),
                day,
            ),
            (r#"{"exp":9223372036854775807}"#.into(), day),
            (r#"{"exp":18446744073709551615,"iat":0}"#.into(), day),
            (r#"{"exp":1e300,"iat":0}"#.into(), day),
            (format!(r#"{{"exp":{}}}"#, now + 10 * 86_400), day),
            // Negative, born expired, huge iat.
            (r#"{"exp":-5,"iat":0}"#.into(), zero),
            (r#"{"exp":-9223372036854775808}"#.into(), zero),
            (r#"{"exp":-1e300}"#.into(), zero),
            (r#"{"exp":700,"iat":900}"#.into(), zero),
            (
                format!(r#"{{"exp":{},"iat":{}}}"#, now + 600, now + 900),
                zero,
            ),
            (
                format!(r#"{{"exp":{},"iat":9223372036854775807}}"#, now + 600),
                zero,
            ),
            (
                r#"{"exp":-9223372036854775808,"iat":9223372036854775807}"#.into(),
                zero,
            ),
            // Non-integer NumericDates are truncated.
            (
                r#"{"exp":700.9,"iat":100.2}"#.into(),
                Duration::from_secs(600),
            ),
            // Not numbers: exp unusable → fallback; iat unusable → exp − now.
            (r#"{"exp":"700","iat":100}"#.into(), FALLBACK_TOKEN_LIFETIME),
            (r#"{"exp":null}"#.into(), FALLBACK_TOKEN_LIFETIME),
            (r#"{"exp":[1],"iat":0}"#.into(), FALLBACK_TOKEN_LIFETIME),
            (r#"[1,2]"#.into(), FALLBACK_TOKEN_LIFETIME),
            (format!(r#"{{"exp":{},"iat":"x"}}"#, now - 1), zero),
        ];
        for (payload, want) in &cases {
            assert_eq!(token_lifetime(&tok(payload)), *want, "{payload}");
        }
        // exp − now when there is no usable iat.
        let soon = token_lifetime(&tok(&format!(r#"{{"exp":{},"iat":"x"}}"#, now + 300)));
        assert!(
            soon <= Duration::from_secs(300) && soon >= Duration::from_secs(295),
            "{soon:?}"
        );
        assert_eq!(
            token_lifetime_at(&tok(r#"{"exp":1300}"#), 1000),
            Duration::from_secs(300)
        );
        assert_eq!(token_lifetime_at(&tok(r#"{"exp":1300}"#), i64::MIN), day);
        assert_eq!(token_lifetime_at(&tok(r#"{"exp":1300}"#), i64::MAX), zero);
    }

    #[test]
    fn retry_after_values() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 GMT
        let p = |v: &[u8]| parse_retry_after(&HeaderValue::from_bytes(v).unwrap(), now);
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(p(b"120"), secs(120));
        assert_eq!(p(b" 7 "), secs(7));
        assert_eq!(p(b"0"), secs(0));
        assert_eq!(p(b"18446744073709551615"), secs(u64::MAX));
        assert_eq!(p(b"18446744073709551616"), secs(u64::MAX));
        assert_eq!(p(b"99999999999999999999999999999999"), secs(u64::MAX));
        assert_eq!(p(b"Wed, 21 Oct 2015 07:30:00 GMT"), secs(120));
        assert_eq!(p(b"Wed, 21 Oct 2015 07:00:00 GMT"), secs(0));
        assert_eq!(p(b"Thu, 01 Jan 1970 00:00:00 GMT"), secs(0));
        assert!(p(b"Fri, 31 Dec 9999 23:59:59 GMT").is_some_and(|d| d > secs(1 << 37).unwrap()));
        for bad in [
            &b""[..],
            b"   ",
            b"-1",
            b"-18446744073709551616",
            b"+5",
            b"1.5",
            b"1e3",
            b"0x10",
            b"soon",
            b"Wed, 32 Oct 2015 07:30:00 GMT",
            b"\xff\xfe",
        ] {
            assert_eq!(p(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn instants_saturate() {
        let far = instant_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let c = Client::new(ClientConfig {
            base_url: "http://127.0.0.1:1/TestECService".into(),
            request_timeout: Duration::MAX,
            deadline: Duration::MAX,
            ..ClientConfig::default()
        })
        .unwrap();
        let b = c.budget();
        assert!(b.deadline_at > Instant::now());
    }

    #[test]
    fn deadline_is_raised_to_the_request_timeout() {
        let mk = |timeout: u64, deadline: u64| {
            Client::new(ClientConfig {
                base_url: "http://127.0.0.1:1/TestECService".into(),
                request_timeout: Duration::from_secs(timeout),
                deadline: Duration::from_secs(deadline),
                ..ClientConfig::default()
            })
            .unwrap()
            .config()
            .deadline
        };
        assert_eq!(mk(600, 120), Duration::from_secs(600));
        assert_eq!(mk(30, 120), Duration::from_secs(120));
        assert_eq!(mk(120, 120), Duration::from_secs(120));
    }

    #[test]
    fn redirects_are_not_retryable_and_show_no_url() {
        let e = ApiError::Redirected {
            status: 307,
            route: "StockService/RequestToken",
        };
        assert!(!e.retryable());
        let shown = e.to_string();
        assert!(shown.contains("307") && shown.contains("StockService/RequestToken"));
        assert!(!shown.contains("://") && !shown.contains('?'), "{shown}");
    }

    #[test]
    fn backoff_is_bounded() {
        let c = Client::new(ClientConfig {
            base_url: "http://127.0.0.1:1/TestECService".into(),
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(300),
            ..ClientConfig::default()
        })
        .unwrap();
        for n in 0..50 {
            assert!(c.backoff(n) <= Duration::from_millis(300));
        }
        assert!(c.backoff(0) <= Duration::from_millis(100));
    }

    #[test]
    fn bad_configs() {
        for base in ["ftp://x/y", "not a url", "http://h/x?a=1", "http://u:p@h/x"] {
            let e = Client::new(ClientConfig {
                base_url: base.into(),
                ..ClientConfig::default()
            })
            .unwrap_err();
            assert!(matches!(e, ApiError::InvalidInput { .. }), "{base}");
        }
    }

    #[test]
    fn retryable_classes() {
        assert!(ApiError::Http {
            status: 503,
            route: "r"
        }
        .retryable());
        assert!(!ApiError::Http {
            status: 404,
            route: "r"
        }
        .retryable());
        assert!(!ApiError::Validation {
            message: String::new()
        }
        .retryable());
        assert!(ApiError::Timeout { route: "r" }.retryable());
    }
}

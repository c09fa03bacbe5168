//! What every entity's fetch and write share: the session (credentials and the HTTP client),
//! the rows a scan gets ([`Item`]), the values pushed down ([`Pushed`]), and the stock answers,
//! kept per query execution in the executor's memory context.

use super::error::FdwError;
use super::integrator_cap::{self, Slots};
use super::runtime::block_on_interruptible;
use super::server::ServerConfig;
use easycars_api::client::{environment_root, Client, ClientConfig, Credentials};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One row from EasyCars. Lead and contact answers are small and parsed; a stock item stays the
/// JSON text received until its own row is built, so a large answer is never held as a tree.
pub enum Item {
    Parsed(Map<String, Value>),
    Stock(Rc<StockAnswer>, usize),
}

/// One GetAdvertisementStocks answer, items as received.
pub struct StockAnswer {
    items: easycars_api::client::RawStock,
    keys: std::cell::OnceCell<Vec<ItemKey>>,
}

/// What the first pass of a sync needs of an item, read without building the item: its
/// StockNumber and the MD5 of its text.
pub struct ItemKey {
    pub stock_number: Option<Value>,
    pub md5: [u8; 16],
}

impl StockAnswer {
    pub fn text(&self, i: usize) -> &str {
        self.items.get(i)
    }

    /// Every item's key, computed once per answer on all cores (pure Rust, no Postgres calls).
    pub fn keys(&self) -> &[ItemKey] {
        #[derive(serde::Deserialize)]
        struct Key {
            #[serde(rename = "StockNumber", default)]
            stock_number: Option<Value>,
        }
        self.keys.get_or_init(|| {
            let items = &self.items;
            super::runtime::parallel_map(items.spans(), |&span| {
                use md5::Digest;
                let text = items.at(span);
                ItemKey {
                    stock_number: serde_json::from_str::<Key>(text)
                        .ok()
                        .and_then(|k| k.stock_number),
                    md5: md5::Md5::digest(text.as_bytes()).into(),
                }
            })
        })
    }

    /// An item's MD5 if the keys are already known (a sync's second pass reuses the first's).
    pub fn known_md5(&self, i: usize) -> Option<[u8; 16]> {
        self.keys.get().map(|keys| keys[i].md5)
    }

    /// How many items the answer has.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bytes of the answer's items, as received.
    pub fn text_len(&self) -> usize {
        self.items.text_len()
    }

    /// An item's StockNumber as the text a filter compares with.
    pub fn stock_number_text(&self, i: usize) -> Option<std::borrow::Cow<'_, str>> {
        match &self.keys()[i].stock_number {
            Some(Value::String(s)) => Some(s.as_str().into()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string().into()),
        }
    }
}

/// Which item keys a scan reads, each with its slot in [`StockAnswer::fields`]'s result.
pub type SlotIndex = HashMap<&'static str, usize, std::hash::BuildHasherDefault<Fnv1a>>;

/// FNV-1a: item keys are short, and this is hashed 72 times per row.
#[derive(Default)]
pub struct Fnv1a(u64);

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

impl StockAnswer {
    /// Item `i`'s values for the keys in `index`, by slot; every other value is skipped without
    /// being built. None if the item is not an object serde can read (a lone surrogate escape).
    pub fn fields(&self, i: usize, index: &SlotIndex) -> Option<Vec<Option<Value>>> {
        use serde::de::DeserializeSeed;
        let mut de = serde_json::Deserializer::from_str(self.text(i));
        ItemSeed(index).deserialize(&mut de).ok()
    }
}

/// Reads an object into slots: values of indexed keys built, the rest skipped.
struct ItemSeed<'s>(&'s SlotIndex);

impl<'de> serde::de::DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Vec<Option<Value>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemSeed<'_> {
    type Value = Vec<Option<Value>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a stock item object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots = vec![None; self.0.len()];
        // A repeated key keeps its last value, as a parsed object would.
        while let Some(slot) = map.next_key_seed(KeySeed(self.0))? {
            match slot {
                Some(i) => slots[i] = Some(map.next_value::<Value>()?),
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(slots)
    }
}

/// A key, looked up in the index without being allocated.
struct KeySeed<'s>(&'s SlotIndex);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.get(key).copied())
    }
}

thread_local! {
    /// Stock answers of the query executions running now, by the execution's query memory
    /// context and (dealership, API root, yard): a sync reads its feed twice in one statement
    /// (keys, then the changed rows) and must see one answer, fetched once. An entry goes when its
    /// execution's context does, so the next statement, even inside the same function or
    /// procedure call, fetches again.
    static STOCK_ANSWERS: RefCell<HashMap<(usize, String), Rc<StockAnswer>>> =
        RefCell::new(HashMap::new());
}

/// Called when a query execution's memory context is reset or deleted: its answers go.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget_execution(scope: *mut std::ffi::c_void) {
    let scope = scope as usize;
    STOCK_ANSWERS.with_borrow_mut(|answers| answers.retain(|(s, _), _| *s != scope));
}

/// The GetAdvertisementStocks answer for `yard` (all yards if None): fetched once per query
/// execution and server, then shared. The first one of an execution may have been fetched ahead
/// by a sync worker (prefetch.rs); otherwise it is fetched here through `session`, opened on first
/// use.
pub(crate) fn stock_answer(
    session: &mut Option<Session>,
    server: &ServerConfig,
    yard: Option<&str>,
    execution: pgrx::pg_sys::MemoryContext,
) -> Result<Rc<StockAnswer>, FdwError> {
    let scope = execution as usize;
    let key = format!(
        "{}|{}|{}",
        server.dealership_id,
        server.base_url.as_deref().unwrap_or(""),
        yard.unwrap_or("\u{0}all")
    );
    let (cached, first_of_execution) = STOCK_ANSWERS.with_borrow(|answers| {
        (
            answers.get(&(scope, key.clone())).cloned(),
            !answers.keys().any(|(s, _)| *s == scope),
        )
    });
    if let Some(answer) = cached {
        return Ok(answer);
    }
    let ahead = if yard.is_none() {
        super::prefetch::take(server)
    } else {
        None
    };
    let items = match ahead {
        Some(answer) => answer?,
        None => {
            let s = match session {
                Some(s) => s,
                None => session.insert(self::session(server)?),
            };
            block_on_interruptible(s.client.get_stock_raw(&s.creds, yard))?
        }
    };
    let answer = Rc::new(StockAnswer {
        items,
        keys: std::cell::OnceCell::new(),
    });
    if first_of_execution {
        // SAFETY: `execution` is the running query's es_query_cxt (the executor passes it), alive
        // for this call. The callback struct is allocated in that context, so it lives exactly as
        // long as the context it watches; forget_execution only drops thread-local entries keyed
        // by the context's address and never dereferences `arg`. Backend thread, inside the
        // IterateForeignScan #[pg_guard], so an out-of-memory ERROR unwinds safely.
        unsafe {
            let cb = pgrx::pg_sys::MemoryContextAlloc(
                execution,
                std::mem::size_of::<pgrx::pg_sys::MemoryContextCallback>(),
            ) as *mut pgrx::pg_sys::MemoryContextCallback;
            (*cb).func = Some(forget_execution);
            (*cb).arg = execution as *mut std::ffi::c_void;
            (*cb).next = std::ptr::null_mut();
            pgrx::pg_sys::MemoryContextRegisterResetCallback(execution, cb);
        }
    }
    STOCK_ANSWERS.with_borrow_mut(|answers| answers.insert((scope, key), answer.clone()));
    Ok(answer)
}

/// The values pushed down for one column (several for `= ANY(...)` or repeated quals).
#[derive(Debug, Clone)]
pub struct Pushed {
    pub column: &'static str,
    pub key: &'static str,
    pub values: Vec<String>,
    pub constrained: bool,
}

thread_local! {
    /// One HTTP client (connection pool) per API root and settings, for the life of the backend.
    static CLIENTS: RefCell<HashMap<String, Client>> = RefCell::new(HashMap::new());
}

/// A dealership's decrypted credentials and the client for its API root.
pub struct Session {
    pub client: Client,
    pub creds: Credentials,
    /// This session's share of the integrator's concurrent calls, released when it drops.
    pub slots: Slots,
}

/// Loads the server's dealership credentials and the client to use with them, holding one of the
/// integrator's call slots (see integrator_cap.rs).
pub fn session(server: &ServerConfig) -> Result<Session, FdwError> {
    session_for_calls(server, 1)
}

/// The same, for up to `calls` calls in flight at once (lead lookups): the client is limited to
/// the slots it got.
pub fn session_for_calls(server: &ServerConfig, calls: usize) -> Result<Session, FdwError> {
    let (client, creds) = client_and_credentials(server, Pool::Backend)?;
    // A sync run's total deadline bounds every call of this scan (None outside a run).
    let run_end = run_deadline();
    client.limit_until(run_end);
    // The integrator's cap, waited for no longer than the run's end or one request's timeout.
    let cap = integrator_cap::cap();
    let wait_until =
        run_end.unwrap_or_else(|| Instant::now() + Duration::from_millis(server.timeout_ms));
    let slots = integrator_cap::acquire(&creds.client_id, calls, cap, wait_until)?;
    client.limit_in_flight((cap > 0).then(|| slots.count()));
    Ok(Session {
        client,
        creds,
        slots,
    })
}

/// Which connection pools a client uses: a connection is driven by the runtime that opened it.
#[derive(Clone, Copy)]
pub(crate) enum Pool {
    /// The backend's own waits (scans, writes).
    Backend,
    /// The background I/O thread (look-ahead fetches).
    Background,
}

/// The server's dealership credentials, decrypted, and a client for its API root with limits of
/// its own (the connection pool is shared per root and settings, for the life of the backend).
pub(crate) fn client_and_credentials(
    server: &ServerConfig,
    pool: Pool,
) -> Result<(Client, Credentials), FdwError> {
    // SECURITY: a server's base_url decides where decrypted secrets go, so it counts only on a
    // server a superuser owns; and whatever the root, it must be an allowed destination.
    if server.base_url.is_some() && !server.owner_is_superuser {
        return Err(FdwError::UntrustedBaseUrl);
    }
    let stored = crate::credentials::load_as_owner(server.dealership_id)?;
    let base_url = server
        .base_url
        .clone()
        .or_else(|| stored.base_url.clone())
        .or_else(|| environment_root(&stored.environment).map(str::to_owned))
        .ok_or(FdwError::Internal(
            "credentials name an unknown environment",
        ))?;
    crate::destination::check(&base_url).map_err(FdwError::Destination)?;
    let config = ClientConfig {
        base_url,
        request_timeout: Duration::from_millis(server.timeout_ms),
        max_retries: server.max_retries,
        concurrency: server.concurrency,
        max_response_bytes: server.max_response_bytes,
        ..ClientConfig::default()
    };
    let key = format!(
        "{}|{}|{}|{}|{}|{}",
        match pool {
            Pool::Backend => "backend",
            Pool::Background => "background",
        },
        config.base_url,
        server.timeout_ms,
        server.max_retries,
        server.concurrency,
        server.max_response_bytes
    );
    let client = CLIENTS.with_borrow_mut(|clients| -> Result<Client, FdwError> {
        if let Some(c) = clients.get(&key) {
            return Ok(c.with_own_limits());
        }
        let c = Client::new(config)?;
        clients.insert(key, c.clone());
        Ok(c.with_own_limits())
    })?;
    let creds = Credentials {
        client_id: stored.client_id,
        client_secret: stored.client_secret,
        account_number: stored.account_number,
        account_secret: stored.account_secret,
    };
    Ok((client, creds))
}

/// The end of the sync run this scan belongs to, from `easycars_run.deadline_at` (Unix seconds),
/// which the sync functions set for their transaction (`easycars.sync_deadline` after the run
/// began); `None` outside a run. A session may set it itself: it only ever limits its own calls.
fn run_deadline() -> Option<Instant> {
    run_deadline_from(
        &crate::gucs::current(c"easycars_run.deadline_at")?,
        SystemTime::now(),
    )
}

/// `deadline_at` (Unix seconds, as text) as an `Instant`: now when it has passed, `None` when unset
/// or not a number.
fn run_deadline_from(deadline_at: &str, now: SystemTime) -> Option<Instant> {
    let at: f64 = deadline_at
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())?;
    let now_secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    let left = (at - now_secs).clamp(0.0, 1e9);
    Some(Instant::now() + Duration::from_secs_f64(left))
}

/// The values without repeats, in first-seen order (linear: a sync pushes 100,000 of them).
fn distinct(values: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(values.len());
    values
        .iter()
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// The distinct values pushed down for `column`, if any were.
pub fn values_for(pushed: &[Pushed], column: &str) -> Option<Vec<String>> {
    pushed
        .iter()
        .find(|p| p.column == column)
        .map(|p| distinct(&p.values))
}

/// Refuses more than `limit` distinct values of `column`: each is one EasyCars call whose answer
/// this backend holds.
pub fn check_limit(pushed: &[Pushed], column: &'static str, limit: usize) -> Result<(), FdwError> {
    let count = values_for(pushed, column).map_or(0, |v| v.len());
    if count > limit {
        return Err(FdwError::TooManyValues {
            column,
            count,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_deadline_is_read_as_unix_seconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let left = |s: &str| {
            run_deadline_from(s, now).map(|at| at.saturating_duration_since(Instant::now()))
        };
        let ten = left("1000010.5").unwrap();
        assert!(
            ten > Duration::from_secs(9) && ten <= Duration::from_millis(10_500),
            "{ten:?}"
        );
        assert_eq!(
            left("999999"),
            Some(Duration::ZERO),
            "a passed deadline leaves nothing"
        );
        assert_eq!(left(""), None, "cleared: no run");
        assert_eq!(left("soon"), None);
        assert_eq!(left("NaN"), None);
        assert!(
            left("1e300").unwrap() > Duration::from_secs(1_000_000),
            "far future is capped, not a panic"
        );
    }
}

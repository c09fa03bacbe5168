//! Request statistics: per-route counts, in-flight and peak concurrency, and the last N request
//! bodies per route with secrets redacted.

use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct RouteStats {
    count: u64,
    by_prefix: BTreeMap<String, u64>,
    last: VecDeque<Value>,
}

/// Collected statistics.
pub struct Stats {
    keep: usize,
    routes: Mutex<BTreeMap<String, RouteStats>>,
    in_flight: AtomicI64,
    peak: AtomicI64,
}

/// Decrements the in-flight count when the request ends (or is dropped).
pub struct InFlight(Arc<Stats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Replace secret values (`AccountSecret`, `ClientSecret`, any case) by `"***"`, recursively.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if k.eq_ignore_ascii_case("AccountSecret") || k.eq_ignore_ascii_case("ClientSecret")
                {
                    if !val.is_null() {
                        *val = Value::String("***".into());
                    }
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

/// Redact `ClientSecret=...` in a query string.
pub fn redact_query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("ClientSecret") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Stats {
    /// Keep the last `keep` requests per route.
    pub fn new(keep: usize) -> Arc<Self> {
        Arc::new(Stats {
            keep,
            routes: Mutex::new(BTreeMap::new()),
            in_flight: AtomicI64::new(0),
            peak: AtomicI64::new(0),
        })
    }

    /// Count a request and mark it in flight.
    pub fn enter(self: &Arc<Self>, route: &str, prefix: &str, record: Value) -> InFlight {
        let cur = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(cur, Ordering::SeqCst);
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let r = routes.entry(route.to_string()).or_default();
        r.count += 1;
        *r.by_prefix.entry(prefix.to_string()).or_default() += 1;
        if self.keep > 0 {
            if r.last.len() >= self.keep {
                r.last.pop_front();
            }
            r.last.push_back(record);
        }
        InFlight(self.clone())
    }

    /// Snapshot as JSON.
    pub fn snapshot(&self) -> Value {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = serde_json::Map::new();
        let mut total = 0;
        for (name, r) in routes.iter() {
            total += r.count;
            out.insert(
                name.clone(),
                json!({"count": r.count, "by_prefix": r.by_prefix, "last_requests": r.last}),
            );
        }
        json!({
            "total_requests": total,
            "in_flight": self.in_flight.load(Ordering::SeqCst),
            "peak_in_flight": self.peak.load(Ordering::SeqCst),
            "routes": out,
        })
    }

    /// Clear counts; the peak restarts from the current in-flight count.
    pub fn reset(&self) {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.peak
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

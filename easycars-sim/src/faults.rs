//! Fault injection: a queue of one-shot (or n-shot) faults per route, plus persistent per-route
//! latency. All state sits behind one mutex, so concurrent requests consume faults exactly once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A fault as posted to `POST /_sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Route name (`GetAdvertisementStocks`, `RequestToken`, `StockService/RequestToken`,
    /// `Image`, ...) or `*` for every route. Default `*`.
    #[serde(default)]
    pub route: Option<String>,
    /// `http_status`, `code`, `malformed_json`, `truncated_json`, `delay_ms` or `hang`.
    pub kind: String,
    /// HTTP status for `http_status` (429, 500, 502, 503, 504, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` seconds for `http_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Result code for `code` (5, 7, 9, or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// `ErrorMessage` for `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Response body for `http_status` / `malformed_json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// For `truncated_json`: bytes sent before the connection is cut (default: half of a small
    /// body, 1,000 bytes of a streamed stock list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    /// For `delay_ms`: milliseconds to wait before answering normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// How many matching calls it applies to (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// How many matching calls to let through first (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u32>,
    /// Only calls of this account: its AccountNumber (data calls) or its ClientID (RequestToken).
    /// Default: every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// What a fault does to one call.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Answer with this HTTP status (and optional `Retry-After`, body).
    HttpStatus {
        /// Status code.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u64>,
        /// Body text.
        body: Option<String>,
    },
    /// HTTP 200 with the route's envelope carrying this code.
    Code {
        /// Result code.
        code: i32,
        /// Message.
        message: String,
    },
    /// HTTP 200 whose body is not valid JSON.
    MalformedJson(String),
    /// Send a prefix of the real body, then cut the connection.
    TruncatedJson(Option<usize>),
    /// Wait, then answer normally.
    Delay(u64),
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone)]
struct Queued {
    spec: FaultSpec,
    route: String,
    action: FaultAction,
    remaining: u32,
    after: u32,
}

impl FaultSpec {
    /// Validate into an action.
    pub fn action(&self) -> Result<FaultAction, String> {
        Ok(match self.kind.as_str() {
            "http_status" => {
                let status = self.status.ok_or("http_status needs \"status\"")?;
                if !(400..=599).contains(&status) {
                    return Err(format!("status {status} is not an HTTP error status"));
                }
                FaultAction::HttpStatus {
                    status,
                    retry_after: self.retry_after,
                    body: self.body.clone(),
                }
            }
            "code" => {
                let code = self.code.ok_or("code needs \"code\"")?;
                let message = self.message.clone().unwrap_or_else(|| {
                    match code {
                        5 => "Warning: simulated warning.",
                        7 => "Failed: simulated failure.",
                        9 => "System error: simulated system error.",
                        1 => "Invalid token.",
                        _ => "Simulated error.",
                    }
                    .to_string()
                });
                FaultAction::Code { code, message }
            }
            "malformed_json" => {
                FaultAction::MalformedJson(self.body.clone().unwrap_or_else(|| {
                    r#"{"StockList":[{"YardCode":"100",}],"Code":0,"ErrorMessage":nul"#.to_string()
                }))
            }
            "truncated_json" => FaultAction::TruncatedJson(self.bytes),
            "delay_ms" => FaultAction::Delay(self.ms.ok_or("delay_ms needs \"ms\"")?),
            "hang" => FaultAction::Hang,
            other => return Err(format!("unknown fault kind {other:?}")),
        })
    }
}

/// Fault queue and latency table.
#[derive(Default)]
pub struct Faults {
    queue: Mutex<Vec<Queued>>,
    latency: Mutex<BTreeMap<String, u64>>,
}

fn matches(rule: &str, service: &str, route: &str) -> bool {
    rule == "*"
        || rule.eq_ignore_ascii_case(route)
        || rule
            .split_once('/')
            .is_some_and(|(s, r)| s.eq_ignore_ascii_case(service) && r.eq_ignore_ascii_case(route))
}

impl Faults {
    /// Queue faults (validated first; all or nothing).
    pub fn push(&self, specs: Vec<FaultSpec>) -> Result<usize, String> {
        let mut new = Vec::with_capacity(specs.len());
        for spec in specs {
            let action = spec.action()?;
            new.push(Queued {
                route: spec.route.clone().unwrap_or_else(|| "*".into()),
                remaining: spec.times.unwrap_or(1),
                after: spec.after.unwrap_or(0),
                spec,
                action,
            });
        }
        let n = new.len();
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.extend(new);
        Ok(n)
    }

    /// The fault (if any) for this call, made for the accounts in `who` (the call's ClientID or
    /// AccountNumber). Every queued fault that matches counts this call against its `after`; the
    /// first one with nothing left to skip fires.
    pub fn take(&self, service: &str, route: &str, who: &[&str]) -> Option<FaultAction> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut fired = None;
        for (i, f) in q.iter_mut().enumerate() {
            if !matches(&f.route, service, route)
                || f.spec.account.as_deref().is_some_and(|a| !who.contains(&a))
            {
                continue;
            }
            if f.after > 0 {
                f.after -= 1;
            } else if fired.is_none() && f.remaining > 0 {
                f.remaining -= 1;
                fired = Some((i, f.action.clone()));
            }
        }
        let (i, action) = fired?;
        if q[i].remaining == 0 {
            q.remove(i);
        }
        Some(action)
    }

    /// Pending faults (for `GET /_sim/faults`).
    pub fn pending(&self) -> Vec<serde_json::Value> {
        let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.iter()
            .map(|f| {
                let mut v = serde_json::to_value(&f.spec).unwrap_or_default();
                v["route"] = f.route.clone().into();
                v["times"] = f.remaining.into();
                v["after"] = f.after.into();
                v
            })
            .collect()
    }

    /// Drop all queued faults.
    pub fn clear(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Set persistent latency for a route (`*` for all); 0 clears.
    pub fn set_latency(&self, route: &str, ms: u64) {
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        if ms == 0 {
            l.remove(route);
        } else {
            l.insert(route.to_string(), ms);
        }
    }

    /// Latency to apply to a call (the route's own plus `*`).
    pub fn latency_for(&self, service: &str, route: &str) -> u64 {
        let l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        l.iter()
            .filter(|(k, _)| matches(k, service, route))
            .map(|(_, v)| *v)
            .sum()
    }

    /// The latency table.
    pub fn latency_table(&self) -> BTreeMap<String, u64> {
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Clear faults and latency.
    pub fn reset(&self) {
        self.clear();
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(route: &str, kind: &str) -> FaultSpec {
        FaultSpec {
            route: Some(route.into()),
            kind: kind.into(),
            ..Default::default()
        }
    }

    #[test]
    fn times_and_after() {
        let f = Faults::default();
        let mut a = spec("GetLeadDetail", "hang");
        a.times = Some(2);
        a.after = Some(1);
        f.push(vec![a]).unwrap();
        assert_eq!(f.take("LeadService", "GetLeadDetail", &[]), None);
        assert_eq!(f.take("LeadService", "CreateLead", &[]), None);
        assert_eq!(
            f.take("LeadService", "GetLeadDetail", &[]),
            Some(FaultAction::Hang)
        );
        assert_eq!(
            f.take("LeadService", "GetLeadDetail", &[]),
            Some(FaultAction::Hang)
        );
        assert_eq!(f.take("LeadService", "GetLeadDetail", &[]), None);
        assert!(f.pending().is_empty());
    }

    #[test]
    fn service_qualified_and_wildcard() {
        let f = Faults::default();
        f.push(vec![spec("LeadService/RequestToken", "hang")])
            .unwrap();
        assert_eq!(f.take("StockService", "RequestToken", &[]), None);
        assert_eq!(
            f.take("LeadService", "RequestToken", &[]),
            Some(FaultAction::Hang)
        );
        f.push(vec![spec("*", "hang")]).unwrap();
        assert_eq!(
            f.take("StockService", "Anything", &[]),
            Some(FaultAction::Hang)
        );
        assert!(f.push(vec![spec("*", "nope")]).is_err());
        let mut s = spec("*", "http_status");
        s.status = Some(200);
        assert!(f.push(vec![s]).is_err());
    }

    #[test]
    fn account_scoped() {
        let f = Faults::default();
        let mut a = spec("GetAdvertisementStocks", "hang");
        a.account = Some("EC100".into());
        a.times = Some(5);
        f.push(vec![a]).unwrap();
        assert_eq!(
            f.take("StockService", "GetAdvertisementStocks", &["EC200"]),
            None
        );
        assert_eq!(f.take("StockService", "GetAdvertisementStocks", &[]), None);
        assert_eq!(
            f.take("StockService", "GetAdvertisementStocks", &["cid", "EC100"]),
            Some(FaultAction::Hang)
        );
    }
}

//! Shared helpers: run the simulator in-process on 127.0.0.1:0 and talk to it over HTTP.
#![allow(dead_code)]

use easycars_api::wire::StockResponse;
use easycars_sim::SimConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const PREFIXES: [&str; 2] = ["TestECService", "ECService"];

pub struct Sim {
    pub base: String,
    pub http: reqwest::Client,
    pub manifest: Value,
}

#[derive(Clone, Debug)]
pub struct DealerCreds {
    pub client_id: String,
    pub client_secret: String,
    pub account: String,
    pub secret: String,
}

pub async fn start(cfg: SimConfig) -> Sim {
    let sim = easycars_sim::spawn_on_loopback(cfg).await.unwrap();
    Sim {
        base: sim.base,
        http: reqwest::Client::new(),
        manifest: sim.manifest,
    }
}

pub fn cfg(dealers: usize, vehicles: usize) -> SimConfig {
    SimConfig {
        seed: 42,
        dealers,
        vehicles,
        ..SimConfig::default()
    }
}

impl Sim {
    pub fn dealer(&self, i: usize) -> DealerCreds {
        let d = &self.manifest["dealers"][i];
        DealerCreds {
            client_id: d["ClientID"].as_str().unwrap().into(),
            client_secret: d["ClientSecret"].as_str().unwrap().into(),
            account: d["AccountNumber"].as_str().unwrap().into(),
            secret: d["AccountSecret"].as_str().unwrap().into(),
        }
    }

    pub fn url(&self, prefix: &str, service: &str, route: &str) -> String {
        format!("{}/{prefix}/{service}/{route}", self.base)
    }

    pub async fn token_raw(&self, prefix: &str, service: &str, id: &str, secret: &str) -> Value {
        self.http
            .post(format!(
                "{}?ClientID={id}&ClientSecret={secret}",
                self.url(prefix, service, "RequestToken")
            ))
            .body("")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn token_for(&self, prefix: &str, service: &str, d: &DealerCreds) -> String {
        let v = self
            .token_raw(prefix, service, &d.client_id, &d.client_secret)
            .await;
        assert_eq!(v["Code"], 0, "{v}");
        v["Token"].as_str().unwrap().to_string()
    }

    pub async fn token(&self, dealer: usize) -> String {
        self.token_for("TestECService", "StockService", &self.dealer(dealer))
            .await
    }

    /// POST a JSON body (raw bytes) with an optional bearer token.
    pub async fn post_raw(
        &self,
        url: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut rb = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().await.unwrap()
    }

    pub async fn call_at(
        &self,
        prefix: &str,
        service: &str,
        route: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let r = self
            .post_raw(
                &self.url(prefix, service, route),
                token,
                serde_json::to_vec(body).unwrap(),
            )
            .await;
        let status = r.status();
        let text = r.text().await.unwrap();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{route}: not JSON ({e}): {text}"));
        (status, v)
    }

    /// A LeadService call under /TestECService; asserts HTTP 200.
    pub async fn lead(&self, route: &str, token: &str, body: &Value) -> Value {
        let (s, v) = self
            .call_at("TestECService", "LeadService", route, Some(token), body)
            .await;
        assert_eq!(s, StatusCode::OK);
        v
    }

    pub fn account_body(&self, dealer: usize) -> Value {
        let d = self.dealer(dealer);
        json!({"AccountNumber": d.account, "AccountSecret": d.secret})
    }

    pub async fn stocks(&self, dealer: usize, token: &str, yard: Option<&str>) -> StockResponse {
        let mut body = self.account_body(dealer);
        if let Some(y) = yard {
            body["YardCode"] = json!(y);
        }
        let r = self
            .post_raw(
                &self.url("TestECService", "StockService", "GetAdvertisementStocks"),
                Some(token),
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let bytes = r.bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    pub async fn ctl(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let s = r.status();
        (s, r.json().await.unwrap())
    }

    pub async fn ctl_post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.ctl(reqwest::Method::POST, path, Some(body)).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    pub async fn ctl_get(&self, path: &str) -> Value {
        let (s, v) = self.ctl(reqwest::Method::GET, path, None).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    pub async fn fault(&self, f: Value) {
        self.ctl_post("/_sim/faults", f).await;
    }
}

//! End-to-end tests of `easycars_api::client` against the real simulator over HTTP on
//! 127.0.0.1 (in-process, port 0). Each test starts its own simulator with its own seed, so
//! the process-wide token cache never mixes tests.

use easycars_api::client::{
    block_on_with_ticks, new_runtime, ApiError, Client, ClientConfig, Credentials,
};
use easycars_api::wire::{
    CreateLeadRequest, CreateQuotationRequest, CustomerModel, FinanceStatus, LeadStatus, Rating,
    SearchContactsRequest, UpdateLeadRequest, VehicleInterest, VehicleType,
};
use easycars_sim::SimConfig;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static SEED: AtomicU64 = AtomicU64::new(1000);

struct Sim {
    base: String,
    http: reqwest::Client,
    manifest: Value,
}

async fn start(dealers: usize, vehicles: usize) -> Sim {
    let cfg = SimConfig {
        seed: SEED.fetch_add(1, Ordering::SeqCst),
        dealers,
        vehicles,
        ..SimConfig::default()
    };
    let sim = easycars_sim::spawn_on_loopback(cfg).await.unwrap();
    Sim {
        base: sim.base,
        http: reqwest::Client::new(),
        manifest: sim.manifest,
    }
}

impl Sim {
    fn creds(&self, i: usize) -> Credentials {
        let d = &self.manifest["dealers"][i];
        let s = |k: &str| d[k].as_str().unwrap().to_string();
        Credentials::new(
            s("ClientID"),
            s("ClientSecret"),
            s("AccountNumber"),
            s("AccountSecret"),
        )
    }

    /// A client with fast backoff; `f` adjusts the configuration.
    fn client(&self, f: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut cfg = ClientConfig {
            base_url: format!("{}/TestECService", self.base),
            backoff_base: Duration::from_millis(10),
            backoff_cap: Duration::from_millis(50),
            request_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(20),
            ..ClientConfig::default()
        };
        f(&mut cfg);
        Client::new(cfg).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn fault(&self, f: Value) {
        self.post("/_sim/faults", f).await;
    }

    async fn reset(&self) {
        self.post("/_sim/reset", json!({})).await;
    }

    async fn stats(&self) -> Value {
        self.get("/_sim/stats").await
    }

    async fn count(&self, route: &str) -> u64 {
        self.stats().await["routes"][route]["count"]
            .as_u64()
            .unwrap_or(0)
    }

    async fn last_body(&self, route: &str) -> Value {
        let st = self.stats().await;
        st["routes"][route]["last_requests"]
            .as_array()
            .and_then(|a| a.last())
            .map(|r| r["body"].clone())
            .unwrap()
    }

    fn vehicle_count(&self, dealer: usize) -> usize {
        self.manifest["dealers"][dealer]["VehicleCount"]
            .as_u64()
            .unwrap() as usize
    }
}

/// Neither Display nor Debug of `e` contains any of `secrets`.
fn assert_clean(e: &ApiError, secrets: &[&str]) {
    let shown = format!("{e} | {e:?}");
    for s in secrets {
        assert!(!s.is_empty());
        assert!(!shown.contains(s), "secret leaked in: {shown}");
    }
    assert!(!shown.contains("ClientSecret="), "{shown}");
}

fn secrets_of(c: &Credentials) -> Vec<String> {
    vec![
        c.client_secret.to_string(),
        c.account_number.to_string(),
        c.account_secret.to_string(),
    ]
}

const GAS: &str = "GetAdvertisementStocks";

#[tokio::test]
async fn get_stock_returns_every_vehicle_and_pushes_yard_code() {
    let sim = start(2, 30).await;
    let client = sim.client(|_| {});
    let creds = sim.creds(0);

    let all = client.get_stock(&creds, None).await.unwrap();
    assert_eq!(all.len(), sim.vehicle_count(0));
    assert!(all.iter().all(|i| i.len() == 72));
    let body = sim.last_body(GAS).await;
    assert!(body.get("YardCode").is_none(), "{body}");
    assert_eq!(body["AccountNumber"], json!(creds.account_number.as_str()));

    let yard = &sim.manifest["dealers"][0]["Yards"][1];
    let code = yard["YardCode"].as_str().unwrap();
    let some = client.get_stock(&creds, Some(code)).await.unwrap();
    assert_eq!(some.len() as u64, yard["VehicleCount"].as_u64().unwrap());
    assert!(some.iter().all(|i| i["YardCode"] == json!(code)));
    assert_eq!(sim.last_body(GAS).await["YardCode"], json!(code));

    client.get_stock(&creds, Some("")).await.unwrap();
    assert!(sim.last_body(GAS).await.get("YardCode").is_none());

    // The other dealer's stock is separate.
    let other = client.get_stock(&sim.creds(1), None).await.unwrap();
    assert_eq!(other.len(), sim.vehicle_count(1));
    // Every request carried a bearer token.
    let st = sim.stats().await;
    for r in st["routes"][GAS]["last_requests"].as_array().unwrap() {
        assert_eq!(r["bearer"], true);
    }
}

#[tokio::test]
async fn token_is_cached_then_refreshed_once_after_expiry() {
    let sim = start(1, 5).await;
    let client = sim.client(|_| {});
    let creds = sim.creds(0);
    for _ in 0..3 {
        client.get_stock(&creds, None).await.unwrap();
    }
    assert_eq!(sim.count("RequestToken").await, 1);
    assert_eq!(sim.count(GAS).await, 3);
    // RequestToken: query parameters only, empty body, no bearer.
    let st = sim.stats().await;
    let rt = &st["routes"]["RequestToken"]["last_requests"][0];
    assert_eq!(rt["body"], Value::Null, "{rt}");
    assert_eq!(rt["bearer"], false);
    assert_eq!(rt["service"], "StockService");
    let q = rt["query"].as_str().unwrap();
    assert!(
        q.starts_with(&format!(
            "ClientID={}&ClientSecret=",
            creds.client_id.as_str()
        )),
        "{q}"
    );

    // A second client in the same process shares the cache.
    let client2 = sim.client(|_| {});
    client2.get_stock(&creds, None).await.unwrap();
    assert_eq!(sim.count("RequestToken").await, 1);

    // Every issued token is now expired on the server.
    sim.post("/_sim/clock", json!({"shift_seconds": 601})).await;
    client.get_stock(&creds, None).await.unwrap();
    assert_eq!(sim.count("RequestToken").await, 2);
    assert_eq!(sim.count(GAS).await, 4 + 2);
    client.get_stock(&creds, None).await.unwrap();
    assert_eq!(sim.count("RequestToken").await, 2);

    // The same with HTTP 401 answers.
    sim.post("/_sim/config", json!({"auth_failure_status": 401}))
        .await;
    sim.post("/_sim/clock", json!({"shift_seconds": 601})).await;
    client.get_stock(&creds, None).await.unwrap();
    assert_eq!(sim.count("RequestToken").await, 3);

    // request_token always asks the server.
    let t = client.request_token(&creds).await.unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(600));
    assert!(!format!("{t:?}").contains(t.expose_secret()));
    assert_eq!(sim.count("RequestToken").await, 4);
}

#[tokio::test]
async fn code1_twice_is_an_auth_error() {
    let sim = start(1, 5).await;
    let client = sim.client(|_| {});
    let creds = sim.creds(0);
    sim.fault(
        json!({"route": GAS, "kind": "code", "code": 1, "message": "Invalid token.", "times": 2}),
    )
    .await;
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(
        matches!(e, ApiError::Auth { ref message } if message == "Invalid token."),
        "{e:?}"
    );
    assert!(e.is_auth() && !e.retryable());
    assert_eq!(sim.count(GAS).await, 2);
    assert_eq!(sim.count("RequestToken").await, 2);
    assert_clean(
        &e,
        &secrets_of(&creds)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );

    // One Code 1 is absorbed by the refresh.
    sim.reset().await;
    sim.fault(json!({"route": GAS, "kind": "code", "code": 1, "message": "Invalid token."}))
        .await;
    assert!(client.get_stock(&creds, None).await.is_ok());
    assert_eq!(sim.count(GAS).await, 2);
}

#[tokio::test]
async fn wrong_client_secret_is_an_auth_error_without_secrets() {
    let sim = start(1, 5).await;
    let client = sim.client(|_| {});
    let good = sim.creds(0);
    // Warm the cache with the right secret: the wrong one must not reuse it.
    client.get_stock(&good, None).await.unwrap();
    let wrong_secret = "DEADBEEF-0000-1111-2222-333344445555";
    let bad = Credentials::new(
        good.client_id.as_str(),
        wrong_secret,
        good.account_number.as_str(),
        good.account_secret.as_str(),
    );
    let before = sim.count("RequestToken").await;
    let e = client.get_stock(&bad, None).await.unwrap_err();
    assert!(e.is_auth(), "{e:?}");
    assert_eq!(sim.count("RequestToken").await, before + 1, "not retried");
    let mut secrets = secrets_of(&good);
    secrets.push(wrong_secret.into());
    assert_clean(&e, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
    let e = client.request_token(&bad).await.unwrap_err();
    assert_clean(&e, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!format!("{bad:?}").contains(wrong_secret));

    // A wrong account (Code 1 by default) is an auth error too, after one refresh.
    let bad_acct = Credentials::new(
        good.client_id.as_str(),
        good.client_secret.as_str(),
        "EC000000",
        "not-the-secret",
    );
    let e = client.get_stock(&bad_acct, None).await.unwrap_err();
    assert!(e.is_auth(), "{e:?}");
    assert_clean(&e, &["EC000000", "not-the-secret"]);
}

#[tokio::test]
async fn network_errors_never_show_the_token_url() {
    // Nothing listens on port 1: the RequestToken URL (with the secret) is in reqwest's error.
    let client = Client::new(ClientConfig {
        base_url: "http://127.0.0.1:1/TestECService".into(),
        max_retries: 1,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(2),
        ..ClientConfig::default()
    })
    .unwrap();
    let creds = Credentials::new("CID-1", "SUPER-SECRET-1", "EC999999", "acct-secret-1");
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(matches!(e, ApiError::Network { .. }), "{e:?}");
    eprintln!("network error as shown: {e}");
    assert!(e.retryable());
    assert_clean(&e, &["SUPER-SECRET-1", "EC999999", "acct-secret-1"]);
    assert!(!format!("{e:?}").contains('?'), "{e:?}");
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let sim = start(1, 200).await;
    let client = sim.client(|_| {});
    let creds = sim.creds(0);
    let n = sim.vehicle_count(0);
    let cases = [
        json!({"kind": "http_status", "status": 500, "times": 2}),
        json!({"kind": "http_status", "status": 502, "times": 2}),
        json!({"kind": "http_status", "status": 503, "times": 2}),
        json!({"kind": "http_status", "status": 504, "times": 2}),
        json!({"kind": "code", "code": 5, "times": 2}),
        json!({"kind": "code", "code": 9, "times": 2}),
        json!({"kind": "malformed_json", "times": 2}),
        json!({"kind": "truncated_json", "bytes": 4096, "times": 2}),
        json!({"kind": "truncated_json", "times": 1}),
    ];
    for mut f in cases {
        sim.reset().await;
        let times = f["times"].as_u64().unwrap();
        f["route"] = json!(GAS);
        sim.fault(f.clone()).await;
        let items = client
            .get_stock(&creds, None)
            .await
            .unwrap_or_else(|e| panic!("{f}: {e:?}"));
        assert_eq!(items.len(), n, "{f}");
        assert_eq!(sim.count(GAS).await, times + 1, "{f}");
    }

    // Retries exhausted: the last error is reported.
    sim.reset().await;
    let strict = sim.client(|c| c.max_retries = 2);
    sim.fault(json!({"route": GAS, "kind": "code", "code": 9, "message": "Boom.", "times": 5}))
        .await;
    let e = strict.get_stock(&creds, None).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::System {
            message: "Boom.".into()
        }
    );
    assert!(e.retryable());
    assert_eq!(sim.count(GAS).await, 3);
    sim.reset().await;
    sim.fault(json!({"route": GAS, "kind": "code", "code": 5, "times": 5}))
        .await;
    assert!(matches!(
        strict.get_stock(&creds, None).await,
        Err(ApiError::Warning { .. })
    ));
    sim.reset().await;
    sim.fault(json!({"route": GAS, "kind": "http_status", "status": 500, "times": 5}))
        .await;
    assert!(matches!(
        strict.get_stock(&creds, None).await,
        Err(ApiError::Http { status: 500, .. })
    ));
    sim.reset().await;
    sim.fault(json!({"route": GAS, "kind": "malformed_json", "times": 5}))
        .await;
    assert!(matches!(
        strict.get_stock(&creds, None).await,
        Err(ApiError::Malformed { .. })
    ));
    // RequestToken failures are retried as well.
    sim.reset().await;
    sim.fault(json!({"route": "RequestToken", "kind": "http_status", "status": 503, "times": 1}))
        .await;
    let t = strict.request_token(&creds).await;
    assert!(t.is_ok(), "{t:?}");
    assert_eq!(sim.count("RequestToken").await, 2);
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let sim = start(1, 5).await;
    let client = sim.client(|_| {});
    let creds = sim.creds(0);
    client.get_stock(&creds, None).await.unwrap(); // warm the token
    sim.fault(json!({"route": GAS, "kind": "http_status", "status": 429, "retry_after": 1}))
        .await;
    let t0 = Instant::now();
    client.get_stock(&creds, None).await.unwrap();
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(sim.count(GAS).await, 3);

    // A Retry-After beyond the deadline is not waited for.
    sim.fault(json!({"route": GAS, "kind": "http_status", "status": 429, "retry_after": 3600}))
        .await;
    let t0 = Instant::now();
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(
        e,
        ApiError::RateLimited {
            route: "StockService/GetAdvertisementStocks",
            retry_after: Some(Duration::from_secs(3600))
        }
    );
}

#[tokio::test]
async fn validation_is_never_retried() {
    let sim = start(1, 5).await;
    let client = sim.client(|_| {});
    let creds = sim.creds(0);
    sim.fault(json!({"route": GAS, "kind": "code", "code": 7, "message": "Nope."}))
        .await;
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::Validation {
            message: "Nope.".into()
        }
    );
    assert!(!e.retryable());
    assert_eq!(sim.count(GAS).await, 1);
}

#[tokio::test]
async fn per_request_timeout() {
    let sim = start(1, 5).await;
    let creds = sim.creds(0);
    let client = sim.client(|c| c.request_timeout = Duration::from_millis(300));
    client.get_stock(&creds, None).await.unwrap();
    sim.fault(json!({"route": GAS, "kind": "hang"})).await;
    let t0 = Instant::now();
    client.get_stock(&creds, None).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert!(t0.elapsed() < Duration::from_secs(5));

    let once = sim.client(|c| {
        c.request_timeout = Duration::from_millis(300);
        c.max_retries = 0;
    });
    sim.fault(json!({"route": GAS, "kind": "hang"})).await;
    let e = once.get_stock(&creds, None).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::Timeout {
            route: "StockService/GetAdvertisementStocks"
        }
    );
}

#[tokio::test]
async fn deadline_stops_retries() {
    let sim = start(1, 5).await;
    let creds = sim.creds(0);
    let client = sim.client(|c| {
        // Client::new raises a deadline shorter than request_timeout, so keep them equal.
        c.request_timeout = Duration::from_millis(800);
        c.deadline = Duration::from_millis(800);
        c.max_retries = 1000;
        c.backoff_base = Duration::from_millis(50);
        c.backoff_cap = Duration::from_millis(200);
    });
    client.get_stock(&creds, None).await.unwrap();
    sim.fault(json!({"route": GAS, "kind": "http_status", "status": 503, "times": 1000}))
        .await;
    let t0 = Instant::now();
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(
        t0.elapsed() <= Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    let ApiError::DeadlineExceeded { attempts, last, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(*attempts >= 2, "{e:?}");
    assert!(last.contains("503"), "{e:?}");
    assert!(e.attempts().is_some_and(|a| a >= 2));

    // A hang longer than the remaining deadline also ends at the deadline.
    sim.reset().await;
    sim.fault(json!({"route": GAS, "kind": "hang"})).await;
    let t0 = Instant::now();
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(matches!(e, ApiError::DeadlineExceeded { .. }), "{e:?}");
    assert!(t0.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn response_cap_is_enforced_while_streaming() {
    let sim = start(1, 2000).await;
    let creds = sim.creds(0);
    let small = sim.client(|c| c.max_response_bytes = 100_000);
    let e = small.get_stock(&creds, None).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::TooLarge {
            route: "StockService/GetAdvertisementStocks",
            limit: 100_000
        }
    );
    assert!(!e.retryable());
    assert_eq!(sim.count(GAS).await, 1);
    let all = sim.client(|_| {}).get_stock(&creds, None).await.unwrap();
    assert_eq!(all.len(), 2000);
}

fn lead_request(i: usize) -> CreateLeadRequest {
    CreateLeadRequest {
        account_number: String::new(), // filled from the credentials by the client
        account_secret: String::new(),
        stock_number: Some("U4471".into()),
        vehicle_make: "Toyota".into(),
        vehicle_model: "HiLux".into(),
        vehicle_price: Some(48990.0),
        vehicle_type: VehicleType::Car.code(),
        vehicle_year: 2021,
        is_vehicle_new: false,
        vehicle_interest: VehicleInterest::TestDrive.code(),
        notes: Some(format!("Is it still available? #{i}")),
        vehicle_source_page_url: Some("https://dealer.example/cars/u4471".into()),
        finance_status: Some(FinanceStatus::Maybe.code()),
        rating: Some(Rating::Hot.code()),
        external_id: Some(format!("web-{i}")),
        lead_customer: CustomerModel {
            name: Some(format!("Jo Citizen {i}")),
            email: Some(format!("jo{i}@example.com")),
            mobile: Some("0400111222".into()),
            state: Some("NSW".into()),
            post_code: Some("2150".into()),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn lead_details_fan_out_is_bounded_and_fast() {
    let sim = start(1, 5).await;
    let creds = sim.creds(0);
    let client = sim.client(|c| c.concurrency = 6);
    let mut numbers = Vec::new();
    for i in 0..50 {
        let r = client.create_lead(&creds, &lead_request(i)).await.unwrap();
        numbers.push(r.lead_number.unwrap());
    }
    numbers.push("999999".into()); // unknown: Code 7 for that lead only
    sim.post("/_sim/latency", json!({"route": "GetLeadDetail", "ms": 50}))
        .await;
    let t0 = Instant::now();
    let out = client.get_lead_details(&creds, &numbers).await;
    let took = t0.elapsed();
    // Sequential would take 51 × 50 ms = 2.55 s.
    assert!(took < Duration::from_millis(1300), "{took:?}");
    assert_eq!(out.len(), 51);
    for (i, (n, r)) in out.iter().take(50).enumerate() {
        assert_eq!(n, &numbers[i]);
        let d = r.as_ref().unwrap();
        assert_eq!(d.detail.lead_number.as_deref(), Some(n.as_str()));
        assert_eq!(d.detail.external_id, Some(format!("web-{i}")));
        assert_eq!(d.detail.rating, Some(3));
        assert_eq!(
            d.raw["Notes"],
            json!(format!("Is it still available? #{i}"))
        );
        assert!(d.raw.contains_key("CreatedDateTime"));
        assert_eq!(d.raw["Code"], 0);
    }
    assert!(matches!(out[50].1, Err(ApiError::Validation { .. })));
    let st = sim.stats().await;
    let peak = st["peak_in_flight"].as_u64().unwrap();
    assert!((2..=6).contains(&peak), "peak {peak}");
    assert_eq!(st["routes"]["GetLeadDetail"]["count"], 51);
    assert!(client.get_lead_details(&creds, &[]).await.is_empty());
}

#[tokio::test]
async fn lead_routes_round_trip() {
    let sim = start(1, 5).await;
    let creds = sim.creds(0);
    let client = sim.client(|_| {});
    // Tokens are requested from the service they are used on, so strict servers work.
    sim.post(
        "/_sim/config",
        json!({"strict_token_service": true, "strict_token_account": true}),
    )
    .await;
    assert_eq!(client.get_stock(&creds, None).await.unwrap().len(), 5);

    let created = client.create_lead(&creds, &lead_request(1)).await.unwrap();
    let lead = created.lead_number.clone().unwrap();
    let customer = created.customer_no.clone().unwrap();
    assert_eq!((lead.len(), customer.len(), created.code), (6, 5, 0));
    let body = sim.last_body("CreateLead").await;
    assert_eq!(body["AccountNumber"], json!(creds.account_number.as_str()));
    assert_eq!(body["AccountSecret"], "***"); // sent (the simulator redacts it in stats)
    assert_eq!(body["LeadCustomer"]["Name"], "Jo Citizen 1");
    assert_eq!(body["VehicleInterest"], 4);
    assert_eq!(body["FinanceStatus"], 3);
    assert_eq!(body["Rating"], 3);
    assert_eq!(body["IsVehicleNew"], false);

    let d = client.get_lead_detail(&creds, &lead).await.unwrap();
    assert_eq!(d.detail.customer_no.as_deref(), Some(customer.as_str()));
    assert_eq!(d.detail.vehicle_type, Some(VehicleType::Car.code()));
    assert_eq!(d.detail.vehicle_price, Some(48990.0));
    assert_eq!(d.detail.customer_email.as_deref(), Some("jo1@example.com"));
    assert_eq!(
        d.detail.vehicle_source_page_url.as_deref(),
        Some("https://dealer.example/cars/u4471")
    );

    let upd = UpdateLeadRequest {
        lead_number: lead.clone(),
        lead_status: Some(LeadStatus::InProgress.code()),
        rating: Some(Rating::Cold.code()),
        ..Default::default()
    };
    let r = client.update_lead(&creds, &upd).await.unwrap();
    assert_eq!(r.lead_number.as_deref(), Some(lead.as_str()));
    assert_eq!(
        sim.last_body("UpdateLead").await,
        json!({"AccountNumber": creds.account_number.as_str(), "AccountSecret": "***",
               "LeadNumber": lead, "Rating": 1, "LeadStatus": 30})
    );
    let d = client.get_lead_detail(&creds, &lead).await.unwrap();
    assert_eq!(d.detail.rating, Some(Rating::Cold.code()));
    let leads = sim.get("/_sim/leads").await;
    let stored = leads["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["LeadNumber"] == json!(lead))
        .unwrap()
        .clone();
    assert_eq!(stored["LeadStatus"], 30);

    // Deleted cannot be undone: Code 7, not retried.
    let del = UpdateLeadRequest {
        lead_number: lead.clone(),
        lead_status: Some(LeadStatus::Deleted.code()),
        ..Default::default()
    };
    client.update_lead(&creds, &del).await.unwrap();
    let undo = UpdateLeadRequest {
        lead_number: lead.clone(),
        lead_status: Some(LeadStatus::New.code()),
        ..Default::default()
    };
    let before = sim.count("UpdateLead").await;
    let e = client.update_lead(&creds, &undo).await.unwrap_err();
    assert!(matches!(e, ApiError::Validation { .. }), "{e:?}");
    assert_eq!(sim.count("UpdateLead").await, before + 1);

    // A missing required field is a validation error.
    let mut bad = lead_request(2);
    bad.vehicle_make = String::new();
    let e = client.create_lead(&creds, &bad).await.unwrap_err();
    assert!(matches!(e, ApiError::Validation { .. }), "{e:?}");

    let found = client
        .search_contacts(
            &creds,
            &SearchContactsRequest {
                email: Some("jo1@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found.contacts.len(), 1);
    assert_eq!(
        found.contacts[0].customer_no.as_deref(),
        Some(customer.as_str())
    );
    assert_eq!(found.contacts[0].name.as_deref(), Some("Jo Citizen 1"));

    let yard = sim.manifest["dealers"][0]["Yards"][0]["YardCode"]
        .as_str()
        .unwrap();
    let q: CreateQuotationRequest = serde_json::from_value(json!({
        "AccountNumber": "", "AccountSecret": "", "YardCode": yard,
        "VehicleMake": "Toyota", "VehicleModel": "HiLux", "VehicleType": 1, "IsVehicleNew": false,
        "VehicleYear": 2021, "QuoteDate": "05/10/2025", "BasePrice": 48990, "SellingPrice": 47990,
        "RegoState": "NSW", "TaxRate": 0.1,
        "QuotationCustomer1": {"CustomerNo": customer},
        "QuotationReceipts": [{"Amount": 500, "ReceiveDate": "05/10/2025", "PaymentMethod": 2, "Reference": "DEP-1"}],
        "QuotationExtras": [{"ExtraType": 8, "Amount": 995}]
    }))
    .unwrap();
    let qr = client.create_quotation(&creds, &q).await.unwrap();
    assert_eq!(qr.quote_number.as_deref().map(str::len), Some(6));
    assert_eq!(qr.customer_no1.as_deref(), Some(customer.as_str()));
}

#[tokio::test]
async fn dropping_a_call_mid_flight_is_safe() {
    let sim = start(1, 5).await;
    let creds = sim.creds(0);
    let client = sim.client(|_| {});
    sim.fault(json!({"route": GAS, "kind": "hang"})).await;
    let r = tokio::time::timeout(Duration::from_millis(200), client.get_stock(&creds, None)).await;
    assert!(r.is_err(), "the call was cancelled");
    // The client and the token cache are still usable.
    assert_eq!(client.get_stock(&creds, None).await.unwrap().len(), 5);
    // Cancelled during RequestToken too.
    sim.reset().await;
    easycars_api::client::clear_token_cache();
    sim.fault(json!({"route": "RequestToken", "kind": "hang"}))
        .await;
    let r = tokio::time::timeout(Duration::from_millis(200), client.get_stock(&creds, None)).await;
    assert!(r.is_err());
    assert_eq!(client.get_stock(&creds, None).await.unwrap().len(), 5);
}

#[test]
fn block_on_with_ticks_cancels_on_request() {
    // The simulator runs on its own runtime thread; the client on a current-thread runtime
    // driven in ticks, as the Postgres backend does.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let sim = start(1, 5).await;
            sim.fault(json!({"route": GAS, "kind": "hang"})).await;
            tx.send((sim.base.clone(), sim.creds(0))).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let (base, creds) = rx.recv().unwrap();
    let rt = new_runtime().unwrap();
    let client = Client::new(ClientConfig {
        base_url: format!("{base}/TestECService"),
        ..ClientConfig::default()
    })
    .unwrap();
    let mut ticks = 0;
    let t0 = Instant::now();
    let r = block_on_with_ticks(
        &rt,
        client.get_stock(&creds, None),
        Duration::from_millis(100),
        || {
            ticks += 1;
            ticks < 3
        },
    );
    assert!(r.is_none());
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The next call on the same runtime works (the hang fault fired once).
    let r = block_on_with_ticks(
        &rt,
        client.get_stock(&creds, None),
        Duration::from_millis(100),
        || true,
    );
    assert_eq!(r.unwrap().unwrap().len(), 5);
}

#[test]
fn client_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Client::new(ClientConfig::default()).unwrap();
    let creds = Credentials::new("a", "b", "c", "d");
    let f = client.get_stock(&creds, None);
    assert_send(&f);
    let numbers = vec!["1".to_string()];
    let g = client.get_lead_details(&creds, &numbers);
    assert_send(&g);
}

#[tokio::test]
async fn a_run_limit_ends_every_call_at_the_same_instant() {
    let sim = start(1, 5).await;
    let creds = sim.creds(0);
    // Generous per-call settings: only the run's limit can end these calls early.
    let client = sim.client(|c| {
        c.request_timeout = Duration::from_secs(10);
        c.deadline = Duration::from_secs(20);
    });
    client.get_stock(&creds, None).await.unwrap();
    client.limit_until(Some(Instant::now() + Duration::from_millis(600)));
    sim.fault(json!({"route": GAS, "kind": "hang", "times": 3}))
        .await;
    let t0 = Instant::now();
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(matches!(e, ApiError::DeadlineExceeded { .. }), "{e:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    // A later call of the same run has nothing left.
    let e = client.get_stock(&creds, None).await.unwrap_err();
    assert!(matches!(e, ApiError::DeadlineExceeded { .. }), "{e:?}");
    // Lifted, the client works as before.
    client.limit_until(None);
    sim.reset().await;
    client.get_stock(&creds, None).await.unwrap();
}

//! Stock API, authentication, control API and fault injection over real HTTP.

mod common;

use common::*;
use easycars_api::stock_fields::{FieldKind, STOCK_FIELDS};
use easycars_api::wire::{StockResponse, TokenResponse};
use easycars_sim::{BadAccount, Modes, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// An object's keys in wire order (serde_json's `Map` sorts them).
struct OrderedKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for OrderedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(OrderedKeys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(serde::Deserialize)]
struct KeyOrder {
    #[serde(rename = "StockList")]
    stock_list: Vec<OrderedKeys>,
}

fn assert_item_shape(item: &serde_json::Map<String, Value>) {
    assert_eq!(item.len(), 72, "{item:?}");
    for f in &STOCK_FIELDS {
        let v = item
            .get(f.json_key)
            .unwrap_or_else(|| panic!("missing {}", f.json_key));
        assert!(
            f.value_matches(v),
            "{} = {v} does not fit {:?}",
            f.json_key,
            f.kind
        );
    }
    let urls = item["ImageURLs"].as_str().unwrap();
    let n = if urls.is_empty() {
        0
    } else {
        urls.split(',').count()
    };
    assert_eq!(item["ImageCount"].as_i64().unwrap() as usize, n);
    for k in ["StandardFeatures", "OptionalFeatures", "ImageURLs"] {
        assert!(!item[k].as_str().unwrap().contains(", "), "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_under_both_prefixes() {
    let sim = start(cfg(2, 5)).await;
    let d = sim.dealer(0);
    for prefix in PREFIXES {
        for service in ["StockService", "LeadService"] {
            let v = sim
                .token_raw(prefix, service, &d.client_id, &d.client_secret)
                .await;
            let t: TokenResponse = serde_json::from_value(v).unwrap();
            assert_eq!((t.code, t.error_message), (0, None));
            assert!(t
                .token
                .unwrap()
                .starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        }
        let tok = sim.token_for(prefix, "StockService", &d).await;
        let (s, v) = sim
            .call_at(
                prefix,
                "StockService",
                "GetAdvertisementStocks",
                Some(&tok),
                &sim.account_body(0),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["StockList"].as_array().unwrap().len(), 5);
        assert_eq!(
            (v["Code"].clone(), v["ErrorMessage"].clone()),
            (json!(0), Value::Null)
        );

        let mut lead = sim.account_body(0);
        lead.as_object_mut().unwrap().extend(
            json!({"VehicleMake":"Toyota","VehicleModel":"HiLux","VehicleType":1,"VehicleYear":2021,
                   "IsVehicleNew":false,"VehicleInterest":1,
                   "LeadCustomer":{"Name":"Jo Citizen","Email":"jo@example.com","Mobile":"0400111222"}})
            .as_object()
            .unwrap()
            .clone(),
        );
        let (_, c) = sim
            .call_at(prefix, "LeadService", "CreateLead", Some(&tok), &lead)
            .await;
        assert_eq!(c["Code"], 0, "{c}");
        let ln = c["LeadNumber"].as_str().unwrap().to_string();
        let mut upd = sim.account_body(0);
        upd["LeadNumber"] = json!(ln);
        upd["Rating"] = json!(3);
        let (_, u) = sim
            .call_at(prefix, "LeadService", "UpdateLead", Some(&tok), &upd)
            .await;
        assert_eq!(
            (u["Code"].clone(), u["LeadNumber"].clone()),
            (json!(0), json!(ln))
        );
        let mut get = sim.account_body(0);
        get["LeadNumber"] = json!(ln);
        let (_, g) = sim
            .call_at(prefix, "LeadService", "GetLeadDetail", Some(&tok), &get)
            .await;
        assert_eq!(
            (g["Code"].clone(), g["Rating"].clone()),
            (json!(0), json!(3))
        );
        let mut search = sim.account_body(0);
        search["Name"] = json!("citizen");
        let (_, sc) = sim
            .call_at(prefix, "LeadService", "SearchContacts", Some(&tok), &search)
            .await;
        assert_eq!(sc["Code"], 0);
        assert_eq!(sc["Contacts"][0]["Email"], "jo@example.com");
        let mut q = sim.account_body(0);
        q.as_object_mut().unwrap().extend(
            json!({"YardCode":"100","VehicleMake":"Toyota","VehicleModel":"HiLux","VehicleType":1,
                   "IsVehicleNew":false,"VehicleYear":2021,"QuoteDate":"01/02/2025","BasePrice":45000,
                   "SellingPrice":44000,"RegoState":"NSW","QuotationCustomer1":{"CustomerNo": c["CustomerNo"]}})
            .as_object()
            .unwrap()
            .clone(),
        );
        let (_, qr) = sim
            .call_at(prefix, "LeadService", "CreateQuotation", Some(&tok), &q)
            .await;
        assert_eq!(qr["Code"], 0, "{qr}");
        assert_eq!(qr["CustomerNo1"], c["CustomerNo"]);
    }
    // Counted per route and prefix.
    let stats = sim.ctl_get("/_sim/stats").await;
    assert_eq!(
        stats["routes"]["GetAdvertisementStocks"]["by_prefix"]["ECService"],
        1
    );
    assert_eq!(
        stats["routes"]["GetAdvertisementStocks"]["by_prefix"]["TestECService"],
        1
    );
    assert_eq!(stats["routes"]["RequestToken"]["count"], 6);
    // Unknown operation, wrong service and wrong method.
    let tok = sim.token(0).await;
    let (s, v) = sim
        .call_at(
            "TestECService",
            "LeadService",
            "GetAdvertisementStocks",
            Some(&tok),
            &sim.account_body(0),
        )
        .await;
    assert_eq!((s, v["Code"].clone()), (StatusCode::NOT_FOUND, json!(9)));
    let (s, _) = sim
        .call_at("Nope", "StockService", "RequestToken", None, &json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = sim
        .http
        .get(sim.url("ECService", "StockService", "GetAdvertisementStocks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_credentials_and_expiry() {
    let sim = start(cfg(2, 3)).await;
    let d = sim.dealer(0);
    // Bad ClientID / ClientSecret.
    let v = sim
        .token_raw("TestECService", "StockService", &d.client_id, "WRONG")
        .await;
    assert_eq!(
        v,
        json!({"Token": null, "Code": 1, "ErrorMessage": "Invalid ClientID or ClientSecret."})
    );
    let v = sim.token_raw("TestECService", "StockService", "", "").await;
    assert_eq!(
        (v["Token"].clone(), v["Code"].clone()),
        (Value::Null, json!(1))
    );
    // Query parameter names are case-insensitive.
    let r: Value = sim
        .http
        .post(format!(
            "{}?clientid={}&clientsecret={}",
            sim.url("TestECService", "StockService", "RequestToken"),
            d.client_id,
            d.client_secret
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["Code"], 0);

    // The JWT payload is the documented one and lives 600 s.
    let tok = sim.token(0).await;
    use base64::Engine;
    let payload = tok.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["ClientID"], json!(d.client_id));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert_eq!(claims["nbf"], claims["iat"]);

    // Missing, garbage and expired tokens: HTTP 200, Code 1 "Invalid token.".
    let invalid = json!({"Code": 1, "ErrorMessage": "Invalid token."});
    for t in [None, Some("garbage"), Some("a.b.c")] {
        let (s, v) = sim
            .call_at(
                "TestECService",
                "StockService",
                "GetAdvertisementStocks",
                t,
                &sim.account_body(0),
            )
            .await;
        assert_eq!((s, v), (StatusCode::OK, invalid.clone()));
    }
    assert_eq!(sim.stocks(0, &tok, None).await.code, 0);
    sim.ctl_post("/_sim/clock", json!({"shift_seconds": 599}))
        .await;
    assert_eq!(
        sim.stocks(0, &tok, None).await.code,
        0,
        "still valid at +599 s"
    );
    let c = sim
        .ctl_post("/_sim/clock", json!({"shift_seconds": 2}))
        .await;
    assert_eq!(c["shift_seconds"], 601);
    let (s, v) = sim
        .call_at(
            "TestECService",
            "StockService",
            "GetAdvertisementStocks",
            Some(&tok),
            &sim.account_body(0),
        )
        .await;
    assert_eq!((s, v), (StatusCode::OK, invalid.clone()));
    // Lead routes reject it too.
    let mut get = sim.account_body(0);
    get["LeadNumber"] = json!("000001");
    assert_eq!(sim.lead("GetLeadDetail", &tok, &get).await, invalid);
    // A fresh token works again.
    let tok2 = sim.token(0).await;
    assert_eq!(sim.stocks(0, &tok2, None).await.code, 0);
    // Clock moved back before iat: not yet valid.
    sim.ctl_post("/_sim/clock", json!({"set_shift_seconds": -30}))
        .await;
    let (_, v) = sim
        .call_at(
            "TestECService",
            "StockService",
            "GetAdvertisementStocks",
            Some(&tok2),
            &sim.account_body(0),
        )
        .await;
    assert_eq!(v["Code"], 1);
    sim.ctl_post("/_sim/clock", json!({"set_shift_seconds": 0}))
        .await;

    // --auth-failure-status 401 alternative.
    sim.ctl_post("/_sim/config", json!({"auth_failure_status": 401}))
        .await;
    let (s, v) = sim
        .call_at(
            "TestECService",
            "StockService",
            "GetAdvertisementStocks",
            Some("garbage"),
            &sim.account_body(0),
        )
        .await;
    assert_eq!((s, v), (StatusCode::UNAUTHORIZED, invalid.clone()));
    let (s, _) = sim
        .ctl(
            Method::POST,
            "/_sim/config",
            Some(json!({"auth_failure_status": 302})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    sim.ctl_post("/_sim/reset", json!({})).await;

    // Cross-service tokens: accepted by default, rejected in strict mode.
    let lead_tok = sim.token_for("TestECService", "LeadService", &d).await;
    assert_eq!(sim.stocks(0, &lead_tok, None).await.code, 0);
    sim.ctl_post("/_sim/config", json!({"strict_token_service": true}))
        .await;
    assert_eq!(sim.stocks(0, &lead_tok, None).await.code, 1);
    let stock_tok = sim.token(0).await;
    assert_eq!(sim.stocks(0, &stock_tok, None).await.code, 0);
    assert_eq!(sim.lead("GetLeadDetail", &stock_tok, &get).await, invalid);
    sim.ctl_post("/_sim/reset", json!({})).await;

    // A token of dealer 1's integrator on dealer 0's account: lenient by default, strict mode
    // treats it as a wrong account.
    let other = sim.token(1).await;
    assert_eq!(sim.stocks(0, &other, None).await.code, 0);
    sim.ctl_post("/_sim/config", json!({"strict_token_account": true}))
        .await;
    assert_eq!(sim.stocks(0, &other, None).await.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_account_modes() {
    for (mode, code, empty_list) in [
        (BadAccount::Code1, 1, false),
        (BadAccount::Code7, 7, false),
        (BadAccount::Empty, 0, true),
    ] {
        let sim = start(SimConfig {
            modes: Modes {
                bad_account: mode,
                ..Modes::default()
            },
            ..cfg(1, 4)
        })
        .await;
        let tok = sim.token(0).await;
        let d = sim.dealer(0);
        for body in [
            json!({"AccountNumber": d.account, "AccountSecret": "00000000-0000-0000-0000-000000000000"}),
            json!({"AccountNumber": "EC000000", "AccountSecret": d.secret}),
        ] {
            let (_, v) = sim
                .call_at(
                    "TestECService",
                    "StockService",
                    "GetAdvertisementStocks",
                    Some(&tok),
                    &body,
                )
                .await;
            assert_eq!(v["Code"], code, "{mode:?} {v}");
            if empty_list {
                assert_eq!(v["StockList"], json!([]));
            } else {
                assert_eq!(v["ErrorMessage"], "Invalid AccountNumber or AccountSecret.");
            }
            let mut lead = body.clone();
            lead["LeadNumber"] = json!("000001");
            let v = sim.lead("GetLeadDetail", &tok, &lead).await;
            assert_eq!(v["Code"], if code == 1 { 1 } else { 7 });
        }
        // Missing account fields are validation failures.
        let (_, v) = sim
            .call_at(
                "TestECService",
                "StockService",
                "GetAdvertisementStocks",
                Some(&tok),
                &json!({"AccountSecret": d.secret}),
            )
            .await;
        assert_eq!(
            v,
            json!({"Code": 7, "ErrorMessage": "AccountNumber is required."})
        );
        let r = sim
            .post_raw(
                &sim.url("TestECService", "StockService", "GetAdvertisementStocks"),
                Some(&tok),
                b"{not json".to_vec(),
            )
            .await;
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["Code"], 7);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_items_follow_the_catalogue_and_conventions() {
    let sim = start(cfg(2, 400)).await;
    let tok = sim.token(0).await;
    let r = sim.stocks(0, &tok, None).await;
    assert_eq!(r.stock_list.len(), 400);
    // Keys arrive in the PDF's order.
    let raw = stock_call(&sim, &tok).await.bytes().await.unwrap();
    let order: KeyOrder = serde_json::from_slice(&raw).unwrap();
    let doc_keys: Vec<&str> = STOCK_FIELDS.iter().map(|f| f.json_key).collect();
    assert_eq!(order.stock_list.len(), 400);
    for k in &order.stock_list {
        assert_eq!(k.0, doc_keys, "PDF key order");
    }
    let mut numbers = HashSet::new();
    let (mut trailing, mut unicode, mut nulls, mut rego_dates, mut types) =
        (0, 0, 0, 0, HashSet::new());
    for item in &r.stock_list {
        assert_item_shape(item);
        assert!(numbers.insert(item["StockNumber"].as_str().unwrap().to_string()));
        if item["Badge"].as_str().unwrap().ends_with(' ')
            || item["Series"].as_str().unwrap().ends_with(' ')
        {
            trailing += 1;
        }
        if !item["AdvDescription"].as_str().unwrap().is_ascii()
            || !item["Make"].as_str().unwrap().is_ascii()
        {
            unicode += 1;
        }
        if item["Price"].is_null() {
            nulls += 1;
        }
        if item["RegoExpiry"].is_string() {
            rego_dates += 1;
        }
        types.insert(item["StockType"].as_str().unwrap().to_string());
        // Whole numbers are integers on the wire.
        if let Some(p) = item["Price"].as_f64() {
            assert!(item["Price"].is_i64() || p.fract() != 0.0);
        }
        assert!(item["ImageURLs"]
            .as_str()
            .unwrap()
            .split(',')
            .filter(|s| !s.is_empty())
            .all(|u| u.starts_with(&sim.base)));
    }
    assert!(trailing > 0 && unicode > 0 && nulls > 0 && rego_dates > 0);
    assert!(types.is_subset(
        &["A", "B", "C", "H", "M", "T"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    ));
    assert!(types.len() >= 4, "{types:?}");
    assert_eq!(numbers.len(), 400);

    // Deterministic: the same seed gives the same bytes (modulo the port), another seed does not.
    let sim2 = start(cfg(2, 400)).await;
    let r2 = sim2.stocks(0, &sim2.token(0).await, None).await;
    let norm = |r: &StockResponse, base: &str| {
        serde_json::to_string(&r.stock_list)
            .unwrap()
            .replace(base, "BASE")
    };
    assert_eq!(norm(&r, &sim.base), norm(&r2, &sim2.base));
    let sim3 = start(SimConfig {
        seed: 43,
        ..cfg(2, 400)
    })
    .await;
    let r3 = sim3.stocks(0, &sim3.token(0).await, None).await;
    assert_ne!(norm(&r, &sim.base), norm(&r3, &sim3.base));
    // Dealers differ.
    let other = sim.stocks(1, &sim.token(1).await, None).await;
    assert_ne!(other.stock_list[0], r.stock_list[0]);

    // Images: tiny JPEGs, distinct per URL; the quirk URLs include a duplicate and a 404.
    let mut dup = false;
    let mut broken = 0;
    for item in r.stock_list.iter().take(200) {
        let urls: Vec<&str> = item["ImageURLs"]
            .as_str()
            .unwrap()
            .split(',')
            .filter(|s| !s.is_empty())
            .collect();
        let set: HashSet<_> = urls.iter().collect();
        dup |= set.len() < urls.len();
        for u in urls.iter().filter(|u| u.contains("/missing/")) {
            broken += 1;
            assert_eq!(
                sim.http.get(*u).send().await.unwrap().status(),
                StatusCode::NOT_FOUND
            );
        }
    }
    assert!(dup && broken > 0);
    let urls: Vec<String> = r
        .stock_list
        .iter()
        .flat_map(|i| {
            i["ImageURLs"]
                .as_str()
                .unwrap()
                .split(',')
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|u| u.contains("/image/"))
        .take(2)
        .collect();
    let mut bodies = Vec::new();
    for u in &urls {
        let resp = sim.http.get(u).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        let b = resp.bytes().await.unwrap();
        assert_eq!(&b[..2], &[0xFF, 0xD8]);
        assert_eq!(&b[b.len() - 2..], &[0xFF, 0xD9]);
        bodies.push(b);
    }
    assert_ne!(bodies[0], bodies[1]);
    assert_eq!(
        sim.ctl_get("/_sim/stats").await["routes"]["Image"]["count"]
            .as_u64()
            .unwrap() as usize,
        urls.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doc_example_has_the_catalogue_shape_and_so_does_the_simulator() {
    let doc: StockResponse = serde_json::from_str(include_str!("doc_stock_example.json")).unwrap();
    assert_eq!((doc.code, doc.stock_list.len()), (0, 1));
    let item = &doc.stock_list[0];
    let doc_keys: HashSet<&str> = item.keys().map(String::as_str).collect();
    let cat: HashSet<&str> = STOCK_FIELDS.iter().map(|f| f.json_key).collect();
    assert_eq!(doc_keys, cat);
    for f in &STOCK_FIELDS {
        assert!(
            f.value_matches(&item[f.json_key]),
            "doc {} = {}",
            f.json_key,
            item[f.json_key]
        );
        if f.kind == FieldKind::CommaList {
            assert!(item[f.json_key].is_string());
        }
    }
    // A simulator response has exactly the same shape: same key set and, per key, the same
    // JSON type wherever both values are non-null.
    let sim = start(cfg(1, 50)).await;
    let r = sim.stocks(0, &sim.token(0).await, None).await;
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => "other",
    };
    for s in &r.stock_list {
        assert_eq!(
            s.keys().map(String::as_str).collect::<HashSet<_>>(),
            doc_keys
        );
        for f in &STOCK_FIELDS {
            let (a, b) = (kind(&s[f.json_key]), kind(&item[f.json_key]));
            if a != "null" && b != "null" && !(f.kind == FieldKind::Number) {
                assert_eq!(a, b, "{}", f.json_key);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yard_filter_and_stats_pushdown() {
    let sim = start(cfg(1, 31)).await;
    let tok = sim.token(0).await;
    let yards = sim.manifest["dealers"][0]["Yards"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(yards.len(), 3);
    let mut total = 0;
    for y in &yards {
        let code = y["YardCode"].as_str().unwrap();
        let r = sim.stocks(0, &tok, Some(code)).await;
        assert_eq!(
            r.stock_list.len() as u64,
            y["VehicleCount"].as_u64().unwrap()
        );
        assert!(r
            .stock_list
            .iter()
            .all(|i| i["YardCode"] == code && i["YardName"] == y["YardName"]));
        total += r.stock_list.len();
    }
    assert_eq!(total, 31);
    assert_eq!(sim.stocks(0, &tok, None).await.stock_list.len(), 31);
    assert_eq!(sim.stocks(0, &tok, Some("999")).await.stock_list.len(), 0);
    // Stats keep the bodies (secret redacted) so tests can check what was pushed down.
    let st = sim.ctl_get("/_sim/stats").await;
    let last = st["routes"]["GetAdvertisementStocks"]["last_requests"]
        .as_array()
        .unwrap();
    assert_eq!(last.len(), 5);
    assert_eq!(last[0]["body"]["YardCode"], "100");
    assert_eq!(last[0]["body"]["AccountSecret"], "***");
    assert!(last[3]["body"].get("YardCode").is_none());
    let tq = st["routes"]["RequestToken"]["last_requests"][0]["query"]
        .as_str()
        .unwrap();
    assert!(tq.contains("ClientSecret=***") && !tq.contains(&sim.dealer(0).client_secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_mutations_are_visible_on_the_next_call() {
    let sim = start(cfg(1, 10)).await;
    let tok = sim.token(0).await;
    let acct = sim.dealer(0).account;
    let before = sim.stocks(0, &tok, None).await.stock_list;
    let sn = |i: &serde_json::Map<String, Value>| i["StockNumber"].as_str().unwrap().to_string();
    let first = sn(&before[0]);
    let second = sn(&before[1]);

    // Add 2 generated vehicles (in yard 200) and one given item.
    let v = sim
        .ctl_post(
            &format!("/_sim/stock/{acct}/add"),
            json!({"count": 2, "yard_code": "200"}),
        )
        .await;
    assert_eq!(v["added"].as_array().unwrap().len(), 2);
    assert_eq!(v["VehicleCount"], 12);
    let v = sim
        .ctl_post(&format!("/_sim/stock/{acct}/add"), json!({"items": [{"StockNumber": "X1", "Make": "ŠKODA", "Price": 12345.5, "Extra": "kept"}]}))
        .await;
    assert_eq!(v["added"], json!(["X1"]));
    let (s, _) = sim
        .ctl(
            Method::POST,
            &format!("/_sim/stock/{acct}/add"),
            Some(json!({"items": [{"StockNumber": "X1"}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Change the price of the first vehicle; remove the second.
    sim.ctl_post(
        &format!("/_sim/stock/{acct}/change"),
        json!({"stock_number": first, "fields": {"Price": 999, "StockStatus": "Sold"}}),
    )
    .await;
    let v = sim
        .ctl_post(
            &format!("/_sim/stock/{acct}/remove"),
            json!({"stock_numbers": [second, "NOPE"]}),
        )
        .await;
    assert_eq!(v["not_found"], json!(["NOPE"]));
    let (s, _) = sim
        .ctl(
            Method::POST,
            &format!("/_sim/stock/{acct}/change"),
            Some(json!({"stock_number": "NOPE", "fields": {"Price": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let after = sim.stocks(0, &tok, None).await.stock_list;
    assert_eq!(after.len(), 12);
    let by: std::collections::HashMap<String, &serde_json::Map<String, Value>> =
        after.iter().map(|i| (sn(i), i)).collect();
    assert_eq!(by[&first]["Price"], 999);
    assert_eq!(by[&first]["StockStatus"], "Sold");
    assert_eq!(by[&first]["Make"], before[0]["Make"]);
    assert!(!by.contains_key(&second));
    let x1 = by["X1"];
    assert_eq!(
        (x1["Make"].clone(), x1["Price"].clone(), x1["Extra"].clone()),
        (json!("ŠKODA"), json!(12345.5), json!("kept"))
    );
    assert_eq!(x1.len(), 73);
    for i in after.iter().filter(|i| sn(i) != "X1") {
        assert_item_shape(i);
    }
    let added: Vec<_> = after.iter().skip(9).take(2).collect();
    assert!(added.iter().all(|i| i["YardCode"] == "200"));
    // The single-item view and the manifest agree; yard filters see mutations.
    assert_eq!(
        sim.ctl_get(&format!("/_sim/stock/{acct}/{first}")).await["Price"],
        999
    );
    let m = sim.ctl_get("/_sim/manifest").await;
    assert_eq!(m["dealers"][0]["VehicleCount"], 12);
    let y200 = sim.stocks(0, &tok, Some("200")).await.stock_list;
    assert_eq!(
        y200.len() as u64,
        m["dealers"][0]["Yards"][1]["VehicleCount"]
            .as_u64()
            .unwrap()
    );

    // A removed vehicle added back (as a sync test does) returns once, with the given fields.
    let mut back = before[1].clone();
    back.insert("Price".into(), json!(4321));
    sim.ctl_post(&format!("/_sim/stock/{acct}/add"), json!({"items": [back]}))
        .await;
    let revived = sim.stocks(0, &tok, None).await.stock_list;
    assert_eq!(revived.iter().filter(|i| sn(i) == second).count(), 1);
    assert_eq!(revived.len(), 13);
    assert_eq!(
        revived.iter().find(|i| sn(i) == second).unwrap()["Price"],
        4321
    );

    // Reset restores the generated list.
    sim.ctl_post("/_sim/reset", json!({})).await;
    let again = sim.stocks(0, &tok, None).await.stock_list;
    assert_eq!(again, before);
}

async fn stock_call(sim: &Sim, tok: &str) -> reqwest::Response {
    sim.post_raw(
        &sim.url("TestECService", "StockService", "GetAdvertisementStocks"),
        Some(tok),
        serde_json::to_vec(&sim.account_body(0)).unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_modes() {
    let sim = start(cfg(1, 30)).await;
    let tok = sim.token(0).await;

    // HTTP 429 with Retry-After, then the next call is normal.
    sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "http_status", "status": 429, "retry_after": 7})).await;
    let r = stock_call(&sim, &tok).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(stock_call(&sim, &tok).await.status(), StatusCode::OK);

    // 500/502/503/504, queued together, fire in order.
    sim.fault(json!([500, 502, 503, 504]
        .iter()
        .map(|s| json!({"route": "GetAdvertisementStocks", "kind": "http_status", "status": s}))
        .collect::<Vec<_>>()))
        .await;
    for s in [500, 502, 503, 504] {
        assert_eq!(stock_call(&sim, &tok).await.status().as_u16(), s);
    }
    assert_eq!(stock_call(&sim, &tok).await.status(), StatusCode::OK);

    // Code 5/7/9 in the envelope (HTTP 200), per route: a lead route keeps its payload keys.
    for code in [5, 7, 9] {
        sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "code", "code": code, "message": format!("boom {code}")})).await;
        let r = stock_call(&sim, &tok).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v,
            json!({"Code": code, "ErrorMessage": format!("boom {code}")})
        );
        let parsed: StockResponse = serde_json::from_value(v).unwrap();
        assert!(parsed.stock_list.is_empty());
    }
    sim.fault(json!({"route": "CreateLead", "kind": "code", "code": 9}))
        .await;
    let v = sim.lead("CreateLead", &tok, &json!({})).await;
    assert_eq!(
        (v["LeadNumber"].clone(), v["Code"].clone()),
        (Value::Null, json!(9))
    );
    sim.fault(json!({"route": "RequestToken", "kind": "code", "code": 5}))
        .await;
    let v = sim
        .token_raw(
            "ECService",
            "StockService",
            &sim.dealer(0).client_id,
            &sim.dealer(0).client_secret,
        )
        .await;
    assert_eq!(
        (v["Token"].clone(), v["Code"].clone()),
        (Value::Null, json!(5))
    );

    // Malformed JSON: HTTP 200 with a body that does not parse.
    sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "malformed_json"}))
        .await;
    let r = stock_call(&sim, &tok).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());

    // Truncated JSON: a prefix of the real (streamed) body, then the connection is cut.
    sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "truncated_json", "bytes": 300}))
        .await;
    let r = stock_call(&sim, &tok).await;
    assert_eq!(r.status(), StatusCode::OK);
    match r.bytes().await {
        Err(_) => {}
        Ok(b) => {
            assert!(b.len() <= 300);
            assert!(serde_json::from_slice::<Value>(&b).is_err());
        }
    }
    // ...and of a small lead body.
    sim.fault(json!({"route": "CreateLead", "kind": "truncated_json"}))
        .await;
    let r = sim
        .post_raw(
            &sim.url("TestECService", "LeadService", "CreateLead"),
            Some(&tok),
            b"{}".to_vec(),
        )
        .await;
    match r.bytes().await {
        Err(_) => {}
        Ok(b) => assert!(serde_json::from_slice::<Value>(&b).is_err()),
    }

    // Delay: answers normally, late.
    sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "delay_ms", "ms": 400}))
        .await;
    let t0 = Instant::now();
    let r = stock_call(&sim, &tok).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<StockResponse>().await.unwrap().stock_list.len(),
        30
    );
    assert!(t0.elapsed() >= Duration::from_millis(400));

    // Hang: the client gives up.
    sim.fault(json!({"route": "GetLeadDetail", "kind": "hang"}))
        .await;
    let err = sim
        .http
        .post(sim.url("TestECService", "LeadService", "GetLeadDetail"))
        .bearer_auth(&tok)
        .json(&sim.account_body(0))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());

    // times / after / wildcard / service-qualified routes; GET and DELETE.
    sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "http_status", "status": 503, "times": 2, "after": 1})).await;
    let got: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(stock_call(&sim, &tok).await.status().as_u16());
        }
        v
    };
    assert_eq!(got, vec![200, 503, 503, 200]);
    sim.fault(json!({"route": "LeadService/RequestToken", "kind": "http_status", "status": 502}))
        .await;
    let d = sim.dealer(0);
    assert_eq!(
        sim.token_raw(
            "TestECService",
            "StockService",
            &d.client_id,
            &d.client_secret
        )
        .await["Code"],
        0
    );
    let r = sim
        .http
        .post(format!(
            "{}?ClientID={}&ClientSecret={}",
            sim.url("TestECService", "LeadService", "RequestToken"),
            d.client_id,
            d.client_secret
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    sim.fault(json!({"kind": "http_status", "status": 500, "times": 5}))
        .await;
    assert_eq!(sim.ctl_get("/_sim/faults").await["pending"][0]["times"], 5);
    assert_eq!(
        stock_call(&sim, &tok).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (s, _) = sim.ctl(Method::DELETE, "/_sim/faults", None).await;
    assert!(s.is_success());
    assert_eq!(stock_call(&sim, &tok).await.status(), StatusCode::OK);
    // Invalid fault specs are rejected.
    for bad in [
        json!({"kind": "explode"}),
        json!({"kind": "http_status"}),
        json!({"kind": "delay_ms"}),
        json!({"kind": "code", "cod": 5}),
    ] {
        let (s, _) = sim.ctl(Method::POST, "/_sim/faults", Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_concurrency_and_fault_queue_under_load() {
    let sim = start(cfg(1, 5)).await;
    let tok = sim.token(0).await;
    sim.ctl_post(
        "/_sim/latency",
        json!({"route": "GetAdvertisementStocks", "ms": 400}),
    )
    .await;
    assert_eq!(
        sim.ctl_get("/_sim/latency").await["latency"]["GetAdvertisementStocks"],
        400
    );
    // Exactly 3 of 8 concurrent calls get the fault.
    sim.fault(json!({"route": "GetAdvertisementStocks", "kind": "http_status", "status": 503, "times": 3})).await;
    let t0 = Instant::now();
    let calls = (0..8).map(|_| {
        let sim = &sim;
        let tok = tok.clone();
        async move { stock_call(sim, &tok).await.status().as_u16() }
    });
    let statuses = futures_join_all(calls).await;
    assert!(t0.elapsed() >= Duration::from_millis(400));
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5);
    let st = sim.ctl_get("/_sim/stats").await;
    assert!(st["peak_in_flight"].as_i64().unwrap() >= 3, "{st}");
    assert_eq!(st["in_flight"], 0);
    assert_eq!(st["routes"]["GetAdvertisementStocks"]["count"], 8);
    sim.ctl_post(
        "/_sim/latency",
        json!({"route": "GetAdvertisementStocks", "ms": 0}),
    )
    .await;
    assert_eq!(sim.ctl_get("/_sim/latency").await["latency"], json!({}));
    sim.ctl_post("/_sim/reset", json!({})).await;
    let st = sim.ctl_get("/_sim/stats").await;
    assert_eq!(
        (st["total_requests"].clone(), st["peak_in_flight"].clone()),
        (json!(0), json!(0))
    );
}

async fn futures_join_all<F: std::future::Future<Output = u16>>(
    futs: impl Iterator<Item = F>,
) -> Vec<u16> {
    let handles: Vec<_> = futs.collect();
    let mut out = Vec::new();
    // Poll all concurrently.
    let joined = async {
        let mut set = Vec::new();
        for f in handles {
            set.push(Box::pin(f));
        }
        let mut results = vec![0u16; set.len()];
        let mut pending: Vec<usize> = (0..set.len()).collect();
        std::future::poll_fn(|cx| {
            pending.retain(|&i| match set[i].as_mut().poll(cx) {
                std::task::Poll::Ready(v) => {
                    results[i] = v;
                    false
                }
                std::task::Poll::Pending => true,
            });
            if pending.is_empty() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        results
    };
    out.extend(joined.await);
    out
}

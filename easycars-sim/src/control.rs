//! The control API under `/_sim/` (JSON in, JSON out; errors are `{"error": "..."}` with
//! HTTP 400/404). Documented with curl examples in `easycars-sim/README.md`.

// Early-return helpers hand back a ready `Response` as their error, the usual axum idiom.
#![allow(clippy::result_large_err)]

use crate::api::json_response;
use crate::config::Modes;
use crate::faults::FaultSpec;
use crate::gen;
use crate::stock::{apply, custom_stock_number, Ctx, Entry};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use easycars_api::stock_fields::STOCK_FIELDS;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, &v)
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, &json!({ "error": msg.into() }))
}

fn parse(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))
}

/// `GET /_sim/manifest`
pub async fn manifest(State(st): State<Arc<AppState>>) -> Response {
    ok(manifest_json(&st))
}

/// The manifest: dealers with their credentials and counts, integrators, settings.
pub fn manifest_json(st: &AppState) -> Value {
    let dealers: Vec<Value> = st
        .dealers
        .iter()
        .map(|d| {
            let ov = st.overlay(d.index);
            let (total, per) = Ctx::of(st, d.index).counts(&ov);
            json!({
                "DealerName": d.name,
                "ClientID": d.client_id,
                "ClientSecret": d.client_secret,
                "AccountNumber": d.account_number,
                "AccountSecret": d.account_secret,
                "VehicleCount": total,
                "Yards": d.yards.iter().map(|y| json!({
                    "YardCode": y.code,
                    "YardName": y.name,
                    "VehicleCount": per.get(&y.code).copied().unwrap_or(0),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut integrators: Vec<Value> = st
        .integrators
        .iter()
        .map(|(id, (secret, ds))| {
            json!({
                "ClientID": id,
                "ClientSecret": secret,
                "AccountNumbers": ds.iter().map(|&i| st.dealers[i].account_number.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    integrators.sort_by(|a, b| a["ClientID"].as_str().cmp(&b["ClientID"].as_str()));
    let base = &st.base_url;
    json!({
        "base_url": base,
        "test_base_url": format!("{base}/TestECService"),
        "production_base_url": format!("{base}/ECService"),
        "seed": st.cfg.seed,
        "token_ttl_seconds": st.cfg.token_ttl,
        "vehicles_per_dealer": st.cfg.vehicles,
        "dealers": dealers,
        "integrators": integrators,
        "modes": st.modes(),
    })
}

/// `GET /_sim/stats`
pub async fn stats(State(st): State<Arc<AppState>>) -> Response {
    ok(st.stats.snapshot())
}

/// `GET /_sim/leads`
pub async fn leads(State(st): State<Arc<AppState>>) -> Response {
    ok(st.leads().dump())
}

/// `POST /_sim/faults`: one fault object, an array, or `{"faults": [...]}`.
pub async fn add_faults(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let v = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = match v {
        Value::Array(a) => a,
        Value::Object(ref m) if m.contains_key("faults") => match &m["faults"] {
            Value::Array(a) => a.clone(),
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Object(_) => {
                return err(StatusCode::BAD_REQUEST, "\"faults\" must be an array")
            }
        },
        other @ (Value::Null
        | Value::Bool(_)
        | Value::Number(_)
        | Value::String(_)
        | Value::Object(_)) => vec![other],
    };
    let mut specs = Vec::new();
    for f in list {
        match serde_json::from_value::<FaultSpec>(f) {
            Ok(s) => specs.push(s),
            Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
        }
    }
    match st.faults.push(specs) {
        Ok(n) => ok(json!({ "queued": n, "pending": st.faults.pending() })),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

/// `GET /_sim/faults`
pub async fn list_faults(State(st): State<Arc<AppState>>) -> Response {
    ok(json!({ "pending": st.faults.pending() }))
}

/// `DELETE /_sim/faults`
pub async fn clear_faults(State(st): State<Arc<AppState>>) -> Response {
    st.faults.clear();
    ok(json!({ "pending": [] }))
}

/// `POST /_sim/latency` `{"route": "...", "ms": N}`; `GET` lists.
pub async fn set_latency(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let v = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let route = v.get("route").and_then(Value::as_str).unwrap_or("*");
    let Some(ms) = v.get("ms").and_then(Value::as_u64) else {
        return err(StatusCode::BAD_REQUEST, "\"ms\" (milliseconds) is required");
    };
    st.faults.set_latency(route, ms);
    ok(json!({ "latency": st.faults.latency_table() }))
}

/// `GET /_sim/latency`
pub async fn get_latency(State(st): State<Arc<AppState>>) -> Response {
    ok(json!({ "latency": st.faults.latency_table() }))
}

fn clock_json(st: &AppState) -> Value {
    json!({
        "shift_seconds": st.clock_shift.load(Ordering::SeqCst),
        "now": st.now(),
        "sydney": crate::time::sydney_datetime(st.now()),
    })
}

/// `POST /_sim/clock` `{"shift_seconds": N}` adds N seconds to the server clock;
/// `{"set_shift_seconds": N}` sets the total shift.
pub async fn clock(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let v = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(n) = v.get("set_shift_seconds").and_then(Value::as_i64) {
        st.clock_shift.store(n, Ordering::SeqCst);
    } else if let Some(n) = v.get("shift_seconds").and_then(Value::as_i64) {
        st.clock_shift.fetch_add(n, Ordering::SeqCst);
    } else {
        return err(
            StatusCode::BAD_REQUEST,
            "\"shift_seconds\" or \"set_shift_seconds\" is required",
        );
    }
    ok(clock_json(&st))
}

/// `GET /_sim/clock`
pub async fn get_clock(State(st): State<Arc<AppState>>) -> Response {
    ok(clock_json(&st))
}

/// `GET /_sim/config`
pub async fn get_config(State(st): State<Arc<AppState>>) -> Response {
    ok(json!({ "modes": st.modes() }))
}

/// `POST /_sim/config`: change modes (any subset of the keys).
pub async fn set_config(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    let v = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut cur = serde_json::to_value(st.modes()).unwrap_or_default();
    if let (Some(c), Some(n)) = (cur.as_object_mut(), v.as_object()) {
        for (k, val) in n {
            c.insert(k.clone(), val.clone());
        }
    }
    match serde_json::from_value::<Modes>(cur) {
        Ok(m) if m.auth_failure_status == 200 || m.auth_failure_status == 401 => {
            *st.modes.write().unwrap_or_else(|e| e.into_inner()) = m;
            ok(json!({ "modes": st.modes() }))
        }
        Ok(_) => err(
            StatusCode::BAD_REQUEST,
            "auth_failure_status must be 200 or 401",
        ),
        Err(e) => err(StatusCode::BAD_REQUEST, format!("invalid config: {e}")),
    }
}

/// `POST /_sim/reset`: faults, latency, stats, clock shift, stock mutations, leads, modes.
pub async fn reset(State(st): State<Arc<AppState>>) -> Response {
    st.reset();
    ok(json!({ "reset": true }))
}

fn dealer_of(st: &AppState, account: &str) -> Result<usize, Response> {
    st.by_account
        .get(account)
        .copied()
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("unknown account {account}")))
}

fn obj_pairs(v: &Value) -> Option<Vec<(String, Value)>> {
    Some(
        v.as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// `POST /_sim/stock/{account}/{op}` with op `add`, `change` or `remove`.
pub async fn stock(
    State(st): State<Arc<AppState>>,
    Path((account, op)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let d = match dealer_of(&st, &account) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let v = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ctx = Ctx::of(&st, d);
    let mut slot = st.overlays[d].lock().unwrap_or_else(|e| e.into_inner());
    let mut ov = (**slot).clone();
    let result = match op.as_str() {
        "add" => {
            let mut added = Vec::new();
            let yard = match v.get("yard_code").and_then(Value::as_str) {
                Some(y) => match ctx.dealer.yards.iter().find(|x| x.code == y) {
                    Some(x) => Some(x.clone()),
                    None => return err(StatusCode::BAD_REQUEST, format!("unknown yard {y}")),
                },
                None => None,
            };
            let count = v.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            for _ in 0..count {
                let i = ov.next_index;
                ov.next_index += 1;
                let sn = gen::stock_number(st.cfg.seed, d, i);
                if let Some(y) = &yard {
                    ov.changed.insert(
                        sn.clone(),
                        vec![
                            ("YardCode".into(), json!(y.code)),
                            ("YardName".into(), json!(y.name)),
                        ],
                    );
                }
                ov.added.push(Entry::Gen(i));
                added.push(sn);
            }
            if let Some(items) = v.get("items") {
                let Some(items) = items.as_array() else {
                    return err(StatusCode::BAD_REQUEST, "\"items\" must be an array");
                };
                for item in items {
                    let Some(given) = obj_pairs(item) else {
                        return err(StatusCode::BAD_REQUEST, "each item must be an object");
                    };
                    let i = ov.next_index;
                    ov.next_index += 1;
                    let mut pairs = ctx.gen_pairs(i);
                    apply(&mut pairs, &given);
                    if let Some(y) = &yard {
                        apply(
                            &mut pairs,
                            &[
                                ("YardCode".into(), json!(y.code)),
                                ("YardName".into(), json!(y.name)),
                            ],
                        );
                    }
                    let sn = custom_stock_number(&pairs);
                    if sn.is_empty() || ctx.find(&ov, &sn).is_some() {
                        return err(
                            StatusCode::CONFLICT,
                            format!("StockNumber {sn:?} is empty or already exists"),
                        );
                    }
                    if ov.removed.remove(&sn) && ctx.find(&ov, &sn).is_some() {
                        // A removed vehicle that comes back is revived with the given fields,
                        // not added as a twin of its old self.
                        let mut fields = given.clone();
                        if let Some(y) = &yard {
                            fields.push(("YardCode".into(), json!(y.code)));
                            fields.push(("YardName".into(), json!(y.name)));
                        }
                        ov.changed.insert(sn.clone(), fields);
                        added.push(sn);
                        continue;
                    }
                    ov.added.push(Entry::Custom(Arc::new(pairs)));
                    added.push(sn);
                }
            }
            json!({ "added": added })
        }
        "change" => {
            let list: Vec<Value> = match v.get("changes") {
                Some(Value::Array(a)) => a.clone(),
                Some(_) => return err(StatusCode::BAD_REQUEST, "\"changes\" must be an array"),
                None => vec![v.clone()],
            };
            let mut changed = Vec::new();
            for c in list {
                let Some(sn) = c.get("stock_number").and_then(Value::as_str) else {
                    return err(StatusCode::BAD_REQUEST, "\"stock_number\" is required");
                };
                let Some(fields) = c.get("fields").and_then(obj_pairs) else {
                    return err(StatusCode::BAD_REQUEST, "\"fields\" (object) is required");
                };
                if fields.iter().any(|(k, _)| k == "StockNumber") {
                    return err(StatusCode::BAD_REQUEST, "StockNumber cannot be changed");
                }
                if ctx.find(&ov, sn).is_none() {
                    return err(StatusCode::NOT_FOUND, format!("unknown stock number {sn}"));
                }
                let entry = ov.changed.entry(sn.to_string()).or_default();
                apply(entry, &fields);
                changed.push(sn.to_string());
            }
            json!({ "changed": changed })
        }
        "remove" => {
            let Some(list) = v.get("stock_numbers").and_then(Value::as_array) else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "\"stock_numbers\" (array) is required",
                );
            };
            let (mut removed, mut missing) = (Vec::new(), Vec::new());
            for sn in list.iter().filter_map(Value::as_str) {
                if ctx.find(&ov, sn).is_some() {
                    ov.removed.insert(sn.to_string());
                    removed.push(sn);
                } else {
                    missing.push(sn);
                }
            }
            json!({ "removed": removed, "not_found": missing })
        }
        other => {
            return err(
                StatusCode::NOT_FOUND,
                format!("unknown stock operation {other}"),
            )
        }
    };
    let (total, _) = ctx.counts(&ov);
    *slot = Arc::new(ov);
    let mut out = result;
    out["VehicleCount"] = json!(total);
    ok(out)
}

/// `GET /_sim/stock/{account}/{stock_number}`: the current item (as GetAdvertisementStocks
/// would send it).
pub async fn stock_item(
    State(st): State<Arc<AppState>>,
    Path((account, sn)): Path<(String, String)>,
) -> Response {
    let d = match dealer_of(&st, &account) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let ov = st.overlay(d);
    let ctx = Ctx::of(&st, d);
    match ctx.find(&ov, &sn) {
        Some(pos) => {
            let mut buf = Vec::new();
            crate::json::write_pairs(&mut buf, &ctx.item(&ov, pos));
            crate::api::raw_json(StatusCode::OK, buf)
        }
        None => err(StatusCode::NOT_FOUND, format!("unknown stock number {sn}")),
    }
}

/// `GET /_sim/fields`: the 72-field catalogue.
pub async fn fields() -> Response {
    let v: Vec<Value> = STOCK_FIELDS
        .iter()
        .map(|f| json!({"json_key": f.json_key, "column": f.column, "kind": format!("{:?}", f.kind), "nullable": f.nullable}))
        .collect();
    ok(json!({ "fields": v }))
}

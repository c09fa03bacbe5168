//! The EasyCars routes: `POST /{TestECService|ECService}/{StockService|LeadService}/{Name}`.
//!
//! Every answer is the documented envelope (`Code`/`ErrorMessage`, PascalCase payload beside
//! it). Order of checks on a data call: route → stats → latency → fault → Bearer token
//! (Code 1 `"Invalid token."`) → JSON body → AccountNumber/AccountSecret → fields.

// Early-return helpers hand back a ready `Response` as their error, the usual axum idiom.
#![allow(clippy::result_large_err)]

use crate::config::BadAccount;
use crate::faults::FaultAction;
use crate::jwt::Service;
use crate::leads::{self, Obj};
use crate::stats::{redact, redact_query};
use crate::stock::{self, Ctx};
use crate::AppState;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use easycars_api::route::Route;
use easycars_api::wire::{
    Envelope, LeadResponse, QuotationResponse, SearchContactsResponse, StockResponse, TokenClaims,
    TokenResponse,
};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const JSON_CT: &str = "application/json; charset=utf-8";

/// A JSON response from bytes.
pub fn raw_json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
    r
}

/// A JSON response from a serializable value.
pub fn json_response<T: Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => raw_json(status, b),
        Err(_) => raw_json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"Code":9,"ErrorMessage":"Serialization failed."}"#,
        ),
    }
}

fn envelope(status: StatusCode, code: i32, msg: &str) -> Response {
    json_response(
        status,
        &Envelope {
            code,
            error_message: Some(msg.to_string()),
        },
    )
}

/// A failure in the shape of the route's success response (payload keys null).
pub fn route_error(route: Route, code: i32, msg: &str) -> Response {
    let m = Some(msg.to_string());
    match route {
        Route::RequestToken(_) => json_response(
            StatusCode::OK,
            &TokenResponse {
                token: None,
                code,
                error_message: m,
            },
        ),
        Route::CreateLead | Route::UpdateLead => json_response(
            StatusCode::OK,
            &LeadResponse {
                lead_number: None,
                customer_no: None,
                code,
                error_message: m,
            },
        ),
        Route::CreateQuotation => json_response(
            StatusCode::OK,
            &QuotationResponse {
                quote_number: None,
                customer_no1: None,
                customer_no2: None,
                code,
                error_message: m,
            },
        ),
        Route::GetAdvertisementStocks | Route::GetLeadDetail | Route::SearchContacts => {
            envelope(StatusCode::OK, code, msg)
        }
    }
}

fn not_found(msg: &str) -> Response {
    envelope(StatusCode::NOT_FOUND, 9, msg)
}

fn canonical<'a>(names: &[&'a str], s: &str) -> Option<&'a str> {
    names.iter().copied().find(|n| n.eq_ignore_ascii_case(s))
}

fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(q: Option<&str>, name: &str) -> Option<String> {
    q?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        percent_decode(k)
            .eq_ignore_ascii_case(name)
            .then(|| percent_decode(v))
    })
}

/// The handler for every EasyCars route.
pub async fn handle(
    State(st): State<Arc<AppState>>,
    method: Method,
    Path((prefix, service, route)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(prefix) = canonical(&["TestECService", "ECService"], &prefix) else {
        return not_found("Unknown service prefix.");
    };
    let Some(svc) = Service::parse(&service) else {
        return not_found("Unknown service.");
    };
    let svc_name = svc.segment();
    let Some(route) = Route::parse(svc, &route) else {
        return not_found("Unknown operation.");
    };
    if method != Method::POST {
        return envelope(StatusCode::METHOD_NOT_ALLOWED, 9, "Only POST is supported.");
    }
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut recorded = match &parsed {
        Some(v) => v.clone(),
        None if body.is_empty() => Value::Null,
        None => Value::String(String::from_utf8_lossy(&body[..body.len().min(4096)]).into()),
    };
    redact(&mut recorded);
    let record = json!({
        "service": svc_name,
        "prefix": prefix,
        "query": uri.query().map(redact_query),
        "bearer": headers.get(header::AUTHORIZATION).is_some(),
        "body": recorded,
    });
    let _guard = st.stats.enter(route.name(), prefix, record);
    if st.cfg.verbose {
        eprintln!("easycars-sim: POST {prefix}/{}", route.path());
    }
    // Who the call is for, for faults scoped to one account.
    let client_id = query_param(uri.query(), "ClientID");
    let account = parsed
        .as_ref()
        .and_then(|v| v.get("AccountNumber"))
        .and_then(Value::as_str);
    let who: Vec<&str> = client_id.as_deref().into_iter().chain(account).collect();
    let truncate = match inject(&st, svc_name, route.name(), &who, |code, msg| {
        route_error(route, code, msg)
    })
    .await
    {
        Ok(t) => t,
        Err(fault) => return fault,
    };
    let resp = dispatch(&st, route, &uri, &headers, parsed, body.is_empty()).await;
    match truncate {
        Some(n) => truncated(resp, n),
        None => resp,
    }
}

/// Applies a route's latency and its next queued fault. `Err` is the fault's own answer (a
/// Code fault answers through `code_answer`); `Ok(Some(..))` asks the caller to truncate its body.
async fn inject(
    st: &AppState,
    service: &str,
    route: &str,
    who: &[&str],
    code_answer: impl FnOnce(i32, &str) -> Response,
) -> Result<Option<Option<usize>>, Response> {
    let latency = st.faults.latency_for(service, route);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match st.faults.take(service, route, who) {
        None => Ok(None),
        Some(FaultAction::Delay(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(None)
        }
        Some(FaultAction::Hang) => std::future::pending().await,
        Some(FaultAction::HttpStatus {
            status,
            retry_after,
            body,
        }) => Err(http_status_fault(status, retry_after, body)),
        Some(FaultAction::Code { code, message }) => Err(code_answer(code, &message)),
        Some(FaultAction::MalformedJson(b)) => Err(raw_json(StatusCode::OK, b)),
        Some(FaultAction::TruncatedJson(n)) => Ok(Some(n)),
    }
}

/// An injected HTTP error status.
pub fn http_status_fault(status: u16, retry_after: Option<u64>, body: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = body.unwrap_or_else(|| {
        format!(
            "<html><body><h1>{} {}</h1></body></html>",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error")
        )
    });
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(s) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// Send at most `limit` bytes of the body, then cut the connection.
pub fn truncated(resp: Response, limit: Option<usize>) -> Response {
    let (mut parts, body) = resp.into_parts();
    let limit = limit.unwrap_or_else(|| match body.size_hint().exact() {
        Some(n) => (n / 2) as usize,
        None => 1000,
    });
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = body.into_data_stream();
    let s = futures_util::stream::unfold(
        (stream, 0usize, false),
        move |(mut stream, sent, done)| async move {
            if done {
                return None;
            }
            let cut = || std::io::Error::other("easycars-sim: truncated_json fault");
            if sent >= limit {
                // Let the prefix reach the client before the connection is dropped.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Some((Err(cut()), (stream, sent, true)));
            }
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let take = chunk.len().min(limit - sent);
                    Some((Ok(chunk.slice(..take)), (stream, sent + take, false)))
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Err(cut()), (stream, sent, true)))
                }
            }
        },
    );
    Response::from_parts(parts, Body::from_stream(s))
}

fn auth(st: &AppState, svc: Service, headers: &HeaderMap) -> Result<TokenClaims, Response> {
    let modes = st.modes();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, t) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("Bearer").then(|| t.trim())
        });
    let only = modes.strict_token_service.then_some(svc);
    token
        .and_then(|t| st.signer.verify(t, st.now(), only))
        .filter(|c| st.integrators.contains_key(&c.client_id))
        .ok_or_else(|| {
            let status = StatusCode::from_u16(modes.auth_failure_status).unwrap_or(StatusCode::OK);
            envelope(status, 1, "Invalid token.")
        })
}

fn request_token(st: &AppState, svc: Service, uri: &Uri) -> Response {
    let id = query_param(uri.query(), "ClientID").unwrap_or_default();
    let secret = query_param(uri.query(), "ClientSecret").unwrap_or_default();
    if id.is_empty() || secret.is_empty() {
        return route_error(
            Route::RequestToken(svc),
            1,
            "ClientID and ClientSecret are required.",
        );
    }
    match st.integrators.get(&id) {
        Some((s, _)) if *s == secret => {
            let token = st.signer.issue(svc, &id, st.now(), st.cfg.token_ttl);
            json_response(
                StatusCode::OK,
                &TokenResponse {
                    token: Some(token),
                    code: 0,
                    error_message: None,
                },
            )
        }
        _ => route_error(
            Route::RequestToken(svc),
            1,
            "Invalid ClientID or ClientSecret.",
        ),
    }
}

fn bad_account(st: &AppState, route: Route) -> Response {
    let msg = "Invalid AccountNumber or AccountSecret.";
    match st.modes().bad_account {
        BadAccount::Code1 => route_error(route, 1, msg),
        BadAccount::Code7 => route_error(route, 7, msg),
        BadAccount::Empty if route == Route::GetAdvertisementStocks => json_response(
            StatusCode::OK,
            &StockResponse {
                stock_list: Vec::new(),
                code: 0,
                error_message: None,
            },
        ),
        BadAccount::Empty => route_error(route, 7, msg),
    }
}

async fn dispatch(
    st: &Arc<AppState>,
    route: Route,
    uri: &Uri,
    headers: &HeaderMap,
    parsed: Option<Value>,
    empty: bool,
) -> Response {
    if let Route::RequestToken(svc) = route {
        return request_token(st, svc, uri);
    }
    let claims = match auth(st, route.service(), headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let v = match parsed {
        Some(v) if v.is_object() => v,
        _ => {
            let msg = if empty {
                "The request body is required."
            } else {
                "The request body is not a valid JSON object."
            };
            return route_error(route, 7, msg);
        }
    };
    let Some(o) = Obj::new(&v, "") else {
        return route_error(route, 7, "The request body is not a valid JSON object.");
    };
    if route == Route::CreateLead {
        // Counted once the token is valid and the body parses, whatever the outcome.
        let ext = o.str("ExternalID", None, false).ok().flatten();
        st.leads().note_create_call(ext.as_deref());
    }
    let account = match o.req_str("AccountNumber", Some(20)) {
        Ok(a) => a,
        Err(e) => return route_error(route, 7, &e),
    };
    let secret = match o.req_str("AccountSecret", Some(50)) {
        Ok(a) => a,
        Err(e) => return route_error(route, 7, &e),
    };
    let Some(&d) = st.by_account.get(&account) else {
        return bad_account(st, route);
    };
    let dealer = &st.dealers[d];
    if dealer.account_secret != secret {
        return bad_account(st, route);
    }
    if st.modes().strict_token_account && dealer.client_id != claims.client_id {
        return bad_account(st, route);
    }
    let account = dealer.account_number.as_str();
    let client = claims.client_id.as_str();
    let fail = |e: String| route_error(route, 7, &e);
    match route {
        Route::GetAdvertisementStocks => {
            let yard = match o.str("YardCode", None, false) {
                Ok(y) => y.filter(|y| !y.is_empty()),
                Err(e) => return fail(e),
            };
            let ov = st.overlay(d);
            let mut r = Response::new(stock::body(st.clone(), d, ov, yard));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
            r
        }
        Route::CreateLead => {
            let mut leads = st.leads();
            let n = match leads::validate_create(&o) {
                Ok(n) => n,
                Err(e) => return fail(e),
            };
            let exists = o
                .str("StockNumber", None, false)
                .ok()
                .flatten()
                .is_some_and(|sn| Ctx::of(st, d).find(&st.overlay(d), &sn).is_some());
            let created = crate::time::sydney_datetime(st.now());
            match leads.create(account, client, n, exists, created) {
                Ok((lead, cust)) => lead_ok(lead, cust),
                Err(e) => fail(e),
            }
        }
        Route::UpdateLead => {
            let p = match leads::validate_update(&o) {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            match st.leads().update(account, client, p) {
                Ok((lead, cust)) => lead_ok(lead, cust),
                Err(e) => fail(e),
            }
        }
        Route::GetLeadDetail => {
            let number = match o.req_str("LeadNumber", Some(20)) {
                Ok(n) => n,
                Err(e) => return fail(e),
            };
            let include = st.modes().include_lead_status;
            match st.leads().detail(account, client, &number, include) {
                Ok(pairs) => {
                    let mut s = String::from("{");
                    for (k, v) in pairs {
                        s.push_str(&format!("\"{k}\":{v},"));
                    }
                    s.push_str("\"Code\":0,\"ErrorMessage\":null}");
                    raw_json(StatusCode::OK, s)
                }
                Err(e) => fail(e),
            }
        }
        Route::SearchContacts => match st.leads().search(account, &o) {
            Ok(contacts) => json_response(
                StatusCode::OK,
                &SearchContactsResponse {
                    contacts,
                    code: 0,
                    error_message: None,
                },
            ),
            Err(e) => fail(e),
        },
        Route::CreateQuotation => {
            let yards: Vec<String> = dealer.yards.iter().map(|y| y.code.clone()).collect();
            let mut rec = v.clone();
            redact(&mut rec);
            match st.leads().quotation(account, client, &yards, &o, rec) {
                Ok((q, c1, c2)) => json_response(
                    StatusCode::OK,
                    &QuotationResponse {
                        quote_number: Some(q),
                        customer_no1: Some(c1),
                        customer_no2: c2,
                        code: 0,
                        error_message: None,
                    },
                ),
                Err(e) => fail(e),
            }
        }
        Route::RequestToken(svc) => request_token(st, svc, uri),
    }
}

fn lead_ok(lead: String, cust: String) -> Response {
    json_response(
        StatusCode::OK,
        &LeadResponse {
            lead_number: Some(lead),
            customer_no: Some(cust),
            code: 0,
            error_message: None,
        },
    )
}

/// `GET /publicimages/image/{a}/{b}/{hash}`: a tiny JPEG (404 unless `hash` is 40 hex digits).
pub async fn image(
    State(st): State<Arc<AppState>>,
    Path((a, b, hash)): Path<(String, String, String)>,
) -> Response {
    let _guard = st.stats.enter(
        "Image",
        "publicimages",
        json!({"path": format!("/publicimages/image/{a}/{b}/{hash}")}),
    );
    let truncate = match inject(&st, "publicimages", "Image", &[], |code, msg| {
        envelope(StatusCode::OK, code, msg)
    })
    .await
    {
        Ok(t) => t,
        Err(fault) => return fault,
    };
    if hash.len() != 40 || !hash.bytes().all(|c| c.is_ascii_hexdigit()) {
        return (StatusCode::NOT_FOUND, "image not found").into_response();
    }
    let mut r = Response::new(Body::from(crate::gen::jpeg(&format!("{a}/{b}/{hash}"))));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    match truncate {
        Some(n) => truncated(r, n),
        None => r,
    }
}

/// Unknown paths.
pub async fn fallback() -> Response {
    not_found("Endpoint not found.")
}

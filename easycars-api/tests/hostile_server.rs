//! `easycars_api::client` against hostile or broken HTTP servers: raw listeners on 127.0.0.1
//! (port 0) that answer exactly what a test scripts (redirects, absurd `Retry-After` values,
//! absurd JWT claims, endless or huge bodies), which the simulator cannot produce. The client
//! must not leak secrets to another host, panic, or allocate without bound.

use base64::Engine as _;
use easycars_api::client::{ApiError, Client, ClientConfig, Credentials, MAX_TOKEN_LIFETIME};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a scripted server does with one request (one request per connection).
enum Reply {
    /// Write these bytes, then close.
    Raw(Vec<u8>),
    /// Wait, then write these bytes and close.
    After(Duration, Vec<u8>),
    /// Write these bytes (a head), then keep the connection open and silent.
    ThenHang(Vec<u8>),
    /// A 200 head and a chunked body that never ends (until the peer goes away).
    EndlessChunks,
}

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Request heads, in arrival order.
    heads: Mutex<Vec<String>>,
    /// An endless body stopped because the peer went away.
    stream_ended: AtomicBool,
}

struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
}

impl Server {
    fn base(&self) -> String {
        format!("http://{}/TestECService", self.addr)
    }

    fn connections(&self) -> u64 {
        self.stats.connections.load(SeqCst)
    }

    fn requests(&self) -> usize {
        self.stats.heads.lock().unwrap().len()
    }

    fn heads(&self) -> Vec<String> {
        self.stats.heads.lock().unwrap().clone()
    }
}

type Script = dyn Fn(&str) -> Reply + Send + Sync;

/// Start a server answering every request line with `script`.
async fn serve(script: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    let script: Arc<Script> = Arc::new(script);
    let st = stats.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            st.connections.fetch_add(1, SeqCst);
            let (st, script) = (st.clone(), script.clone());
            tokio::spawn(async move { handle(sock, &st, &*script).await });
        }
    });
    Server { addr, stats }
}

async fn handle(mut sock: TcpStream, stats: &Stats, script: &Script) {
    // Read more of the request; false once the peer is gone.
    async fn more(sock: &mut TcpStream, stats: &Stats, buf: &mut Vec<u8>) -> bool {
        let mut tmp = [0u8; 8192];
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                stats.bytes_in.fetch_add(n as u64, SeqCst);
                buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !more(&mut sock, stats, &mut buf).await {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        if !more(&mut sock, stats, &mut buf).await {
            return;
        }
    }
    let line = head.lines().next().unwrap_or("").to_string();
    stats.heads.lock().unwrap().push(head);
    let write = |bytes: Vec<u8>| {
        stats.bytes_out.fetch_add(bytes.len() as u64, SeqCst);
        bytes
    };
    match script(&line) {
        Reply::Raw(b) => {
            let _ = sock.write_all(&write(b)).await;
            let _ = sock.shutdown().await;
        }
        Reply::After(d, b) => {
            tokio::time::sleep(d).await;
            let _ = sock.write_all(&write(b)).await;
            let _ = sock.shutdown().await;
        }
        Reply::ThenHang(b) => {
            let _ = sock.write_all(&write(b)).await;
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        Reply::EndlessChunks => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if sock.write_all(&write(head.to_vec())).await.is_err() {
                return;
            }
            let mut piece = format!("{:x}\r\n", 16 * 1024).into_bytes();
            piece.extend(std::iter::repeat_n(b' ', 16 * 1024));
            piece.extend_from_slice(b"\r\n");
            while sock.write_all(&piece).await.is_ok() {
                stats.bytes_out.fetch_add(piece.len() as u64, SeqCst);
            }
            stats.stream_ended.store(true, SeqCst);
        }
    }
}

/// A full response with `Connection: close`; `headers` are raw `Name: value\r\n` lines.
fn response(status: &str, headers: &[u8], body: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(headers);
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body.as_bytes());
    r
}

/// A JWT-shaped token with this payload.
fn jwt(payload: &str) -> String {
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.sig",
        enc(r#"{"alg":"HS256","typ":"JWT"}"#),
        enc(payload)
    )
}

fn token_answer(payload: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"Code":0,"ErrorMessage":null,"Token":"{}"}}"#,
        jwt(payload)
    );
    response("200 OK", b"Content-Type: application/json\r\n", &body)
}

fn good_token() -> Vec<u8> {
    token_answer(r#"{"ClientID":"CID","nbf":100,"exp":700,"iat":100}"#)
}

const EMPTY_STOCK: &str = r#"{"Code":0,"ErrorMessage":null,"StockList":[]}"#;

fn creds() -> Credentials {
    Credentials::new(
        "CID-H",
        "HOSTILE-CLIENT-SECRET",
        "EC424242",
        "hostile-acct-secret",
    )
}

fn client(base: String, f: impl FnOnce(&mut ClientConfig)) -> Client {
    let mut cfg = ClientConfig {
        base_url: base,
        request_timeout: Duration::from_secs(10),
        deadline: Duration::from_secs(20),
        max_retries: 2,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        ..ClientConfig::default()
    };
    f(&mut cfg);
    Client::new(cfg).unwrap()
}

fn assert_clean(e: &ApiError, also: &[&str]) {
    let shown = format!("{e} | {e:?}");
    for s in [
        "HOSTILE-CLIENT-SECRET",
        "EC424242",
        "hostile-acct-secret",
        "?",
    ]
    .iter()
    .chain(also)
    {
        assert!(!shown.contains(s), "{s:?} shown in: {shown}");
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        // The would-be thief: it would hand out a token to anyone who reaches it.
        let thief = serve(|_| Reply::Raw(good_token())).await;
        let target = format!(
            "http://{}/TestECService/StockService/RequestToken?stolen=1",
            thief.addr
        );
        let location = format!("Location: {target}\r\n").into_bytes();
        let origin = serve(move |_| Reply::Raw(response(status, &location, ""))).await;
        let c = client(origin.base(), |_| {});
        let t0 = Instant::now();
        let e = c.request_token(&creds()).await.unwrap_err();
        let code: u16 = status[..3].parse().unwrap();
        assert_eq!(
            e,
            ApiError::Redirected {
                status: code,
                route: "StockService/RequestToken"
            },
            "{status}"
        );
        assert!(!e.retryable());
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert_eq!(origin.requests(), 1, "{status}: not retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            thief.connections(),
            0,
            "{status}: the redirect was followed"
        );
        assert_eq!(thief.stats.bytes_in.load(SeqCst), 0);
        assert_clean(&e, &[&thief.addr.to_string(), "stolen"]);
        eprintln!("redirect error as shown: {e}");
    }
}

#[tokio::test]
async fn a_redirected_data_call_never_sends_the_account_secret_elsewhere() {
    let thief = serve(|_| Reply::Raw(response("200 OK", b"", EMPTY_STOCK))).await;
    let location = format!(
        "Location: http://{}/TestECService/StockService/GetAdvertisementStocks\r\n",
        thief.addr
    )
    .into_bytes();
    let origin = serve(move |line| {
        if line.contains("/RequestToken") {
            Reply::Raw(good_token())
        } else {
            Reply::Raw(response("307 Temporary Redirect", &location, ""))
        }
    })
    .await;
    let c = client(origin.base(), |_| {});
    let e = c.get_stock(&creds(), None).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::Redirected {
            status: 307,
            route: "StockService/GetAdvertisementStocks"
        }
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(thief.connections(), 0, "the body was re-posted elsewhere");
    assert_eq!(origin.requests(), 2, "RequestToken, then one data call");
    for head in origin.heads() {
        assert!(!head.to_ascii_lowercase().contains("\nreferer:"), "{head}");
    }
}

#[tokio::test]
async fn hostile_retry_after_values_never_panic() {
    // (header value, expected retry_after, requests the call makes with max_retries = 2)
    let huge = Some(Duration::from_secs(u64::MAX));
    let cases: Vec<(&[u8], Option<Duration>, usize)> = vec![
        // Longer than the deadline: fail fast, one request, no sleep.
        (b"18446744073709551615", huge, 1),
        (b"99999999999999999999", huge, 1),
        (b"  99999999999999999999999999999999999999999999  ", huge, 1),
        (b"3600", Some(Duration::from_secs(3600)), 1),
        (b"Fri, 31 Dec 9999 23:59:59 GMT", None, 1), // checked below: a long wait
        // A date in the past or zero: no wait, retried.
        (b"Wed, 21 Oct 2015 07:28:00 GMT", Some(Duration::ZERO), 3),
        (b"0", Some(Duration::ZERO), 3),
        // Unusable: ignored (backoff instead), retried.
        (b"-5", None, 3),
        (b"-18446744073709551616", None, 3),
        (b"", None, 3),
        (b"1.5", None, 3),
        (b"+5", None, 3),
        (b"0x10", None, 3),
        (b"soon", None, 3),
        (b"Sun, 99 Foo 2015 99:99:99 GMT", None, 3),
        (b"\xff\xfe", None, 3),
    ];
    for (value, want, requests) in cases {
        let mut header = b"Retry-After: ".to_vec();
        header.extend_from_slice(value);
        header.extend_from_slice(b"\r\n");
        let srv = serve(move |_| Reply::Raw(response("429 Too Many Requests", &header, ""))).await;
        let c = client(srv.base(), |_| {});
        let shown = String::from_utf8_lossy(value).into_owned();
        let t0 = Instant::now();
        let e = c.request_token(&creds()).await.unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(5), "{shown}: slept");
        let ApiError::RateLimited { route, retry_after } = e else {
            panic!("{shown}: {e:?}")
        };
        assert_eq!(route, "StockService/RequestToken");
        if value.starts_with(b"Fri, 31 Dec 9999") {
            assert!(
                retry_after.is_some_and(|d| d > Duration::from_secs(100 * 365 * 86400)),
                "{shown}: {retry_after:?}"
            );
        } else {
            assert_eq!(retry_after, want, "{shown}");
        }
        assert_eq!(srv.requests(), requests, "{shown}");
    }
}

#[tokio::test]
async fn hostile_token_claims_do_not_crash_the_client() {
    let day = MAX_TOKEN_LIFETIME;
    let cases = [
        (r#"{"exp":9223372036854775807,"iat":0}"#, day),
        (r#"{"exp":9223372036854775807,"iat":-1}"#, day),
        (
            r#"{"exp":9223372036854775807,"iat":-9223372036854775808}"#,
            day,
        ),
        (r#"{"exp":9223372036854775807}"#, day),
        (r#"{"exp":18446744073709551615,"iat":0}"#, day),
        (r#"{"exp":1e300,"iat":-1e300}"#, day),
        (r#"{"exp":-5,"iat":0}"#, Duration::ZERO),
        (r#"{"exp":700,"iat":900}"#, Duration::ZERO),
        (r#"{"exp":700,"iat":9223372036854775807}"#, Duration::ZERO),
        (r#"{"exp":"9999999999","iat":0}"#, Duration::from_secs(600)),
        (r#"{"exp":700.5,"iat":100.25}"#, Duration::from_secs(600)),
    ];
    for (payload, want) in cases {
        let srv = serve(move |line| {
            if line.contains("/RequestToken") {
                Reply::Raw(token_answer(payload))
            } else {
                Reply::Raw(response("200 OK", b"", EMPTY_STOCK))
            }
        })
        .await;
        let c = client(srv.base(), |_| {});
        let t = c.request_token(&creds()).await.unwrap();
        assert_eq!(t.lifetime(), want, "{payload}");
        // The token is usable; it is cached unless its lifetime is zero.
        assert!(c.get_stock(&creds(), None).await.unwrap().is_empty());
        assert!(c.get_stock(&creds(), None).await.unwrap().is_empty());
        let token_requests = srv
            .heads()
            .iter()
            .filter(|h| h.contains("/RequestToken"))
            .count();
        let expected = if want.is_zero() { 3 } else { 1 };
        assert_eq!(token_requests, expected, "{payload}");
    }
}

#[tokio::test]
async fn a_request_timeout_longer_than_the_deadline_is_not_cut() {
    let srv = serve(|_| Reply::After(Duration::from_millis(1500), good_token())).await;
    let c = client(srv.base(), |c| {
        c.request_timeout = Duration::from_secs(3);
        c.deadline = Duration::from_secs(1);
    });
    assert_eq!(c.config().deadline, Duration::from_secs(3));
    assert_eq!(c.config().request_timeout, Duration::from_secs(3));
    let t = c.request_token(&creds()).await;
    assert!(t.is_ok(), "{t:?}");
    // A longer deadline is kept as given.
    let c = client(srv.base(), |c| {
        c.request_timeout = Duration::from_secs(3);
        c.deadline = Duration::from_secs(50);
    });
    assert_eq!(c.config().deadline, Duration::from_secs(50));
}

#[tokio::test]
async fn an_endless_chunked_body_stops_at_the_cap() {
    let srv = serve(|_| Reply::EndlessChunks).await;
    let c = client(srv.base(), |c| c.max_response_bytes = 100_000);
    let t0 = Instant::now();
    let e = c.request_token(&creds()).await.unwrap_err();
    assert_eq!(
        e,
        ApiError::TooLarge {
            route: "StockService/RequestToken",
            limit: 100_000
        }
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(srv.requests(), 1, "not retried");
    // The client hung up: the server's writes fail soon after (what it wrote beyond the cap
    // sits in socket buffers, never in the client's memory).
    let t0 = Instant::now();
    while !srv.stats.stream_ended.load(SeqCst) {
        assert!(t0.elapsed() < Duration::from_secs(5), "still streaming");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = srv.stats.bytes_out.load(SeqCst);
    assert!(sent >= 100_000, "{sent}");
    assert!(sent < 64 << 20, "{sent}");
}

#[tokio::test]
async fn a_huge_content_length_is_refused_before_reading() {
    for length in ["1000000000000000", "536870913"] {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{\"Code\":0"
        )
        .into_bytes();
        let srv = serve(move |_| Reply::ThenHang(head.clone())).await;
        // Default cap (512 MiB); the body never comes, so reading it would hang to the timeout.
        let c = client(srv.base(), |c| c.max_response_bytes = 512 * 1024 * 1024);
        let t0 = Instant::now();
        let e = c.request_token(&creds()).await.unwrap_err();
        assert_eq!(
            e,
            ApiError::TooLarge {
                route: "StockService/RequestToken",
                limit: 512 * 1024 * 1024
            },
            "{length}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{length}: it waited");
        assert_eq!(srv.requests(), 1);
    }
    // A Content-Length past u64: an error, never a panic or a wait.
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec();
    let srv = serve(move |_| Reply::ThenHang(head.clone())).await;
    let c = client(srv.base(), |c| c.max_retries = 0);
    let t0 = Instant::now();
    let r = c.request_token(&creds()).await;
    assert!(r.is_err());
    assert!(t0.elapsed() < Duration::from_secs(2));
}

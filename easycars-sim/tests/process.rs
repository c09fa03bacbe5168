//! The real binary (one stdout line, manifest, clean exit on SIGTERM/SIGINT) and a 100,000
//! vehicle dealer.

mod common;

use common::*;
use easycars_api::stock_fields::STOCK_FIELDS;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_one_line_serves_and_exits_cleanly_on_signals() {
    for signal in ["TERM", "INT"] {
        let t0 = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_easycars-sim"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--seed",
                "7",
                "--dealers",
                "3",
                "--vehicles",
                "25",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let line = tokio::task::spawn_blocking(move || {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            (l, out)
        });
        let (line, mut out) = tokio::time::timeout(Duration::from_secs(10), line)
            .await
            .expect("no listening line")
            .unwrap();
        // Generous bound for "starts in under a second".
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        let url = line
            .strip_suffix('\n')
            .and_then(|l| l.strip_prefix("listening on "))
            .unwrap_or_else(|| panic!("bad line {line:?}"))
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
            "{url}"
        );

        let http = reqwest::Client::new();
        let m: serde_json::Value = http
            .get(format!("{url}/_sim/manifest"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dealers = m["dealers"].as_array().unwrap();
        assert_eq!(dealers.len(), 3);
        for d in dealers {
            let acct = d["AccountNumber"].as_str().unwrap();
            assert!(
                acct.len() == 8
                    && acct.starts_with("EC")
                    && acct[2..].bytes().all(|b| b.is_ascii_digit())
            );
            let secret = d["AccountSecret"].as_str().unwrap();
            assert_eq!(secret, secret.to_lowercase());
            assert_eq!(secret.len(), 36);
            let id = d["ClientID"].as_str().unwrap();
            assert_eq!((id.len(), id.to_uppercase()), (36, id.to_string()));
            assert_eq!(d["VehicleCount"], 25);
            assert_eq!(d["Yards"].as_array().unwrap().len(), 3);
        }
        assert_eq!(m["integrators"].as_array().unwrap().len(), 3);
        // It serves the API.
        let d = &dealers[0];
        let t: serde_json::Value = http
            .post(format!(
                "{url}/ECService/StockService/RequestToken?ClientID={}&ClientSecret={}",
                d["ClientID"].as_str().unwrap(),
                d["ClientSecret"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(t["Code"], 0);

        let st = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "", "exactly one stdout line");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_thousand_vehicles() {
    let sim = start(cfg(1, 100_000)).await;
    assert_eq!(sim.manifest["dealers"][0]["VehicleCount"], 100_000);
    let tok = sim.token(0).await;
    let r = sim.stocks(0, &tok, None).await;
    assert_eq!((r.code, r.stock_list.len()), (0, 100_000));
    let mut seen = HashSet::with_capacity(100_000);
    for item in &r.stock_list {
        assert_eq!(item.len(), 72);
        for f in &STOCK_FIELDS {
            assert!(
                f.value_matches(&item[f.json_key]),
                "{} = {}",
                f.json_key,
                item[f.json_key]
            );
        }
        assert!(seen.insert(item["StockNumber"].as_str().unwrap()));
    }
    // A yard filter on the big list.
    let y = sim.stocks(0, &tok, Some("300")).await;
    assert_eq!(y.stock_list.len(), 33_333);
}

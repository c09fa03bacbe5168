//! `easycars-sim` command line: bind, print `listening on http://ADDR` once, serve until
//! SIGTERM or SIGINT (exit code 0).

use clap::Parser;
use easycars_sim::{BadAccount, Modes, SimConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

/// A faithful, fault-injecting EasyCars API simulator.
#[derive(Parser, Debug)]
#[command(name = "easycars-sim", version, about)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed for all generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of dealers.
    #[arg(long, default_value_t = 2)]
    dealers: usize,
    /// Generated vehicles per dealer.
    #[arg(long, default_value_t = 50)]
    vehicles: usize,
    /// Yards per dealer.
    #[arg(long, default_value_t = 3)]
    yards: usize,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 600)]
    token_ttl: i64,
    /// HTTP status of an invalid-token answer (body is always Code 1 "Invalid token.").
    #[arg(long, default_value_t = 200, value_parser = parse_auth_status)]
    auth_failure_status: u16,
    /// Answer to a wrong AccountNumber/AccountSecret.
    #[arg(long, value_enum, default_value_t = BadAccount::Code1)]
    bad_account: BadAccount,
    /// Reject a StockService token on LeadService and vice versa.
    #[arg(long)]
    strict_token_service: bool,
    /// Reject a token whose ClientID is not the account's integrator.
    #[arg(long)]
    strict_token_account: bool,
    /// Add the non-standard LeadStatus to GetLeadDetail.
    #[arg(long)]
    include_lead_status: bool,
    /// One ClientID/ClientSecret for all dealers (default: one per dealer).
    #[arg(long)]
    shared_integrator: bool,
    /// No duplicate or broken image URLs.
    #[arg(long)]
    no_image_quirks: bool,
    /// Request bodies kept per route in /_sim/stats.
    #[arg(long, default_value_t = 20)]
    stats_keep: usize,
    /// Base URL used in ImageURLs (default: http://LISTEN-ADDRESS).
    #[arg(long)]
    public_url: Option<String>,
    /// Log requests to stderr.
    #[arg(long)]
    verbose: bool,
}

fn parse_auth_status(s: &str) -> Result<u16, String> {
    match s {
        "200" => Ok(200),
        "401" => Ok(401),
        _ => Err("must be 200 or 401".into()),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = SimConfig {
        seed: cli.seed,
        dealers: cli.dealers,
        vehicles: cli.vehicles,
        yards: cli.yards,
        token_ttl: cli.token_ttl,
        shared_integrator: cli.shared_integrator,
        image_quirks: !cli.no_image_quirks,
        stats_keep: cli.stats_keep,
        verbose: cli.verbose,
        public_url: cli.public_url,
        modes: Modes {
            auth_failure_status: cli.auth_failure_status,
            bad_account: cli.bad_account,
            strict_token_service: cli.strict_token_service,
            strict_token_account: cli.strict_token_account,
            include_lead_status: cli.include_lead_status,
        },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("easycars-sim: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("easycars-sim: cannot listen on {}: {e}", cli.listen);
                return ExitCode::FAILURE;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("easycars-sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
        drop(out);
        tokio::select! {
            r = easycars_sim::serve(cfg, listener) => match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("easycars-sim: {e}");
                    ExitCode::FAILURE
                }
            },
            _ = shutdown_signal() => ExitCode::SUCCESS,
        }
    })
}

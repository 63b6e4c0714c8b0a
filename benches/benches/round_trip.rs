//! The blocking client's cost over a bare ureq call: `Client::show_progress`
//! against the same ShowProgress request sent by hand with a `ureq::Agent`
//! configured alike (keep-alive, no redirects, status codes not errors, same
//! timeouts, same 1 MiB body limit), all against `koophone-sim` on loopback.
//!
//! `cargo bench -p koophone-bench --bench round_trip -- [--rounds R] [--batch B]`
//!
//! Two bare agents are measured. ureq resolves the host before every request,
//! pooled connection or not, and with a timeout set it does so on a new
//! thread; the client answers IP literals itself. So the fair baseline, the
//! one the target is judged on, is a bare agent whose resolver also answers
//! the loopback address without a lookup; the other keeps ureq's default
//! resolver, which is what a hand-written caller gets.
//!
//! The three are interleaved in one loop — a batch of each, the order rotated
//! every round — so drift on a noisy machine hits all alike. The report gives
//! the median per-call time of each and the ratios, plus the median of the
//! per-round ratios. Without `--bench` (as under `cargo test --benches`) it
//! runs a few small rounds as a smoke test. Loops are bounded in count and in
//! time; the server binds 127.0.0.1 port 0.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use koophone_bench::args::BenchArgs;
use koophone_bench::summary::median;
use koophone_sim::{Scenario, Sim};
use koophone_ureq::{Client, PrepareStatus, RetryPolicy, ShowProgress, Token};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

const TOKEN: &str = "sim-token";
const USER_ID: &str = "1008600000104285462";
const INSTANCE_ID: &str = "iRJEVP9";
/// The client's default body limit, applied to the bare agent too.
const BODY_LIMIT: u64 = 1024 * 1024;
/// Stop measuring after this long, whatever the round count.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// The configuration a careful hand-written caller would give its agent:
/// what the client's transport sets, minus nothing.
fn bare_config() -> ureq::config::Config {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .max_idle_connections(32)
        .max_idle_connections_per_host(16)
        .proxy(None)
        .build()
}

/// Answers every lookup with the simulator's address, without a lookup
/// thread: what the client's resolver does for an IP-literal host.
#[derive(Debug)]
struct Loopback(SocketAddr);

impl Resolver for Loopback {
    fn resolve(
        &self,
        _uri: &http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(self.0);
        Ok(addrs)
    }
}

/// One ShowProgress by hand: the same method, URL, headers and body the
/// client sends, the body read under the same limit; no decoding.
fn bare_call(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(), String> {
    let mut response = agent
        .post(url)
        .header("x-auth-token", TOKEN)
        .header("content-type", "application/json")
        .header("user-agent", koophone_proto::endpoint::DEFAULT_USER_AGENT)
        .send(body)
        .map_err(|e| e.to_string())?;
    let bytes = response
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    if response.status() != 200 || bytes.is_empty() {
        return Err(format!("bare call got {}", response.status()));
    }
    Ok(())
}

fn client_call(client: &Client, op: &ShowProgress) -> Result<(), String> {
    let progress = client.show_progress(op).map_err(|e| e.to_string())?;
    // The default scenario's instance answers queuing, restoring or normal.
    if matches!(progress.status, PrepareStatus::Unknown(_)) {
        return Err(format!("unexpected status {}", progress.status));
    }
    Ok(())
}

/// Seconds per call of `batch` calls of `call`.
fn timed_batch(batch: usize, mut call: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    let start = Instant::now();
    for _ in 0..batch {
        call()?;
    }
    Ok(start.elapsed().as_secs_f64() / batch as f64)
}

/// The 1-minute load average (Linux), printed with the figures: on a shared
/// 2-core machine it says how much to trust them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".to_owned())
}

fn main() -> ExitCode {
    koophone_bench::args::exit("round_trip", run())
}

fn run() -> Result<(), String> {
    let args = BenchArgs::parse(&["--rounds", "--batch"])?;
    let (rounds, batch) = if args.bench { (400, 50) } else { (5, 5) };
    let rounds = args.positive("--rounds", rounds)? as usize;
    let batch = args.positive("--batch", batch)? as usize;
    let load_before = load_average();
    let scenario = Scenario {
        request_log_capacity: 0,
        ..Scenario::default()
    };
    let sim = Sim::start(scenario).map_err(|e| e.to_string())?;
    let client = Client::builder()
        .endpoint_url(sim.base_url())
        .token(Token::new(TOKEN).map_err(|e| e.to_string())?)
        .proxy_from_env(false)
        .body_limit(BODY_LIMIT)
        .retry_policy(RetryPolicy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let op = ShowProgress::new(USER_ID, INSTANCE_ID).map_err(|e| e.to_string())?;
    let agent =
        ureq::Agent::with_parts(bare_config(), DefaultConnector::new(), Loopback(sim.addr()));
    let default_agent = ureq::Agent::with_parts(
        bare_config(),
        DefaultConnector::new(),
        DefaultResolver::default(),
    );
    let url = format!("{}/v1/instances/prepare-progress", sim.base_url());
    let body = format!(r#"{{"user_id":"{USER_ID}","instance_id":"{INSTANCE_ID}"}}"#).into_bytes();

    // Warm up all three: connections opened, code paths hot.
    timed_batch(batch.max(100), || client_call(&client, &op))?;
    timed_batch(batch.max(100), || bare_call(&agent, &url, &body))?;
    timed_batch(batch.max(100), || bare_call(&default_agent, &url, &body))?;

    // Per arm, the seconds per call of each round's batch.
    let mut times: [Vec<f64>; 3] = Default::default();
    let started = Instant::now();
    for round in 0..rounds {
        if started.elapsed() > TIME_LIMIT {
            break;
        }
        for k in 0..3 {
            let arm = (round + k) % 3;
            let per_call = match arm {
                0 => timed_batch(batch, || client_call(&client, &op))?,
                1 => timed_batch(batch, || bare_call(&agent, &url, &body))?,
                _ => timed_batch(batch, || bare_call(&default_agent, &url, &body))?,
            };
            times[arm].push(per_call);
        }
    }
    sim.shutdown();
    println!(
        "load average {load_before} before, {} after",
        load_average()
    );

    let [client_t, bare_t, default_t] = &times;
    let ratios =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
    let med = |v: &[f64]| median(v).ok_or("no rounds ran");
    let (c, b, d) = (med(client_t)?, med(bare_t)?, med(default_t)?);
    println!(
        "{} rounds x {batch} calls per arm, interleaved (order rotated each round)",
        client_t.len()
    );
    println!("median per call");
    println!("  {:<52} {:>8.1} us", "Client::show_progress", c * 1e6);
    println!(
        "  {:<52} {:>8.1} us",
        "bare ureq::Agent, loopback answered inline",
        b * 1e6
    );
    println!(
        "  {:<52} {:>8.1} us",
        "bare ureq::Agent, ureq's default resolver",
        d * 1e6
    );
    println!(
        "client / bare (inline resolver): ratio of medians {:.3}, median of per-round ratios {:.3}  (target <= 1.05)",
        c / b,
        med(&ratios(client_t, bare_t))?
    );
    println!(
        "client / bare (default resolver): ratio of medians {:.3}, median of per-round ratios {:.3}",
        c / d,
        med(&ratios(client_t, default_t))?
    );
    Ok(())
}

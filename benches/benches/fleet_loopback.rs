//! A fleet of waits on loopback: `Client::wait_all` against the simulator
//! serving generated instances (preparation 5–60 s), each side in its own
//! process so the client's threads and peak RSS are its own.
//!
//! `nice -n 10 cargo bench -p koophone-bench --bench fleet_loopback -- [CASE...]`
//!
//! Cases: `unbound` (10,000 instances, rate 5,000/s, concurrency 16),
//! `unbound20k` (the same at 20,000/s with concurrency 32: the default
//! policy's first ten seconds ask for 10,000 requests/s),
//! `bound` (10,000 instances, rate 200/s), `fleet1000` and `threads1000`
//! (1,000 instances: the fleet, and one thread per instance with
//! `Client::wait_until_ready`). Without `--bench` (as under `cargo test
//! --benches`) it runs a 50-instance `unbound` smoke pass with preparation
//! 1–3 s. Each case is bounded by its preparations (at most 60 s) plus the
//! wait policy's deadline (10 minutes).
//!
//! The process re-executes itself: role `sim` serves the scenario and prints
//! its per-second request counts when asked; role `client` runs the waits
//! and prints what it measured; the parent checks the targets.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use koophone_bench::summary::percentile;
use koophone_proto::{Action, PrepareStatus, ShowProgress, UntilReady, WaitPolicy, Waiter};
use koophone_sim::{GeneratedInstances, KooPhoneStatus, Scenario, Sim, Simulator};
use koophone_ureq::{Client, FleetPolicy, Token};

const USER: &str = "1008600000104285462";
const ROLE: &str = "KOOPHONE_FLEET_BENCH_ROLE";

/// One measured case.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    count: u32,
    ready_after_ms: [u64; 2],
    rate: f64,
    concurrency: usize,
    /// One thread per instance with the single-instance client.
    threads: bool,
}

fn cases(bench: bool, names: &[String]) -> Vec<Case> {
    let prep = [5_000, 60_000];
    let all = [
        Case {
            name: "unbound",
            count: 10_000,
            ready_after_ms: prep,
            rate: 5_000.0,
            concurrency: 16,
            threads: false,
        },
        Case {
            name: "unbound20k",
            count: 10_000,
            ready_after_ms: prep,
            rate: 20_000.0,
            concurrency: 32,
            threads: false,
        },
        Case {
            name: "bound",
            count: 10_000,
            ready_after_ms: prep,
            rate: 200.0,
            concurrency: 16,
            threads: false,
        },
        Case {
            name: "fleet1000",
            count: 1_000,
            ready_after_ms: prep,
            rate: 5_000.0,
            concurrency: 16,
            threads: false,
        },
        Case {
            name: "threads1000",
            count: 1_000,
            ready_after_ms: prep,
            rate: 5_000.0,
            concurrency: 16,
            threads: true,
        },
    ];
    if !bench {
        return vec![Case {
            name: "smoke",
            count: 50,
            ready_after_ms: [1_000, 3_000],
            ..all[0]
        }];
    }
    all.into_iter()
        .filter(|c| names.is_empty() || names.iter().any(|n| n == c.name))
        .collect()
}

fn scenario(case: &Case) -> Scenario {
    Scenario {
        request_log_capacity: 0,
        generate: vec![GeneratedInstances {
            user_id: USER.into(),
            id_prefix: "iFLEET".into(),
            count: case.count,
            seed: 7,
            ready_after_ms: case.ready_after_ms,
            failure_rate: 0.0,
            prepare: None,
        }],
        ..Scenario::empty()
    }
}

fn ids(case: &Case) -> Vec<String> {
    scenario(case).generate[0].ids().collect()
}

fn find(name: &str, bench: bool) -> Option<Case> {
    cases(bench, &[]).into_iter().find(|c| c.name == name)
}

fn unix_ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// This process's `Threads` and `VmHWM` (KiB) from /proc/self/status.
fn proc_status() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Threads:"), field("VmHWM:"))
}

/// Role `sim`: serve the case's scenario, print the URL and start time, and
/// on a line from stdin print each second's request count.
fn serve(case: &Case) -> ExitCode {
    let sim = match Sim::builder()
        .scenario(scenario(case))
        .token("sim-token")
        .start()
    {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = SystemTime::now() - sim.elapsed();
    println!("{} {}", sim.base_url(), unix_ns(started));
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    for (second, counts) in sim.requests_per_second() {
        println!("{second} {} {}", counts.requests, counts.throttled);
    }
    ExitCode::SUCCESS
}

/// Role `client`: wait for every instance, print `k detected_ms` lines
/// (time from the simulator's start to the answer that showed it ready, or
/// -1), then the totals.
fn client(case: &Case, url: &str, sim_start_ns: u128) -> ExitCode {
    let client = Client::builder()
        .endpoint_url(url)
        .token(Token::new("sim-token").expect("token"))
        .proxy_from_env(false)
        .max_idle_connections_per_host(case.concurrency.max(16))
        .build()
        .expect("client");
    let ids = ids(case);
    let offset_ms = (unix_ns(SystemTime::now()).saturating_sub(sim_start_ns) / 1_000_000) as u64;
    let start = Instant::now();
    let policy = WaitPolicy::default();
    let mut peak_threads = proc_status().0;
    let mut max_gap = Duration::ZERO;
    let mut last_poll: Vec<Option<Instant>> = vec![None; ids.len()];
    let detected: Vec<Option<Duration>>;
    let requests: u64;
    if case.threads {
        let client = Arc::new(client);
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let client = Arc::clone(&client);
                let op = ShowProgress::new(USER, id.as_str()).expect("id");
                std::thread::spawn(move || {
                    let mut polls = 0u32;
                    let waited = client.wait_until_ready(op, policy, |_| polls += 1);
                    (waited.ok().map(|w| w.elapsed), polls)
                })
            })
            .collect();
        peak_threads = peak_threads.max(proc_status().0);
        let mut all = Vec::new();
        let mut sum = 0u64;
        for h in handles {
            let (elapsed, polls) = h.join().expect("waiter thread");
            peak_threads = peak_threads.max(proc_status().0);
            all.push(elapsed);
            sum += u64::from(polls);
        }
        detected = all;
        requests = sum;
    } else {
        let ops = ids
            .iter()
            .map(|id| ShowProgress::new(USER, id.as_str()).expect("id"));
        let fleet = FleetPolicy::default().with_limits(case.rate, case.concurrency);
        let mut seen = 0u64;
        let waited = client
            .wait_all(ops, policy, fleet, |k, o| {
                seen += 1;
                if seen.is_multiple_of(50) {
                    peak_threads = peak_threads.max(proc_status().0);
                }
                if let Some(prev) = last_poll[k] {
                    max_gap = max_gap.max(o.at.saturating_duration_since(prev));
                }
                last_poll[k] = Some(o.at);
            })
            .expect("fleet");
        detected = waited
            .instances
            .iter()
            .map(|r| {
                r.as_ref()
                    .ok()
                    .filter(|w| w.output.status == PrepareStatus::Normal)
                    .map(|w| w.elapsed)
            })
            .collect();
        requests = waited.summary.requests;
    }
    let total = start.elapsed();
    let (threads_now, hwm) = proc_status();
    let mut out = std::io::stdout().lock();
    for (k, d) in detected.iter().enumerate() {
        let ms = d.map_or(-1, |d| (offset_ms + d.as_millis() as u64) as i64);
        let _ = writeln!(out, "{k} {ms}");
    }
    let _ = writeln!(
        out,
        "totals {requests} {} {hwm} {} {} {}",
        peak_threads.max(threads_now),
        total.as_millis(),
        max_gap.as_millis(),
        offset_ms
    );
    ExitCode::SUCCESS
}

/// Polls independent single waiters with the same policy send for these
/// preparations (virtual clock, each started `offset` after the simulator).
fn single_waiter_polls(reaches: &[Duration], offset: Duration) -> u64 {
    let t0 = Instant::now();
    let queuing = br#"{"data":{"status":1,"waitingCount":1},"error_code":"0","error_msg":"OK"}"#;
    let normal = br#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
    let mut total = 0;
    for (k, ready) in reaches.iter().enumerate() {
        let op = ShowProgress::new(USER, format!("i{k}")).expect("id");
        let policy = WaitPolicy {
            seed: k as u64,
            ..WaitPolicy::default()
        };
        let mut w = Waiter::new(op, UntilReady, policy, t0);
        let mut now = t0;
        loop {
            match w.poll(now) {
                Action::Send => {
                    total += 1;
                    let body = if now - t0 + offset >= *ready {
                        &normal[..]
                    } else {
                        &queuing[..]
                    };
                    w.handle_response(http::Response::new(body), now);
                }
                Action::WakeAt(at) => now = at,
                Action::Done(_) => break,
            }
        }
    }
    total
}

fn run_case(case: &Case, bench: bool) -> Result<bool, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut sim = Command::new(&exe)
        .env(ROLE, "sim")
        .env("KOOPHONE_FLEET_BENCH_CASE", case.name)
        .env(
            "KOOPHONE_FLEET_BENCH_MODE",
            if bench { "bench" } else { "smoke" },
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut sim_out = BufReader::new(sim.stdout.take().ok_or("sim stdout")?);
    let mut first = String::new();
    sim_out.read_line(&mut first).map_err(|e| e.to_string())?;
    let mut parts = first.split_whitespace();
    let url = parts.next().ok_or("no url")?.to_owned();
    let sim_start = parts.next().ok_or("no start")?.to_owned();
    let out = Command::new(&exe)
        .env(ROLE, "client")
        .env("KOOPHONE_FLEET_BENCH_CASE", case.name)
        .env(
            "KOOPHONE_FLEET_BENCH_MODE",
            if bench { "bench" } else { "smoke" },
        )
        .env("KOOPHONE_FLEET_BENCH_URL", &url)
        .env("KOOPHONE_FLEET_BENCH_SIM_START", &sim_start)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = sim.stdin.take().ok_or("sim stdin")?.write_all(b"report\n");
    let per_second: Vec<(u64, u64)> = sim_out
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?))
        })
        .collect();
    let _ = sim.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut detected = Vec::new();
    let mut totals = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&"totals") {
            totals = f[1..]
                .iter()
                .map(|v| v.parse::<u64>().unwrap_or(0))
                .collect();
        } else if f.len() == 2 {
            detected.push(f[1].parse::<i64>().unwrap_or(-1));
        }
    }
    let [requests, threads, rss_kib, total_ms, max_gap_ms, offset_ms] = totals[..] else {
        return Err(format!(
            "client printed no totals: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    };
    let oracle = Simulator::new(scenario(case), 0).map_err(|e| e.to_string())?;
    let reaches: Vec<Duration> = ids(case)
        .iter()
        .map(|id| {
            oracle
                .koophone_reaches(id, KooPhoneStatus::Normal)
                .unwrap_or(Duration::MAX)
        })
        .collect();
    let ready = detected.iter().filter(|d| **d >= 0).count();
    let min_interval = WaitPolicy::default().min_interval.as_millis() as i64;
    let mut lags = Vec::new();
    let mut over = 0;
    for (d, r) in detected.iter().zip(&reaches) {
        if *d < 0 {
            continue;
        }
        let r = r.as_millis() as i64;
        let lag = d - r;
        let allowance = min_interval.max(r / 10);
        if lag > allowance {
            over += 1;
        }
        lags.push(lag.max(0) as f64);
    }
    let p99 = percentile(&lags, 99.0).unwrap_or(0.0);
    let singles = single_waiter_polls(&reaches, Duration::from_millis(offset_ms));
    let busiest = per_second.iter().map(|(_, n)| *n).max().unwrap_or(0);
    println!(
        "{name}: {count} instances, rate {rate}/s, concurrency {conc}{threads_note}",
        name = case.name,
        count = case.count,
        rate = case.rate,
        conc = case.concurrency,
        threads_note = if case.threads {
            ", one thread per instance"
        } else {
            ""
        }
    );
    println!(
        "  ready {ready}/{} in {:.1}s; requests {requests} (independent single waiters: {singles}, {:+.2}%)",
        case.count,
        total_ms as f64 / 1000.0,
        (requests as f64 / singles.max(1) as f64 - 1.0) * 100.0
    );
    println!(
        "  client threads peak {threads}; client peak RSS (VmHWM) {:.1} MiB",
        rss_kib as f64 / 1024.0
    );
    println!(
        "  detection lag p50 {} ms, p99 {p99} ms, max {} ms; over max(min_interval, 10% of wait): {over}",
        percentile(&lags, 50.0).unwrap_or(0.0),
        lags.iter().copied().fold(0.0, f64::max)
    );
    let gap = if case.threads {
        "not tracked".to_owned()
    } else {
        format!("{:.1}s", max_gap_ms as f64 / 1000.0)
    };
    println!(
        "  busiest second of the simulator's log: {busiest} requests; longest gap between polls of one instance: {gap}"
    );
    Ok(ready == case.count as usize)
}

fn main() -> ExitCode {
    let bench = std::env::args().any(|a| a == "--bench")
        || std::env::var("KOOPHONE_FLEET_BENCH_MODE").as_deref() == Ok("bench");
    if let Ok(role) = std::env::var(ROLE) {
        let name = std::env::var("KOOPHONE_FLEET_BENCH_CASE").unwrap_or_default();
        let Some(case) = find(&name, bench) else {
            eprintln!("unknown case {name}");
            return ExitCode::FAILURE;
        };
        return match role.as_str() {
            "sim" => serve(&case),
            _ => {
                let url = std::env::var("KOOPHONE_FLEET_BENCH_URL").unwrap_or_default();
                let start = std::env::var("KOOPHONE_FLEET_BENCH_SIM_START")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                client(&case, &url, start)
            }
        };
    }
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mut ok = true;
    for case in cases(bench, &names) {
        match run_case(&case, bench) {
            Ok(all_ready) => ok &= all_ready,
            Err(e) => {
                eprintln!("{}: {e}", case.name);
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

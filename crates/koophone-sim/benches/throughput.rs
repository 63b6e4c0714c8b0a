//! Simulator throughput: the sans-IO core in process, and the server over
//! loopback with keep-alive clients, ShowProgress only.
//!
//! `cargo bench -p koophone-sim --bench throughput -- [--secs S] [--connections N] [--workers W]`
//!
//! Every loop is bounded in time; the server binds 127.0.0.1 port 0.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use koophone_sim::{Scenario, Sim, Simulator};

#[derive(Debug, Parser)]
struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Keep-alive client connections (one thread each).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Server runtime worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const BODY: &str = r#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#;

fn core(secs: u64, log_capacity: usize) -> f64 {
    let scenario = Scenario {
        request_log_capacity: log_capacity,
        ..Scenario::default()
    };
    let mut sim = Simulator::new(scenario, 0).expect("default scenario is valid");
    let request = http::Request::post("/v1/instances/prepare-progress")
        .header("x-auth-token", "sim-token")
        .header("content-type", "application/json")
        .body(BODY.as_bytes())
        .expect("static request");
    let start = Instant::now();
    let limit = Duration::from_secs(secs);
    let mut n: u64 = 0;
    while start.elapsed() < limit {
        for i in 0..1000u64 {
            let answer = sim.handle(&request, Duration::from_millis(n + i));
            assert_eq!(answer.response.status(), 200);
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// One keep-alive connection: request, full response, repeat, until `stop`.
fn client(addr: SocketAddr, stop: Arc<AtomicBool>) -> u64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let request = format!(
        "POST /v1/instances/prepare-progress HTTP/1.1\r\nHost: {addr}\r\nx-auth-token: sim-token\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        stream.write_all(request.as_bytes()).expect("write");
        let mut filled = 0;
        loop {
            let read = stream.read(&mut buf[filled..]).expect("read");
            assert!(read > 0, "server closed the connection");
            filled += read;
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = response.parse(&buf[..filled]).expect("parse")
            {
                assert_eq!(response.code, Some(200));
                let len: usize = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                    .expect("content-length");
                if filled >= head + len {
                    break;
                }
            }
        }
        n += 1;
    }
    n
}

fn server(secs: u64, connections: usize, workers: usize) -> f64 {
    let sim = Sim::builder()
        .worker_threads(workers)
        .start()
        .expect("server starts");
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let stop = stop.clone();
            let addr = sim.addr();
            std::thread::spawn(move || client(addr, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let total: u64 = threads.into_iter().map(|t| t.join().expect("client")).sum();
    let rate = total as f64 / start.elapsed().as_secs_f64();
    sim.shutdown();
    rate
}

fn main() {
    let args = Args::parse();
    println!(
        "core, request log on : {:>10.0} ShowProgress/s",
        core(args.secs, 1024)
    );
    println!(
        "core, request log off: {:>10.0} ShowProgress/s",
        core(args.secs, 0)
    );
    println!(
        "server, {} keep-alive connections, {} workers: {:>10.0} ShowProgress/s",
        args.connections,
        args.workers,
        server(args.secs, args.connections, args.workers)
    );
}

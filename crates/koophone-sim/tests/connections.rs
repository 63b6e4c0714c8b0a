//! What a client may hold of the server (loopback, port 0, bounded counts
//! and times): idle connections and slow-header senders are closed after
//! their timeouts while ordinary requests keep being answered, and
//! connections over the cap are refused at once.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use koophone_sim::{Sim, SimHandle};

const PROGRESS_BODY: &str = r#"{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}"#;

/// One ShowProgress on a fresh connection: the status line's code.
fn progress_status(sim: &SimHandle) -> Result<u16, String> {
    let mut stream = TcpStream::connect(sim.addr()).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = format!(
        "POST /v1/instances/prepare-progress HTTP/1.1\r\nhost: sim\r\nx-auth-token: sim-token\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PROGRESS_BODY}",
        PROGRESS_BODY.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // Refused connections may end in a reset after the 503.
        Err(e) if answer.is_empty() => return Err(e.to_string()),
        Err(_) => {}
    }
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line in {answer:?}"))
}

/// Whether the server closed `stream` (EOF or reset), without blocking.
fn closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let closed = match (&mut &*stream).read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).unwrap();
    closed
}

/// Send a request head one byte per 100 ms; returns how long the server
/// let it go on (at most 40 bytes' worth, 4 s).
fn trickle_head(sim: &SimHandle) -> Option<Duration> {
    let mut stream = TcpStream::connect(sim.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let head =
        b"POST /v1/instances/prepare-progress HTTP/1.1\r\nhost: sim\r\nx-auth-token: sim-token\r\n";
    let start = Instant::now();
    let mut buf = [0u8; 256];
    for byte in head.iter().take(40) {
        if stream.write_all(&[*byte]).is_err() {
            return Some(start.elapsed());
        }
        match stream.read(&mut buf) {
            Ok(_) => return Some(start.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

#[test]
fn idle_and_slow_header_connections_are_closed_while_requests_are_served() {
    let sim = Sim::builder()
        .header_read_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_millis(1500))
        .max_connections(1000)
        .start()
        .unwrap();
    let opened = Instant::now();
    // Fewer than the listen backlog (128), so all are accepted at once and
    // their idle time starts together.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(sim.addr()).unwrap())
        .collect();
    thread::scope(|scope| {
        let slow: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| trickle_head(&sim)))
            .collect();
        // Ordinary requests all along, past both timeouts.
        let mut served = 0;
        let mut checked_idle = false;
        while opened.elapsed() < Duration::from_millis(2200) {
            if !checked_idle && opened.elapsed() >= Duration::from_millis(900) {
                // Past the header timeout, short of the idle one.
                let open = idle.iter().filter(|s| !closed(s)).count();
                assert_eq!(open, idle.len(), "idle connections cut early");
                checked_idle = true;
            }
            assert_eq!(progress_status(&sim), Ok(200), "at {:?}", opened.elapsed());
            served += 1;
            thread::sleep(Duration::from_millis(50));
        }
        assert!(served >= 20, "{served} requests served");
        for sender in slow {
            let cut = sender.join().unwrap().expect("a slow head must be cut off");
            assert!(
                cut >= Duration::from_millis(400) && cut < Duration::from_millis(1400),
                "a slow header sender was cut after {cut:?}, the timeout is 500 ms"
            );
        }
    });
    // Every idle connection goes, soon after its timeout (the server may
    // accept some late on a busy machine: allow for that, boundedly).
    let mut still_open = idle.len();
    while still_open > 0 && opened.elapsed() < Duration::from_secs(8) {
        thread::sleep(Duration::from_millis(100));
        still_open = idle.iter().filter(|s| !closed(s)).count();
    }
    assert_eq!(still_open, 0, "idle connections left open");
}

#[test]
fn an_idle_connection_is_kept_until_its_own_timeout() {
    let sim = Sim::builder()
        .header_read_timeout(Duration::from_millis(200))
        .idle_timeout(Duration::from_millis(1000))
        .start()
        .unwrap();
    let idle = TcpStream::connect(sim.addr()).unwrap();
    thread::sleep(Duration::from_millis(600));
    // Past the header timeout: idleness is not a slow head.
    assert!(!closed(&idle), "closed before the idle timeout");
    thread::sleep(Duration::from_millis(900));
    assert!(closed(&idle), "kept past the idle timeout");
}

#[test]
fn connections_over_the_cap_are_refused_at_once() {
    let sim = Sim::builder()
        .max_connections(20)
        .idle_timeout(Duration::from_millis(1500))
        .start()
        .unwrap();
    let held: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(sim.addr()).unwrap())
        .collect();
    // Let the server accept them all.
    thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let asked = Instant::now();
        // A reset may come before the 503 can be read; a 200 may not.
        if let Ok(status) = progress_status(&sim) {
            assert_eq!(status, 503, "over the cap");
        }
        assert!(asked.elapsed() < Duration::from_secs(1), "refused promptly");
    }
    let open = held.iter().filter(|s| !closed(s)).count();
    assert_eq!(open, 20, "the connections within the cap are kept");
    // Once the idle ones time out, there is room again.
    thread::sleep(Duration::from_millis(1600));
    assert_eq!(progress_status(&sim), Ok(200));
}

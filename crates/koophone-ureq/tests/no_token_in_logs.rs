//! With the default `no-trace-wire-dump` feature, no `log` record carries the
//! token, even with a logger that asks for everything at TRACE: ureq-proto's
//! raw request dumps are compiled out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use koophone_ureq::{Client, RetryPolicy, ShowProgress, Token};

const TOKEN: &str = "log-secret-token-4b1d";

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Everything;

impl log::Log for Everything {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        RECORDS.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

#[test]
fn a_trace_logger_never_sees_the_token() {
    log::set_logger(&Everything).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let (mut line, mut length) = (String::new(), 0);
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer = r#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#;
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
    });

    let client = Client::builder()
        .endpoint_url(&url)
        .token(Token::new(TOKEN).unwrap())
        .proxy_from_env(false)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
    client.show_progress(&op).unwrap();
    server.join().unwrap();

    let records = RECORDS.lock().unwrap();
    // The logger works: ureq's DEBUG lines about the request are there.
    assert!(
        records.iter().any(|r| r.starts_with("DEBUG ureq")),
        "{records:#?}"
    );
    let all = records.join("\n");
    // The dump writes 16 bytes per row, so look for any 8-byte piece too.
    for piece in [TOKEN, &TOKEN[..8], &TOKEN[8..16], &TOKEN[13..]] {
        assert!(!all.contains(piece), "{piece:?} logged:\n{all}");
    }
    assert!(!records.iter().any(|r| r.starts_with("TRACE")), "{all}");
}

//! With the `tracing` feature: a span per call and per attempt, carrying the
//! operation, the attempt number and the HTTP status, and never the token.
//! (Built only with the feature: `required-features` in Cargo.toml.)

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use koophone_ureq::{Client, Jitter, RetryPolicy, ShowProgress, Token};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const TOKEN: &str = "tracing-secret-token";

/// Records every span's name and fields as text, and every event's fields.
#[derive(Default, Clone)]
struct Recorder {
    spans: Arc<Mutex<Vec<String>>>,
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut spans = self.spans.lock().unwrap();
        let mut text = span.metadata().name().to_owned();
        span.record(&mut Fields(&mut text));
        spans.push(text);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some(text) = usize::try_from(span.into_u64() - 1)
            .ok()
            .and_then(|i| spans.get_mut(i))
        {
            values.record(&mut Fields(text));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = format!("event {}", event.metadata().name());
        event.record(&mut Fields(&mut text));
        self.spans.lock().unwrap().push(text);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Answer requests on one connection (keep-alive) from a script of
/// (status, body), then stop.
fn scripted_server(script: Vec<(u16, &'static str)>) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let mut script = script.into_iter();
        while let Ok((stream, _)) = listener.accept() {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let mut line = String::new();
                let mut length = 0;
                let mut got_head = false;
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    got_head = true;
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                if !got_head {
                    break;
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let Some((status, body)) = script.next() else {
                    return;
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if writer.write_all(answer.as_bytes()).is_err() {
                    break;
                }
                if script.len() == 0 {
                    return;
                }
            }
        }
    });
    (url, handle)
}

#[test]
fn spans_name_the_operation_attempt_and_status_but_never_the_token() {
    let (url, server) = scripted_server(vec![
        (
            500,
            r#"{"error_code":"KOOPHONE.API.9999","error_msg":"internal"}"#,
        ),
        (
            200,
            r#"{"data":{"status":0,"waitingCount":0},"error_code":"0","error_msg":"OK"}"#,
        ),
    ]);
    let client = Client::builder()
        .endpoint_url(&url)
        .token(Token::new(TOKEN).unwrap())
        .proxy_from_env(false)
        .retry_policy(RetryPolicy {
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            jitter: Jitter::None,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let recorder = Recorder::default();
    let op = ShowProgress::new("1008600000104285462", "iRJEVP9").unwrap();
    let answer = tracing::subscriber::with_default(recorder.clone(), || client.show_progress(&op));
    assert!(answer.is_ok(), "{answer:?}");
    server.join().unwrap();

    let spans = recorder.spans.lock().unwrap().clone();
    let all = spans.join("\n");
    assert!(!all.contains(TOKEN), "{all}");
    assert!(
        spans
            .iter()
            .any(|s| s.starts_with("koophone.call") && s.contains(r#"operation="ShowProgress""#)),
        "{all}"
    );
    for (attempt, status) in [(1, 500), (2, 200)] {
        assert!(
            spans.iter().any(|s| s.starts_with("koophone.attempt")
                && s.contains(&format!("attempt={attempt}"))
                && s.contains(&format!("status={status}"))),
            "attempt {attempt} with status {status} missing from:\n{all}"
        );
    }
}

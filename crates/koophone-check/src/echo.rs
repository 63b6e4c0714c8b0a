//! A hostile server for the redaction tests of every driver (issue 12): it
//! copies the request's headers, and any secret it was told, into a 400 or
//! 401 message, an `X-Request-Id` header or a ShowInstanceStatus 200 error.
//! A client passes when none of that reaches what it shows the user.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Where the server puts what it echoes.
#[derive(Clone, Copy, Debug)]
pub enum Echo {
    /// A 400 whose `error_msg` holds the request's headers.
    BadRequest,
    /// The same in a 401 `APIGW.0301` body.
    Unauthorized,
    /// `X-Request-Id: req-<credential>`.
    RequestId,
    /// A ShowInstanceStatus 200 whose state error holds the headers.
    StateError,
}

/// Every echo, for tests that try them all.
pub const ECHOES: [Echo; 4] = [
    Echo::BadRequest,
    Echo::Unauthorized,
    Echo::RequestId,
    Echo::StateError,
];

/// The echo server: one thread, at most `max` connections, one request
/// each; `extras` are secrets it also puts in every echo (what a proxy that
/// logged them would know). Records every `X-Auth-Token` it received.
#[derive(Debug)]
pub struct EchoServer {
    /// Where it listens: `http://127.0.0.1:<port>`.
    pub url: String,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl EchoServer {
    /// Starts the server on 127.0.0.1:0.
    pub fn start(echo: Echo, extras: Vec<String>, max: usize) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let seen = tokens.clone();
        thread::spawn(move || {
            for stream in listener.incoming().take(max).flatten() {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let Some(headers) = read_request(&mut reader) else {
                    continue;
                };
                if let Some((_, token)) = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-token"))
                {
                    seen.lock().unwrap().push(token.clone());
                }
                let reply = answer(echo, &headers, &extras);
                let _ = writer.write_all(reply.as_bytes());
            }
        });
        EchoServer { url, tokens }
    }

    /// Every `X-Auth-Token` received so far.
    pub fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }
}

/// The request's headers, its body read and dropped; `None` on a broken request.
fn read_request(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(headers)
}

fn answer(echo: Echo, headers: &[(String, String)], extras: &[String]) -> String {
    let mut text = String::from("request was: ");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    for extra in extras {
        text.push_str(&format!("known secret: {extra}\n"));
    }
    let credential = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-auth-token"))
        .map(|(_, v)| v.clone())
        .into_iter()
        .chain(extras.iter().cloned())
        .collect::<Vec<_>>()
        .join("-");
    let (status, extra_header, body) = match echo {
        Echo::BadRequest => (
            400,
            String::new(),
            serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": text}),
        ),
        Echo::Unauthorized => (
            401,
            String::new(),
            serde_json::json!({"error_code": "APIGW.0301", "error_msg": text}),
        ),
        Echo::RequestId => (
            400,
            format!("X-Request-Id: req-{credential}\r\n"),
            serde_json::json!({"error_code": "CLOUDDC.0400", "error_msg": "bad request"}),
        ),
        Echo::StateError => (
            200,
            String::new(),
            serde_json::json!({"state": "error", "error": {"error_code": "CLOUDDC.5001", "error_msg": text}}),
        ),
    };
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_header}\r\n{body}",
        body.len()
    )
}

/// The text a user could see, lower-cased and with control characters as
/// spaces (as a one-line Display shows them): what a secret is looked for in.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                ' '
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

//! Where requests go: the endpoint; and the token and user agent they carry.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use http::HeaderValue;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderName;

use crate::error::{InvalidInput, InvalidReason};

/// The header both APIs read the IAM token from.
pub const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// A validated base URL: http(s) only, no user-info, query or fragment, and plain
/// `http` only for loopback hosts unless insecure transport was explicitly allowed.
///
/// An optional path prefix (`https://gw.example.com/koophone`) is kept, without
/// its trailing slash, and every request path is appended to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme, authority and optional path prefix, without a trailing slash.
    base: String,
    scheme: Scheme,
    /// Lower-cased; request building clones it, which costs no allocation.
    authority: Authority,
    /// Empty, or `/segment[/segment...]` without a trailing slash.
    prefix: String,
    port: Option<u16>,
    loopback: bool,
    /// URIs of operations whose path has no parameters: built on first use
    /// and shared (cloning one costs no allocation) by every later request.
    fixed_uris: FixedUris,
}

/// A cache, not part of the endpoint's value: clones share it and
/// comparisons ignore it.
#[derive(Clone, Default)]
struct FixedUris(Arc<Mutex<Vec<(&'static str, Uri)>>>);

impl PartialEq for FixedUris {
    fn eq(&self, _: &FixedUris) -> bool {
        true
    }
}

impl Eq for FixedUris {}

impl fmt::Debug for FixedUris {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

fn endpoint_error(reason: &str) -> InvalidInput {
    InvalidInput {
        field: "endpoint",
        reason: InvalidReason::Endpoint(reason.to_owned()),
    }
}

impl Endpoint {
    /// Parse a base URL; plain `http` is accepted only for a loopback host
    /// (`127.0.0.0/8`, `[::1]`, `localhost`).
    pub fn parse(url: &str) -> Result<Endpoint, InvalidInput> {
        Endpoint::parse_with(url, false)
    }

    /// Parse a base URL and accept plain `http` to any host: the token then
    /// travels in clear text, so only use this when that was asked for explicitly.
    pub fn parse_allowing_http(url: &str) -> Result<Endpoint, InvalidInput> {
        Endpoint::parse_with(url, true)
    }

    /// Parse a base URL; `allow_insecure_http` is the builder flag behind
    /// [`Endpoint::parse_allowing_http`].
    pub fn parse_with(url: &str, allow_insecure_http: bool) -> Result<Endpoint, InvalidInput> {
        // The error texts never repeat the input: its user-info may hold a password.
        if url.is_empty() {
            return Err(InvalidInput {
                field: "endpoint",
                reason: InvalidReason::Empty,
            });
        }
        // Checked on the raw text: `http::Uri` silently drops a fragment.
        if url.contains('#') {
            return Err(endpoint_error("must not contain a fragment"));
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| endpoint_error("is not a valid url"))?;
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::HTTPS,
            Some("http") => Scheme::HTTP,
            Some(_) => return Err(endpoint_error("scheme must be http or https")),
            None => return Err(endpoint_error("must start with https:// or http://")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| endpoint_error("must name a host"))?
            .as_str();
        if authority.contains('@') {
            return Err(endpoint_error("must not contain user-info"));
        }
        if uri.query().is_some() {
            return Err(endpoint_error("must not contain a query"));
        }
        let (host, port) = split_host_port(authority)?;
        let loopback = check_host(host)?;
        if scheme == Scheme::HTTP && !loopback && !allow_insecure_http {
            return Err(endpoint_error(
                "plain http is only allowed for loopback hosts (use https, or allow insecure http explicitly)",
            ));
        }
        let prefix = check_prefix(uri.path())?;

        let authority_text = authority.to_ascii_lowercase();
        let parsed: Authority = authority_text
            .parse()
            .map_err(|_| endpoint_error("has an invalid host"))?;
        // `Authority` copies into a buffer that its first clone turns into a
        // shared one; cloning here once keeps that allocation out of request building.
        let authority = parsed.clone();
        drop(parsed);

        let base = format!("{}://{}{}", scheme.as_str(), authority_text, prefix);
        join_uri(&scheme, &authority, prefix, 1, |path| path.push('/'))
            .map_err(|_| endpoint_error("has an invalid path"))?;
        Ok(Endpoint {
            base,
            scheme,
            authority,
            prefix: prefix.to_owned(),
            port,
            loopback,
            fixed_uris: FixedUris::default(),
        })
    }

    /// The base URL, normalised: lower-case scheme and host, no trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &str {
        self.scheme.as_str()
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// The host as written in the URL, lower-cased (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// The port written in the URL, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port requests go to: the written one, or 443 / 80 by scheme.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.is_https() { 443 } else { 80 })
    }

    /// The path prefix requests are appended to: empty or `/a/b`, no trailing slash.
    pub fn path_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the host is `localhost`, in `127.0.0.0/8` or `::1`.
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// The origin as browsers serialise it (`https://host`, `http://host:8080`;
    /// the scheme's default port left out), for drivers that check whether a
    /// redirect stays on the same origin: parse the `Location` with
    /// [`Endpoint::parse_allowing_http`] and compare the two origins.
    pub fn origin(&self) -> String {
        match self.port {
            Some(port) if port != self.default_port() => {
                format!("{}://{}:{}", self.scheme(), self.host(), port)
            }
            _ => format!("{}://{}", self.scheme(), self.host()),
        }
    }

    fn default_port(&self) -> u16 {
        if self.is_https() { 443 } else { 80 }
    }

    /// Build `{base}{path}` where `path` is written by `write` into a buffer of
    /// exactly `prefix + path_len` bytes: one allocation, no copy when it becomes a `Uri`.
    pub(crate) fn uri_with_path(
        &self,
        path_len: usize,
        write: impl FnOnce(&mut String),
    ) -> Result<Uri, InvalidInput> {
        join_uri(&self.scheme, &self.authority, &self.prefix, path_len, write)
    }

    /// `{base}{path}` for a path without parameters: built once per
    /// endpoint, then shared without allocating.
    pub(crate) fn fixed_uri(&self, path: &'static str) -> Result<Uri, InvalidInput> {
        let mut cache = self
            .fixed_uris
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, uri)) = cache.iter().find(|(p, _)| *p == path) {
            return Ok(uri.clone());
        }
        let built = self.uri_with_path(path.len(), |p| p.push_str(path))?;
        // As with the authority: the first clone makes the path's buffer shared.
        let shared = built.clone();
        drop(built);
        cache.push((path, shared.clone()));
        Ok(shared)
    }
}

/// `{scheme}://{authority}{prefix}{path}`, the path written by `write`.
fn join_uri(
    scheme: &Scheme,
    authority: &Authority,
    prefix: &str,
    path_len: usize,
    write: impl FnOnce(&mut String),
) -> Result<Uri, InvalidInput> {
    let mut path = String::with_capacity(prefix.len() + path_len);
    path.push_str(prefix);
    write(&mut path);
    let unencodable = || InvalidInput {
        field: "endpoint",
        reason: InvalidReason::Unencodable,
    };
    let path_and_query = PathAndQuery::try_from(path).map_err(|_| unencodable())?;
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| unencodable())
}

/// Split `host[:port]`, refusing an empty, non-numeric, zero or too large port.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), InvalidInput> {
    let port_start = if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| endpoint_error("has an invalid ipv6 host"))?;
        match &authority[close + 1..] {
            "" => None,
            rest if rest.starts_with(':') => Some(close + 1),
            _ => return Err(endpoint_error("has an invalid ipv6 host")),
        }
    } else {
        authority.rfind(':')
    };
    let Some(colon) = port_start else {
        return Ok((authority, None));
    };
    let digits = &authority[colon + 1..];
    let port =
        (!digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<u16>().ok())
            .flatten()
            .filter(|port| *port != 0)
            .ok_or_else(|| endpoint_error("port must be a number from 1 to 65535"))?;
    Ok((&authority[..colon], Some(port)))
}

/// Validate the host and say whether it is loopback. Names must be ASCII
/// (international names in their `xn--` form); IPv6 literals must parse.
fn check_host(host: &str) -> Result<bool, InvalidInput> {
    if host.is_empty() {
        return Err(endpoint_error("host must not be empty"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let literal = inner
            .strip_suffix(']')
            .and_then(|inner| Ipv6Addr::from_str(inner).ok())
            .ok_or_else(|| endpoint_error("has an invalid ipv6 host"))?;
        return Ok(literal.is_loopback());
    }
    let name_chars = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if !host.bytes().all(name_chars) {
        return Err(endpoint_error(
            "host must be a dns name or an ip address (ascii letters, digits, '-', '.', '_')",
        ));
    }
    if let Ok(v4) = Ipv4Addr::from_str(host) {
        return Ok(v4.is_loopback());
    }
    Ok(host.eq_ignore_ascii_case("localhost"))
}

/// Validate the path prefix and strip its trailing slashes. The prefix must be
/// ASCII with well-formed percent escapes and no `.`/`..` segments, so that
/// nothing between client and service rewrites it.
fn check_prefix(path: &str) -> Result<&str, InvalidInput> {
    let prefix = path.trim_end_matches('/');
    if !prefix.is_ascii() {
        return Err(endpoint_error(
            "path must be ascii (percent-encode other characters)",
        ));
    }
    let bytes = prefix.as_bytes();
    // `http::Uri` accepts characters such as `{` or `|` that RFC 3986 does not
    // allow in a path; requests built on such a prefix would not be valid HTTP.
    let is_path_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
    if !bytes.iter().all(|b| is_path_char(*b)) {
        return Err(endpoint_error(
            "path may only hold characters valid in a url path (percent-encode others)",
        ));
    }
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(endpoint_error("path has an invalid percent escape"));
        }
    }
    let is_dot_segment = |segment: &str| {
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        decoded == b"." || decoded == b".."
    };
    // `skip(1)`: the text before the leading slash is always empty.
    let mut segments = prefix.split('/').skip(1);
    if segments.any(|segment| segment.is_empty() || is_dot_segment(segment)) {
        return Err(endpoint_error(
            "path must not contain empty, \".\" or \"..\" segments",
        ));
    }
    Ok(prefix)
}

impl FromStr for Endpoint {
    type Err = InvalidInput;

    /// Same as [`Endpoint::parse`].
    fn from_str(url: &str) -> Result<Endpoint, InvalidInput> {
        Endpoint::parse(url)
    }
}

impl fmt::Display for Endpoint {
    /// The normalised base URL (it can hold no credential: user-info is refused).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// Check a value that will be sent as a header: non-empty, printable ASCII,
/// no surrounding whitespace. Error reasons never repeat the value.
fn header_text(field: &'static str, value: &str) -> Result<HeaderValue, InvalidInput> {
    let refuse = |reason| InvalidInput { field, reason };
    if value.is_empty() {
        return Err(refuse(InvalidReason::Empty));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse(InvalidReason::ControlCharacter));
    }
    if !value.is_ascii() {
        return Err(refuse(InvalidReason::NotAscii));
    }
    if value.trim() != value {
        return Err(refuse(InvalidReason::SurroundingWhitespace));
    }
    let header = HeaderValue::from_str(value).map_err(|_| refuse(InvalidReason::NotAscii))?;
    // The first clone turns the copied buffer into a shared one; doing it here
    // keeps that allocation out of every request built later.
    let shared = header.clone();
    drop(header);
    Ok(shared)
}

/// An IAM token. Redacted in `Debug`, no `Display`: it never reaches output.
///
/// Request building sends it as `x-auth-token`, marked sensitive so HTTP
/// libraries leave it out of their own logs.
#[derive(Clone)]
pub struct Token {
    header: HeaderValue,
    secret: String,
}

impl Token {
    /// Accept a token: non-empty, printable ASCII, no control characters, no
    /// leading or trailing whitespace (trim what you read from a file first).
    pub fn new(token: impl Into<String>) -> Result<Token, InvalidInput> {
        let secret = token.into();
        let mut header = header_text("token", &secret)?;
        header.set_sensitive(true);
        Ok(Token { header, secret })
    }

    /// The token itself, for a driver that must put it somewhere else than the
    /// request this crate builds. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The token as a sensitive header value, ready to send.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The user agent sent when none is configured.
pub const DEFAULT_USER_AGENT: &str = concat!("koophone/", env!("CARGO_PKG_VERSION"));

/// Check a user agent as [`RequestContext::with_user_agent`](crate::RequestContext::with_user_agent) does, for
/// requests built without a context (the IAM token request).
pub fn user_agent_header(user_agent: &str) -> Result<HeaderValue, InvalidInput> {
    header_text("user_agent", user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        match Endpoint::parse(url) {
            Ok(endpoint) => panic!("{url} was accepted as {endpoint}"),
            Err(e) => {
                assert_eq!(e.field, "endpoint");
                e.to_string()
            }
        }
    }

    #[test]
    fn accepts_https_and_normalises() {
        let e = Endpoint::parse("HTTPS://KooPhone.Example.COM:8443/Gateway/v2///").unwrap();
        assert_eq!(e.as_str(), "https://koophone.example.com:8443/Gateway/v2");
        assert_eq!(e.scheme(), "https");
        assert_eq!(e.host(), "koophone.example.com");
        assert_eq!(e.port(), Some(8443));
        assert_eq!(e.path_prefix(), "/Gateway/v2");
        assert!(!e.is_loopback());
        assert_eq!(e.origin(), "https://koophone.example.com:8443");
        assert_eq!(e.to_string(), e.as_str());
    }

    #[test]
    fn origin_leaves_out_the_default_port() {
        let a = Endpoint::parse("https://h.example:443/a").unwrap();
        let b = Endpoint::parse("https://h.example").unwrap();
        assert_eq!(a.origin(), "https://h.example");
        assert_eq!(a.origin(), b.origin());
        assert_eq!(a.port_or_default(), 443);
        let c = Endpoint::parse("http://127.0.0.1:80").unwrap();
        assert_eq!(c.origin(), "http://127.0.0.1");
        assert_eq!(
            Endpoint::parse("http://[::1]:8080").unwrap().origin(),
            "http://[::1]:8080"
        );
    }

    #[test]
    fn plain_http_only_for_loopback_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.255.0.9",
            "http://[::1]:9000/x",
            "http://localhost:1",
            "http://LOCALHOST",
        ] {
            let e = Endpoint::parse(url).unwrap();
            assert!(e.is_loopback(), "{url}");
            assert!(!e.is_https());
        }
        for url in [
            "http://example.com",
            "http://10.0.0.1",
            "http://[::2]",
            "http://localhost.example.com",
            "http://128.0.0.1",
        ] {
            assert!(refused(url).contains("plain http"), "{url}");
            assert!(Endpoint::parse_allowing_http(url).is_ok(), "{url}");
            assert!(Endpoint::parse_with(url, true).is_ok(), "{url}");
        }
        assert!(Endpoint::parse("https://localhost").unwrap().is_loopback());
    }

    #[test]
    fn refuses_what_cannot_be_a_base_url() {
        assert!(refused("ftp://example.com").contains("scheme"));
        assert!(refused("example.com").contains("https://"));
        assert!(refused("https://user@example.com").contains("user-info"));
        assert!(refused("https://@example.com").contains("user-info"));
        assert!(refused("https://example.com?a=b").contains("query"));
        assert!(refused("https://example.com/?").contains("query"));
        assert!(refused("https://example.com#top").contains("fragment"));
        assert!(refused("https://example.com:").contains("port"));
        assert!(refused("https://example.com:0").contains("port"));
        assert!(refused("https://example.com:65536").contains("port"));
        assert!(refused("https://example.com:80x").contains("port"));
        assert!(refused("https://[fe80::1%25eth0]").contains("ipv6"));
        assert!(refused("https://exa$mple.com").contains("host"));
        assert!(refused("https://h.example/a/../b").contains("segments"));
        assert!(refused("https://h.example/a/%2e%2E").contains("segments"));
        assert!(refused("https://h.example/a//b").contains("segments"));
        assert!(refused("https://h.example/%zz").contains("percent"));
        assert!(refused("https://h.example/ä").contains("ascii"));
        assert!(refused("https://h.example/a b").contains("valid url"));
        assert!(refused(" https://h.example").contains("valid url"));
        assert_eq!(
            Endpoint::parse("").unwrap_err().reason,
            InvalidReason::Empty
        );
    }

    #[test]
    fn errors_never_repeat_the_url() {
        let e = refused("https://admin:hunter2@example.com/");
        assert!(!e.contains("hunter2"), "{e}");
        let e = refused("https://example.com/?token=hunter2");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn token_is_validated_and_redacted() {
        let token = Token::new("MIIsecret-token+/=").unwrap();
        assert_eq!(token.expose_secret(), "MIIsecret-token+/=");
        assert!(token.header_value().is_sensitive());
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");

        let reason = |t: &str| Token::new(t).unwrap_err();
        assert_eq!(reason("").reason, InvalidReason::Empty);
        assert_eq!(reason("a\nb").reason, InvalidReason::ControlCharacter);
        assert_eq!(reason("a\u{7f}").reason, InvalidReason::ControlCharacter);
        assert_eq!(reason("tökén").reason, InvalidReason::NotAscii);
        assert_eq!(reason(" abc").reason, InvalidReason::SurroundingWhitespace);
        assert_eq!(reason("abc ").field, "token");
        assert!(!reason("secret\u{1}").to_string().contains("secret"));
    }
}

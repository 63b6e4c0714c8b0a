//! Where requests go and what they carry: the endpoint, the token, the user agent.

use http::HeaderValue;

/// A validated base URL: http(s) only, no user-info, query or fragment, and plain
/// `http` only for loopback hosts unless insecure transport was explicitly allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme, authority and optional path prefix, without a trailing slash.
    base: String,
}

/// An IAM token. Redacted in `Debug`, no `Display`: it never reaches output.
#[derive(Clone)]
pub struct Token(HeaderValue);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Everything request building needs besides the operation itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    endpoint: Endpoint,
    token: Token,
    user_agent: HeaderValue,
}

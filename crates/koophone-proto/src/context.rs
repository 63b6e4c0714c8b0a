//! What request building needs besides the operation: the endpoint, the
//! credentials (a token or AK/SK), the user agent, and the secrets to scrub
//! from what comes back.

use std::time::SystemTime;

use http::{HeaderValue, Request};

use crate::auth::signing::{AkSkCredentials, SignError};
use crate::endpoint::{DEFAULT_USER_AGENT, Endpoint, Token, X_AUTH_TOKEN, user_agent_header};
use crate::error::{InvalidInput, InvalidReason};
use crate::redact::Redactor;

/// How requests prove who sends them.
///
/// `Debug` names the kind and, for AK/SK, the access key; secrets print redacted.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// An IAM token, sent as `x-auth-token`.
    Token(Token),
    /// AK/SK credentials: every request is signed (`SDK-HMAC-SHA256`) as of
    /// the time it is sent, and carries no `x-auth-token`.
    AkSk(AkSkCredentials),
}

/// Everything request building needs besides the operation itself.
///
/// `Debug` shows the endpoint, the kind of credentials and the user agent;
/// tokens and secret keys print as `<redacted>`.
///
/// With AK/SK credentials a request is only complete once signed, which needs
/// the wall-clock time: drivers build every attempt with
/// [`Operation::build_authorized_request`](crate::Operation::build_authorized_request)
/// (or call [`RequestContext::authorize`] last), never plain `build_request`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use koophone_proto::auth::{AkSkCredentials, SecretKey, signing};
/// use koophone_proto::{Endpoint, Operation, RequestContext, ShowInstanceStatus};
///
/// let sk = SecretKey::new("my-secret-key")?;
/// let creds = AkSkCredentials::new("MYACCESSKEY", sk.clone())?;
/// let ctx = RequestContext::with_aksk(Endpoint::parse("https://clouddc.example.com")?, creds);
/// let op = ShowInstanceStatus::new("my-project", "my-instance")?;
///
/// let now = SystemTime::now();
/// let request = op.build_authorized_request(&ctx, now)?;
/// assert!(request.headers().get("x-auth-token").is_none());
/// assert!(request.headers()["authorization"].to_str()?.starts_with("SDK-HMAC-SHA256 Access=MYACCESSKEY,"));
/// signing::verify(&request, &sk, now, Duration::from_secs(900))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RequestContext {
    endpoint: Endpoint,
    auth: Auth,
    user_agent: HeaderValue,
    redactor: Redactor,
}

impl RequestContext {
    /// A context that sends `token` as `x-auth-token`, with the default user
    /// agent (`koophone/<version>`).
    pub fn new(endpoint: Endpoint, token: Token) -> RequestContext {
        RequestContext::with_auth(endpoint, Auth::Token(token))
    }

    /// A context that signs every request with AK/SK credentials, with the
    /// default user agent.
    pub fn with_aksk(endpoint: Endpoint, credentials: AkSkCredentials) -> RequestContext {
        RequestContext::with_auth(endpoint, Auth::AkSk(credentials))
    }

    /// A context with any kind of credentials and the default user agent.
    pub fn with_auth(endpoint: Endpoint, auth: Auth) -> RequestContext {
        let redactor = match &auth {
            Auth::Token(token) => Redactor::new([token.expose_secret()]),
            Auth::AkSk(credentials) => Redactor::new(
                [Some(credentials.secret_key().expose_secret())]
                    .into_iter()
                    .chain([credentials.security_token().map(|t| t.expose_secret())])
                    .flatten(),
            ),
        };
        RequestContext {
            endpoint,
            auth,
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
            redactor,
        }
    }

    /// Also scrub these secrets from network text: credentials the client
    /// holds besides the ones requests carry (an IAM password, the key pair
    /// a token was issued for).
    pub fn with_secrets<S: AsRef<str>>(
        self,
        secrets: impl IntoIterator<Item = S>,
    ) -> RequestContext {
        let redactor = self.redactor.with(secrets);
        RequestContext { redactor, ..self }
    }

    /// The credentials of this context, to scrub from network text: its
    /// token or secret key and security token, and any added with
    /// [`RequestContext::with_secrets`].
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Replace the user agent (printable ASCII, non-empty, no surrounding whitespace).
    pub fn with_user_agent(self, user_agent: &str) -> Result<RequestContext, InvalidInput> {
        let user_agent = user_agent_header(user_agent)?;
        Ok(RequestContext { user_agent, ..self })
    }

    /// Where requests go.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The credentials requests carry.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The token requests carry, when the credentials are a token.
    pub fn token(&self) -> Option<&Token> {
        match &self.auth {
            Auth::Token(token) => Some(token),
            Auth::AkSk(_) => None,
        }
    }

    /// The `user-agent` header value.
    pub fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// The last step of building a request: with a token, make sure it
    /// carries `x-auth-token`; with AK/SK, drop any `x-auth-token` and sign
    /// the request as it now stands, as of `now` (the wall clock; the
    /// signature is only accepted for a few minutes around it). Call it again
    /// for every attempt, after any change to the request.
    pub fn authorize<B: AsRef<[u8]>>(
        &self,
        request: &mut Request<B>,
        now: SystemTime,
    ) -> Result<(), InvalidInput> {
        match &self.auth {
            Auth::Token(token) => {
                request
                    .headers_mut()
                    .insert(X_AUTH_TOKEN, token.header_value().clone());
                Ok(())
            }
            Auth::AkSk(credentials) => {
                request.headers_mut().remove(X_AUTH_TOKEN);
                credentials.sign(request, now).map_err(|e| {
                    let field = match e {
                        SignError::TimeOutOfRange => "signing_time",
                        SignError::MissingHost => "endpoint",
                        _ => "request",
                    };
                    InvalidInput {
                        field,
                        reason: InvalidReason::Unencodable,
                    }
                })
            }
        }
    }
}

/// A context for `endpoint` that sends the IAM token `token`, for the
/// machines' tests (both must be valid).
#[cfg(test)]
pub(crate) fn token_context(endpoint: &str, token: &str) -> RequestContext {
    RequestContext::new(
        Endpoint::parse(endpoint).unwrap(),
        Token::new(token).unwrap(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token_and_the_redactor_knows_it() {
        let token = Token::new("MIIsecret-token+/=").unwrap();
        let ctx = RequestContext::new(Endpoint::parse("https://h.example").unwrap(), token)
            .with_secrets(["iam-password-1"]);
        let debug = format!("{ctx:?}");
        assert!(!debug.contains("MIIsecret"), "{debug}");
        assert!(!debug.contains("iam-password-1"), "{debug}");
        assert!(debug.contains("<redacted>"));
        assert_eq!(
            ctx.redactor()
                .scrub("echo MIIsecret-token+/= and iam-password-1"),
            "echo [redacted] and [redacted]"
        );
    }

    #[test]
    fn user_agent_defaults_and_is_validated() {
        let ctx = token_context("https://h.example", "t");
        assert_eq!(ctx.user_agent(), DEFAULT_USER_AGENT);
        assert!(DEFAULT_USER_AGENT.starts_with("koophone/"));
        let ctx = ctx.with_user_agent("my-tool/1.2 (ci)").unwrap();
        assert_eq!(ctx.user_agent(), "my-tool/1.2 (ci)");
        let e = ctx.with_user_agent("bad\r\nx: y").unwrap_err();
        assert_eq!(e.field, "user_agent");
        assert_eq!(e.reason, InvalidReason::ControlCharacter);
    }
}

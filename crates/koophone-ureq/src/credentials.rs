//! Where the token comes from. All token plumbing lives here, so other kinds
//! of credentials (AK/SK signing, IAM-issued tokens) slot in as new variants.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use koophone_proto::{Endpoint, RequestContext, Token};

use crate::error::{CredentialsError, Error};

/// How the client authenticates.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// One fixed token, sent as `X-Auth-Token`.
    Token(Token),
    /// A callback asked for the token before every attempt, so a caller can
    /// refresh an expiring token without rebuilding the client.
    TokenSource(TokenSource),
}

type TokenFn = dyn Fn() -> Result<Token, CredentialsError> + Send + Sync;

/// A shareable callback producing the current token.
#[derive(Clone)]
pub struct TokenSource(Arc<TokenFn>);

impl TokenSource {
    /// Wrap a callback. It runs on the calling thread before each attempt, so
    /// it should be quick (return a cached token, refresh only when needed).
    pub fn new<F>(f: F) -> TokenSource
    where
        F: Fn() -> Result<Token, CredentialsError> + Send + Sync + 'static,
    {
        TokenSource(Arc::new(f))
    }

    /// Ask the callback for the current token.
    pub fn token(&self) -> Result<Token, CredentialsError> {
        (self.0)()
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSource(..)")
    }
}

impl From<Token> for Credentials {
    fn from(token: Token) -> Self {
        Credentials::Token(token)
    }
}

impl From<TokenSource> for Credentials {
    fn from(source: TokenSource) -> Self {
        Credentials::TokenSource(source)
    }
}

/// The request context for each attempt: built once for a fixed token, per
/// attempt for a token source.
#[derive(Debug)]
pub(crate) enum ContextSource {
    Fixed(RequestContext),
    Dynamic {
        source: TokenSource,
        endpoint: Endpoint,
        user_agent: Option<String>,
    },
}

impl ContextSource {
    pub(crate) fn new(
        credentials: Credentials,
        endpoint: Endpoint,
        user_agent: Option<String>,
    ) -> Result<ContextSource, Error> {
        Ok(match credentials {
            Credentials::Token(token) => {
                ContextSource::Fixed(make_context(endpoint, token, user_agent.as_deref())?)
            }
            Credentials::TokenSource(source) => ContextSource::Dynamic {
                source,
                endpoint,
                user_agent,
            },
        })
    }

    /// The context the next attempt is built with; re-reads a token source.
    pub(crate) fn context(&self) -> Result<Cow<'_, RequestContext>, Error> {
        match self {
            ContextSource::Fixed(ctx) => Ok(Cow::Borrowed(ctx)),
            ContextSource::Dynamic {
                source,
                endpoint,
                user_agent,
            } => {
                let token = source.token()?;
                Ok(Cow::Owned(make_context(
                    endpoint.clone(),
                    token,
                    user_agent.as_deref(),
                )?))
            }
        }
    }
}

fn make_context(
    endpoint: Endpoint,
    token: Token,
    user_agent: Option<&str>,
) -> Result<RequestContext, Error> {
    let ctx = RequestContext::new(endpoint, token);
    Ok(match user_agent {
        Some(ua) => ctx.with_user_agent(ua)?,
        None => ctx,
    })
}

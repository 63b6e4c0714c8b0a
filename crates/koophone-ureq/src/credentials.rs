//! Where the credentials of each attempt come from: a fixed token or AK/SK
//! pair, a token source asked before every attempt, IAM-issued tokens from a
//! cache shared by the client's threads, or temporary AK/SK credentials from
//! the instance metadata service.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use koophone_proto::auth::{AkSkCredentials, IssuedToken, TokenId};
use koophone_proto::{Endpoint, RequestContext, Token};

use crate::error::{CredentialsError, Error, IamError};
use crate::iam::{IamPassword, IamSession};
use crate::metadata::MetadataCredentials;

/// How the client authenticates.
///
/// `Debug` never shows a token, secret key or password.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// One fixed token, sent as `X-Auth-Token`.
    Token(Token),
    /// A callback asked for the token before every attempt, so a caller can
    /// refresh an expiring token without rebuilding the client.
    TokenSource(TokenSource),
    /// AK/SK: every attempt is signed (`SDK-HMAC-SHA256`) as of the moment
    /// it is sent; no token is involved.
    AkSk(AkSkCredentials),
    /// An IAM user's password: the client gets a project-scoped token from
    /// IAM when it first needs one, caches it and refreshes it before it expires.
    IamPassword(IamPassword),
    /// Temporary AK/SK credentials of the instance's agency from the ECS/BMS
    /// metadata service, refreshed before they expire; every attempt is
    /// signed with the current ones.
    Metadata(MetadataCredentials),
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

variant_from!(Credentials {
    Token(Token),
    TokenSource(TokenSource),
    AkSk(AkSkCredentials),
    Metadata(MetadataCredentials),
    IamPassword(IamPassword),
});

/// The request context for each attempt: built once for a fixed token or
/// AK/SK pair, per attempt for a token source or an IAM token.
#[derive(Debug)]
// One per client, inside its `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ContextSource {
    Fixed(RequestContext),
    Dynamic {
        source: TokenSource,
        endpoint: Endpoint,
        user_agent: Option<String>,
    },
    Iam {
        session: IamSession,
        endpoint: Endpoint,
        user_agent: Option<String>,
    },
    Metadata {
        source: MetadataCredentials,
        endpoint: Endpoint,
        user_agent: Option<String>,
    },
}

/// The context of one attempt, and the IAM token it carries if any (to
/// report back whether the service accepted it).
pub(crate) struct Prepared<'a> {
    pub(crate) context: Cow<'a, RequestContext>,
    pub(crate) lease: Option<TokenId>,
}

/// What preparing an attempt may need from the client: a way to ask IAM
/// for a token, whether the call was cancelled, and when its time is up
/// (waiting for another thread's token ends then).
pub(crate) struct PrepareIo<'a> {
    pub(crate) issue: &'a dyn Fn(&IamPassword) -> Result<IssuedToken, IamError>,
    pub(crate) cancelled: &'a dyn Fn() -> bool,
    pub(crate) deadline: Instant,
}

impl ContextSource {
    pub(crate) fn new(
        credentials: Credentials,
        endpoint: Endpoint,
        user_agent: Option<String>,
    ) -> Result<ContextSource, Error> {
        Ok(match credentials {
            Credentials::Token(token) => ContextSource::Fixed(make_context(
                RequestContext::new(endpoint, token),
                user_agent.as_deref(),
            )?),
            Credentials::AkSk(credentials) => ContextSource::Fixed(make_context(
                RequestContext::with_aksk(endpoint, credentials),
                user_agent.as_deref(),
            )?),
            Credentials::TokenSource(source) => ContextSource::Dynamic {
                source,
                endpoint,
                user_agent,
            },
            Credentials::IamPassword(iam) => ContextSource::Iam {
                session: IamSession::new(iam),
                endpoint,
                user_agent,
            },
            Credentials::Metadata(source) => ContextSource::Metadata {
                source,
                endpoint,
                user_agent,
            },
        })
    }

    /// Where every attempt goes.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        match self {
            ContextSource::Fixed(ctx) => ctx.endpoint(),
            ContextSource::Dynamic { endpoint, .. }
            | ContextSource::Iam { endpoint, .. }
            | ContextSource::Metadata { endpoint, .. } => endpoint,
        }
    }

    /// The context the next attempt is built with; re-reads a token source,
    /// leases an IAM token (refreshing it when due).
    pub(crate) fn prepare(&self, io: &PrepareIo<'_>) -> Result<Prepared<'_>, Error> {
        let (context, lease) = match self {
            ContextSource::Fixed(ctx) => (Cow::Borrowed(ctx), None),
            ContextSource::Dynamic {
                source,
                endpoint,
                user_agent,
            } => {
                let ctx = RequestContext::new(endpoint.clone(), source.token()?);
                (Cow::Owned(make_context(ctx, user_agent.as_deref())?), None)
            }
            ContextSource::Iam {
                session,
                endpoint,
                user_agent,
            } => {
                let (token, id) = session.lease(io.issue, io.cancelled, io.deadline)?;
                let ctx =
                    RequestContext::new(endpoint.clone(), token).with_secrets([session.password()]);
                (
                    Cow::Owned(make_context(ctx, user_agent.as_deref())?),
                    Some(id),
                )
            }
            ContextSource::Metadata {
                source,
                endpoint,
                user_agent,
            } => {
                let (credentials, id) = source.lease(io.cancelled, Some(io.deadline))?;
                let ctx = RequestContext::with_aksk(endpoint.clone(), credentials);
                (
                    Cow::Owned(make_context(ctx, user_agent.as_deref())?),
                    Some(id),
                )
            }
        };
        Ok(Prepared { context, lease })
    }

    /// The service answered an attempt made with IAM token `lease`: true when
    /// it refused the token and one more try with a new token is warranted.
    pub(crate) fn report(&self, lease: TokenId, unauthorized: bool) -> bool {
        match self {
            ContextSource::Iam { session, .. } => session.on_answer(lease, unauthorized),
            ContextSource::Metadata { source, .. } => source.on_answer(lease, unauthorized),
            ContextSource::Fixed(_) | ContextSource::Dynamic { .. } => false,
        }
    }
}

fn make_context(ctx: RequestContext, user_agent: Option<&str>) -> Result<RequestContext, Error> {
    Ok(match user_agent {
        Some(ua) => ctx.with_user_agent(ua)?,
        None => ctx,
    })
}

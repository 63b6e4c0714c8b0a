//! Credentials other than a ready-made token: AK/SK request signing, issuing a
//! project-scoped token from IAM, and the cache that decides when to renew it;
//! the official SDKs' profile file and the ECS/BMS metadata service's
//! temporary credentials.
//!
//! Like the rest of the crate these pieces do no I/O and read no clock: the
//! signer and the cache take `now` as an argument, the IAM call is a request to
//! send and a response to decode.

pub mod iam;
pub mod metadata;
pub mod profile;
pub mod signing;
pub mod token_cache;

pub use iam::{IssueProjectToken, IssuedToken, Password, ProjectScope};
pub use metadata::{
    CredentialCache, CredentialLease, CredentialState, CredentialsId, CredentialsRejected,
    MetadataError, MetadataSessionToken, SecurityKeyFetch, TemporaryCredentials,
};
pub use profile::{Profile, ProfileError, ProfileErrorKind};
pub use signing::{
    AkSkCredentials, DEFAULT_MAX_CLOCK_SKEW, SecretKey, SecurityToken, SignError,
    SignedAuthorization, VerifyError,
};
pub use token_cache::{
    Lease, RefreshPolicy, RefreshRejected, RefreshTicket, TokenCache, TokenId, TokenState,
    UnauthorizedAction,
};

//! The two operations and the trait that lets drivers and the waiter treat them alike.

use http::{Request, Response};

use crate::endpoint::RequestContext;
use crate::error::{ApiError, InvalidInput};

/// An API call: how to build its request and how to decode its response.
pub trait Operation {
    /// What a successful response decodes into.
    type Output: Clone + std::fmt::Debug;

    /// The API's name for the call (`ShowProgress`), for logs and spans.
    const NAME: &'static str;

    /// Build the request, with credentials and user agent from `ctx`.
    fn build_request(&self, ctx: &RequestContext) -> Result<Request<Vec<u8>>, InvalidInput>;

    /// Decode a response; total: every status and every body maps to one outcome.
    fn decode_response(&self, response: Response<&[u8]>) -> Result<Self::Output, ApiError>;

    /// [`Operation::decode_response`] for an owned body.
    fn decode_owned(&self, response: Response<Vec<u8>>) -> Result<Self::Output, ApiError> {
        let (parts, body) = response.into_parts();
        self.decode_response(Response::from_parts(parts, body.as_slice()))
    }
}

/// KooPhone ShowProgress: `POST /v1/instances/prepare-progress`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowProgress {
    user_id: String,
    instance_id: String,
}

/// CloudDC ShowInstanceStatus: `GET /v1/{project_id}/instances/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShowInstanceStatus {
    project_id: String,
    instance_id: String,
}

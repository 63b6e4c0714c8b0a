//! ShowProgress sent as no correct client sends it: signed at another time,
//! or changed after it was built and signed, to see how the service answers.

use std::time::{Duration, SystemTime};

use http::Request;
use koophone_proto::{
    InvalidInput, Operation, Progress, RequestContext, ShowProgress, SuccessError,
};

/// A change made to a request after it was built and signed.
pub type Tamper = fn(&mut Request<Vec<u8>>);

/// [`ShowProgress`] whose request is signed `signed_ago` before it is sent,
/// then changed by `tamper`. Its answer decodes as ShowProgress's.
#[derive(Hash)]
pub struct TamperedProgress {
    /// The operation whose request is built and signed.
    pub op: ShowProgress,
    /// How long before the moment of sending the request is signed.
    pub signed_ago: Duration,
    /// The change made to the signed request.
    pub tamper: Tamper,
}

impl Operation for TamperedProgress {
    type Output = Progress;
    const NAME: &'static str = ShowProgress::NAME;
    const METHOD: http::Method = ShowProgress::METHOD;
    const PATH: &'static str = ShowProgress::PATH;

    fn decode_success(&self, body: &[u8]) -> Result<Progress, SuccessError> {
        self.op.decode_success(body)
    }

    fn build_request(&self, ctx: &RequestContext) -> Result<Request<Vec<u8>>, InvalidInput> {
        self.op.build_request(ctx)
    }

    fn build_authorized_request(
        &self,
        ctx: &RequestContext,
        now: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput> {
        let mut request = self
            .op
            .build_authorized_request(ctx, now - self.signed_ago)?;
        (self.tamper)(&mut request);
        Ok(request)
    }
}

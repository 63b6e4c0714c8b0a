//! What every machine offers a driver, so one driver loop runs them all.

use std::time::{Instant, SystemTime};

use http::{Request, Response};

use crate::call::Call;
use crate::context::RequestContext;
use crate::error::{InvalidInput, TransportErrorKind};
use crate::operation::Operation;
use crate::waiter::{Action, Observation, Target, WaitError, Waiter};

/// A sans-IO machine that sends one request at a time: a [`Call`] or a
/// [`Waiter`]. A driver is one loop over it: poll, send what it asks for
/// (built by [`Machine::request`]), feed the answer back, sleep until the
/// instant it names; see the loop contract on [`Waiter`].
pub trait Machine {
    /// The operation repeated.
    type Op: Operation;
    /// What the machine ends with.
    type Outcome;

    /// What to do next.
    fn poll(&mut self, now: Instant) -> Action<Self::Outcome>;

    /// The request to send after [`Action::Send`], built from `ctx` and
    /// signed as of `wall`; the machine scrubs `ctx`'s credentials from the answer.
    fn request(
        &mut self,
        ctx: &RequestContext,
        wall: SystemTime,
    ) -> Result<Request<Vec<u8>>, InvalidInput>;

    /// Feed back the response to the request in flight.
    fn handle_response(&mut self, response: Response<&[u8]>, now: Instant);

    /// Feed back a transport failure of the request in flight.
    fn handle_transport_error(&mut self, kind: TransportErrorKind, now: Instant);

    /// [`Machine::handle_response`] for a response whose body the driver
    /// read into a `Vec`, as most HTTP clients hand it over.
    fn handle_owned(&mut self, response: Response<Vec<u8>>, now: Instant) {
        let (parts, body) = response.into_parts();
        self.handle_response(Response::from_parts(parts, body.as_slice()), now);
    }

    /// When the machine gives up: no request should outlive it.
    fn deadline(&self) -> Instant;

    /// Requests asked for so far.
    fn attempts(&self) -> u32;

    /// The latest answer or failure handled, for progress display.
    fn last_observation(&self) -> Option<&Observation<<Self::Op as Operation>::Output>>;
}

/// The body of a [`Machine`] impl for a machine whose inherent methods
/// already are the trait's (they stay inherent, so a caller of one machine
/// needs no trait import): each trait method calls the inherent one of
/// `$machine`; `attempts` calls `$attempts`.
macro_rules! forward_to_inherent {
    ($machine:ident, $attempts:ident) => {
        fn poll(&mut self, now: Instant) -> Action<Self::Outcome> {
            $machine::poll(self, now)
        }

        fn request(
            &mut self,
            ctx: &RequestContext,
            wall: SystemTime,
        ) -> Result<Request<Vec<u8>>, InvalidInput> {
            $machine::request(self, ctx, wall)
        }

        fn handle_response(&mut self, response: Response<&[u8]>, now: Instant) {
            $machine::handle_response(self, response, now);
        }

        fn handle_transport_error(&mut self, kind: TransportErrorKind, now: Instant) {
            $machine::handle_transport_error(self, kind, now);
        }

        fn deadline(&self) -> Instant {
            $machine::deadline(self)
        }

        fn attempts(&self) -> u32 {
            $machine::$attempts(self)
        }

        fn last_observation(&self) -> Option<&Observation<<Self::Op as Operation>::Output>> {
            $machine::last_observation(self)
        }
    };
}

impl<Op: Operation, T: Target<Op::Output>> Machine for Waiter<Op, T> {
    type Op = Op;
    type Outcome = Result<Op::Output, WaitError<Op::Output>>;

    forward_to_inherent!(Waiter, polls);
}

impl<Op: Operation> Machine for Call<Op> {
    type Op = Op;
    type Outcome = Result<Op::Output, crate::CallError>;

    forward_to_inherent!(Call, attempts);
}

//! One simulator shared between threads: what the server adapter's
//! connections and an in-process transport hold.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::Request;

use crate::simulator::{LoggedRequest, RequestCounts, SimResponse, Simulator};

/// A [`Simulator`] behind a mutex, cheap to clone: what the server adapter
/// uses, and what an in-process transport can hold.
#[derive(Debug, Clone)]
pub struct SharedSimulator {
    inner: Arc<Mutex<Simulator>>,
}

impl SharedSimulator {
    /// Shares `simulator`.
    pub fn new(simulator: Simulator) -> Self {
        Self {
            inner: Arc::new(Mutex::new(simulator)),
        }
    }

    /// The simulator itself. A panic while it was held does not make it
    /// unusable: the model has no invariant a half-finished request breaks.
    pub fn lock(&self) -> MutexGuard<'_, Simulator> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers one request at `at` (time since the simulator's start).
    pub fn handle<B: AsRef<[u8]>>(&self, request: &Request<B>, at: Duration) -> SimResponse {
        self.lock().handle(request, at)
    }

    /// A copy of the request log, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().request_log().cloned().collect()
    }

    /// Forgets the logged requests.
    pub fn clear_request_log(&self) {
        self.lock().clear_request_log();
    }

    /// Requests per whole second since start: see
    /// [`Simulator::requests_per_second`].
    pub fn requests_per_second(&self) -> Vec<(u64, RequestCounts)> {
        self.lock().requests_per_second().collect()
    }
}

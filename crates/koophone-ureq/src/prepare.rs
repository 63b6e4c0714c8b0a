//! BatchPrepareInstances for any number of instances: one call per batch of
//! at most 100 ids, each with its own outcome.

use koophone_proto::{BatchPrepareInstances, PreparedInstances};

use crate::client::Client;
use crate::error::Error;

/// One BatchPrepareInstances call of [`Client::prepare_all`] and how it ended.
///
/// Batches are reported one by one rather than merged: when one call fails
/// (an unknown id refuses its whole batch, a timeout leaves it unknown
/// whether the service started preparing), the others may have succeeded,
/// and the caller needs to know which ids each outcome covers.
#[derive(Debug)]
pub struct PreparedBatch {
    /// The call that was sent: its user and instance ids.
    pub operation: BatchPrepareInstances,
    /// Its answer, or why there is none (after the retries that are safe for
    /// a write; see [`Client::prepare_instances`]).
    pub outcome: Result<PreparedInstances, Error>,
}

impl Client {
    /// One BatchPrepareInstances call, through [`Client::call`].
    ///
    /// Preparing is a write the service does not document as idempotent, so
    /// only failures that prove nothing was applied are retried: 429, 503 with
    /// `Retry-After`, and a connection that could not be made. A timeout, a
    /// reset or a 5xx is returned as is: check ShowProgress before sending the
    /// call again.
    pub fn prepare_instances(
        &self,
        op: &BatchPrepareInstances,
    ) -> Result<PreparedInstances, Error> {
        self.call(op)
    }

    /// Prepare any number of instances: ids split into calls of at most 100
    /// (order kept, duplicates dropped), sent one after another, each
    /// answered in a [`PreparedBatch`] whatever the others did. Every id is
    /// checked before anything is sent: invalid input is the only `Err`.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), koophone_ureq::Error> {
    /// use koophone_ureq::{Client, Token};
    ///
    /// let client = Client::builder()
    ///     .endpoint_url("https://koophone.example.com")
    ///     .token(Token::new("my-iam-token")?)
    ///     .build()?;
    /// let ids: Vec<String> = (0..250).map(|n| format!("phone-{n}")).collect();
    /// for batch in client.prepare_all("1008600000104285462", &ids)? {
    ///     match batch.outcome {
    ///         Ok(prepared) => println!("{prepared}"),
    ///         Err(e) => eprintln!("{} ids not prepared: {e}", batch.operation.instance_ids().len()),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare_all<S: AsRef<str>>(
        &self,
        user_id: &str,
        instance_ids: &[S],
    ) -> Result<Vec<PreparedBatch>, Error> {
        let batches = BatchPrepareInstances::in_batches(user_id, instance_ids)?;
        Ok(batches
            .into_iter()
            .map(|operation| {
                let outcome = self.prepare_instances(&operation);
                PreparedBatch { operation, outcome }
            })
            .collect())
    }
}

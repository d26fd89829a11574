//! A call's deadline, passed on to every KurrentDB call made for it.
//!
//! The client sends each call's remaining time as its gRPC deadline, so the node stops working
//! for a caller that has gone; the backend also stops waiting for the answer then. A call is
//! never cut short between two of its KurrentDB calls by dropping it: an append that runs out
//! of time leaves the index and the pending links as an error would.

use std::future::Future;
use std::time::{Duration, Instant};

use kurrentdb::{AppendToStreamOptions, ReadStreamOptions};

use crate::{CallOptions, StoreError};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    /// What the call is, for [`StoreError::DeadlineExceeded`].
    call: &'static str,
    /// ", it may still be recorded" for appends.
    may_be: &'static str,
}

impl Deadline {
    /// No deadline: the client's default applies.
    pub(crate) const NONE: Deadline = Deadline {
        at: None,
        call: "",
        may_be: "",
    };

    /// `options`' deadline for `call`; refused if it has already passed (nothing started).
    pub(crate) fn of(
        options: &CallOptions,
        call: &'static str,
        may_be: &'static str,
    ) -> Result<Deadline, StoreError> {
        let deadline = Deadline {
            at: options.deadline,
            call,
            may_be,
        };
        match deadline.left() {
            Some(Duration::ZERO) => Err(deadline.not_started()),
            _ => Ok(deadline),
        }
    }

    /// The time left (zero once passed), `None` without a deadline.
    fn left(&self) -> Option<Duration> {
        self.at
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The error for a call that ran out of time once started.
    pub(crate) fn exceeded(&self) -> StoreError {
        StoreError::DeadlineExceeded {
            call: self.call,
            may_be: self.may_be,
        }
    }

    /// The error for a call that ran out of time before it wrote anything.
    pub(crate) fn not_started(&self) -> StoreError {
        StoreError::DeadlineExceeded {
            call: self.call,
            may_be: "",
        }
    }

    /// Whether `error` is this deadline running out (the node's or the client's answer).
    pub(crate) fn ran_out(&self, error: &kurrentdb::Error) -> bool {
        self.at.is_some() && matches!(error, kurrentdb::Error::DeadlineExceeded)
    }

    /// `options` with the time left as the call's gRPC deadline.
    pub(crate) fn read_options(
        &self,
        options: ReadStreamOptions,
    ) -> Result<ReadStreamOptions, StoreError> {
        match self.left() {
            None => Ok(options),
            Some(Duration::ZERO) => Err(self.exceeded()),
            Some(left) => Ok(options.deadline(left)),
        }
    }

    /// `options` with the time left as the call's gRPC deadline.
    pub(crate) fn append_options(
        &self,
        options: AppendToStreamOptions,
    ) -> Result<AppendToStreamOptions, StoreError> {
        match self.left() {
            None => Ok(options),
            Some(Duration::ZERO) => Err(self.exceeded()),
            Some(left) => Ok(options.deadline(left)),
        }
    }

    /// Waits for `future` until the deadline; `error` when it passes first. Only for futures
    /// that may be dropped half-way: one KurrentDB call, a lock being waited for.
    pub(crate) async fn wait<T>(
        &self,
        future: impl Future<Output = T>,
        error: StoreError,
    ) -> Result<T, StoreError> {
        match self.at {
            None => Ok(future.await),
            Some(at) => tokio::time::timeout_at(at.into(), future)
                .await
                .map_err(|_| error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_already_passed_refuses_the_call_saying_nothing_was_recorded() {
        let passed = CallOptions {
            deadline: Some(Instant::now() - Duration::from_millis(1)),
        };
        let refused = Deadline::of(&passed, "an append", ", it may still be recorded");
        assert!(matches!(
            refused,
            Err(StoreError::DeadlineExceeded {
                call: "an append",
                may_be: ""
            })
        ));
    }

    #[test]
    fn the_deadline_running_out_is_reported_as_such_and_only_with_a_deadline() {
        let ample = CallOptions::timeout(Duration::from_secs(60));
        let deadline = Deadline::of(&ample, "an append", ", it may still be recorded").unwrap();
        assert!(deadline.ran_out(&kurrentdb::Error::DeadlineExceeded));
        assert!(!deadline.ran_out(&kurrentdb::Error::ConnectionClosed));
        assert_eq!(
            deadline.exceeded().to_string(),
            "the deadline passed before the store answered an append, it may still be recorded"
        );
        // Without one, the client's own default deadline is an outage like any other.
        assert!(!Deadline::NONE.ran_out(&kurrentdb::Error::DeadlineExceeded));
    }

    #[tokio::test]
    async fn waiting_past_the_deadline_gives_the_error_named() {
        let short = CallOptions::timeout(Duration::from_millis(10));
        let deadline = Deadline::of(&short, "a stream read", "").unwrap();
        let waited = deadline
            .wait(std::future::pending::<()>(), deadline.exceeded())
            .await;
        assert!(matches!(
            waited,
            Err(StoreError::DeadlineExceeded {
                call: "a stream read",
                ..
            })
        ));
        assert_eq!(
            Deadline::NONE
                .wait(async { 7 }, deadline.exceeded())
                .await
                .unwrap(),
            7
        );
    }
}

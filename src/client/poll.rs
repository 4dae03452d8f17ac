//! Shared polling machinery for the waiters: adaptive delays, deadline, cancellation, 404 grace.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::POST_DEADLINE_GRACE;
use super::{Error, PollPolicy};

/// How many 404s a grace always tolerates, however long they took to observe.
const MIN_NOT_FOUND_LOOKS: u32 = 5;

pub(crate) struct Poller<'a> {
    policy: &'a PollPolicy,
    next_delay: Duration,
    deadline: Instant,
    cancel: &'a CancellationToken,
    waiting_for: String,
    last_status: Option<String>,
    not_found_count: u32,
    not_found_since: Option<Instant>,
    /// The current poll is the last look, taken at the deadline.
    last_look: bool,
}

impl<'a> Poller<'a> {
    pub(crate) fn new(
        policy: &'a PollPolicy,
        deadline: Instant,
        cancel: &'a CancellationToken,
        waiting_for: String,
    ) -> Self {
        Poller {
            policy,
            next_delay: policy.initial_delay,
            deadline,
            cancel,
            waiting_for,
            last_status: None,
            not_found_count: 0,
            not_found_since: None,
            last_look: false,
        }
    }

    /// When the current poll's request must have answered: the deadline, or for the last
    /// look (sent at the deadline) [`POST_DEADLINE_GRACE`] past it.
    pub(crate) fn look_deadline(&self) -> Instant {
        if self.last_look {
            self.deadline + POST_DEADLINE_GRACE
        } else {
            self.deadline
        }
    }

    /// Whether the current poll is the last look, sent at the deadline: its requests must be
    /// made outside the operation's bounds (which end at the deadline), within
    /// [`Poller::look_deadline`].
    pub(crate) fn is_last_look(&self) -> bool {
        self.last_look
    }

    /// Sleeps the next (growing, jittered) delay; stops early on cancellation.
    ///
    /// A delay that would end past the deadline is cut short to end on it, and the poll after
    /// it is the last look: a status reached since the previous poll is still seen, and the
    /// wait ends with the deadline rather than up to a whole delay after it. The pause after
    /// the last look fails with [`Error::Timeout`].
    pub(crate) async fn pause(&mut self) -> Result<(), Error> {
        if self.last_look || Instant::now() >= self.deadline + POST_DEADLINE_GRACE {
            return Err(self.timeout());
        }
        let delay = jittered(self.next_delay, self.policy.jitter);
        self.next_delay = self
            .next_delay
            .mul_f64(self.policy.multiplier)
            .min(self.policy.max_delay.max(self.policy.initial_delay));
        let wake = Instant::now() + delay;
        let wake = if wake >= self.deadline {
            self.last_look = true;
            self.deadline
        } else {
            wake
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(self.cancelled()),
            () = tokio::time::sleep_until(wake) => {}
        }
        Ok(())
    }

    /// Runs one poll request, abandoning it on cancellation or at [`Poller::look_deadline`].
    pub(crate) async fn run<T>(
        &self,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<Result<T, Error>, Error> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(self.cancelled()),
            () = tokio::time::sleep_until(self.look_deadline()) => Err(self.timeout()),
            r = request => Ok(r),
        }
    }

    /// Records a status; true when it differs from the previous one (worth logging).
    pub(crate) fn observe_status(&mut self, status: &str) -> bool {
        self.not_found_count = 0;
        self.not_found_since = None;
        if self.last_status.as_deref() == Some(status) {
            return false;
        }
        self.last_status = Some(status.to_owned());
        true
    }

    /// Records a 404; true while it is still within the grace the policy allows.
    ///
    /// The grace counts what was observed, not time spent waiting: it lasts until both
    /// `not_found_grace` has passed since the first 404 and at least [`MIN_NOT_FOUND_LOOKS`]
    /// 404s were seen, so a poll held back (by the rate limiter, say) cannot use it up.
    pub(crate) fn tolerate_not_found(&mut self) -> bool {
        let now = Instant::now();
        let since = *self.not_found_since.get_or_insert(now);
        self.not_found_count += 1;
        self.not_found_count <= self.policy.not_found_limit
            && (now.duration_since(since) < self.policy.not_found_grace
                || self.not_found_count < MIN_NOT_FOUND_LOOKS)
    }

    pub(crate) fn timeout(&self) -> Error {
        Error::Timeout {
            waiting_for: self.waiting_for.clone(),
            last_status: self.last_status.clone(),
        }
    }

    pub(crate) fn cancelled(&self) -> Error {
        Error::Cancelled {
            waiting_for: self.waiting_for.clone(),
        }
    }
}

/// Spreads a delay by ±15% so waiters started together do not poll in lockstep.
fn jittered(d: Duration, jitter: bool) -> Duration {
    if jitter && !d.is_zero() {
        d.mul_f64(rand::random_range(0.85..1.15))
    } else {
        d
    }
}

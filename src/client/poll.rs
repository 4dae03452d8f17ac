//! Shared polling machinery for the waiters: adaptive delays, deadline, cancellation, 404 grace.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    /// Pauses taken so far; the first is none.
    pauses: u32,
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
            pauses: 0,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Sleeps the next (growing, jittered) delay; stops early on the deadline or cancellation.
    ///
    /// The first pause is none: a wait looks once at a list fetched after it began, which
    /// costs nothing extra when other waits share that fetch, and finds a write the API
    /// finished at once (as a local emulator does) without sleeping the first delay.
    pub(crate) async fn pause(&mut self) -> Result<(), Error> {
        self.pauses += 1;
        if self.pauses == 1 {
            if self.cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            if Instant::now() >= self.deadline {
                return Err(self.timeout());
            }
            return Ok(());
        }
        let delay = jittered(self.next_delay, self.policy.jitter);
        self.next_delay = self
            .next_delay
            .mul_f64(self.policy.multiplier)
            .min(self.policy.max_delay.max(self.policy.initial_delay));
        let wake = (Instant::now() + delay).min(self.deadline);
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(self.cancelled()),
            () = tokio::time::sleep_until(wake) => {}
        }
        if Instant::now() >= self.deadline {
            return Err(self.timeout());
        }
        Ok(())
    }

    /// Runs one poll request, abandoning it on the deadline or cancellation.
    pub(crate) async fn run<T>(
        &self,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<Result<T, Error>, Error> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(self.cancelled()),
            () = tokio::time::sleep_until(self.deadline) => Err(self.timeout()),
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

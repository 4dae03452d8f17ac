//! Shared polling machinery for the waiters: adaptive delays, deadline, cancellation, 404 grace.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Error, PollPolicy};

/// How long past the operation's deadline a write already sent may take to answer, and the
/// last looks that record what it did may take: all the work after a deadline ends by then.
pub(crate) const POST_DEADLINE_GRACE: Duration = Duration::from_millis(1500);

/// Ends [`POST_DEADLINE_GRACE`] after `stop` is cancelled (never without a `stop`): how long
/// a write in flight, or a last look, may still take once StopProvider arrives.
pub(crate) async fn grace_after_stop(stop: Option<&CancellationToken>) {
    match stop {
        Some(stop) => {
            stop.cancelled().await;
            tokio::time::sleep(POST_DEADLINE_GRACE).await;
        }
        None => std::future::pending().await,
    }
}

/// How many 404s a grace always tolerates, however long they took to observe.
const MIN_NOT_FOUND_LOOKS: u32 = 5;

/// The shortest progress interval honoured.
const MIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(10);

/// One poll's request: whether it is the last look (sent at the deadline, outside the
/// operation's bounds), and when it must have answered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Look {
    pub last: bool,
    pub until: Instant,
}

/// The one backoff schedule of every wait: the policy's first delay, growing by its multiplier
/// up to its cap, each spread by the policy's jitter.
pub(crate) struct Schedule {
    next: Duration,
    multiplier: f64,
    cap: Duration,
    jitter: bool,
}

impl Schedule {
    pub(crate) fn new(policy: &PollPolicy) -> Self {
        Schedule {
            next: policy.initial_delay,
            multiplier: policy.multiplier.max(1.0),
            cap: policy.max_delay.max(policy.initial_delay),
            jitter: policy.jitter,
        }
    }

    /// The next delay to sleep.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = jittered(self.next, self.jitter);
        self.next = self.next.mul_f64(self.multiplier).min(self.cap);
        delay
    }
}

pub(crate) struct Poller<'a> {
    policy: &'a PollPolicy,
    schedule: Schedule,
    deadline: Instant,
    cancel: &'a CancellationToken,
    waiting_for: String,
    last_status: Option<String>,
    not_found_count: u32,
    not_found_since: Option<Instant>,
    /// The current poll is the last look, taken at the deadline.
    last_look: bool,
    /// Pauses taken so far; the first is none.
    pauses: u32,
    started: Instant,
    last_progress: Instant,
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
            schedule: Schedule::new(policy),
            deadline,
            cancel,
            waiting_for,
            last_status: None,
            not_found_count: 0,
            not_found_since: None,
            last_look: false,
            pauses: 0,
            started: Instant::now(),
            last_progress: Instant::now(),
        }
    }

    /// When the current poll's request must have answered: the deadline, or for the last
    /// look (sent at the deadline) [`POST_DEADLINE_GRACE`] past it.
    fn look_deadline(&self) -> Instant {
        self.look().until
    }

    fn look(&self) -> Look {
        Look {
            last: self.last_look,
            until: if self.last_look {
                self.deadline + POST_DEADLINE_GRACE
            } else {
                self.deadline
            },
        }
    }

    /// Sleeps the next (growing, jittered) delay; stops early on cancellation.
    ///
    /// A delay that would end past the deadline is cut short to end on it, and the poll after
    /// it is the last look: a status reached since the previous poll is still seen, and the
    /// wait ends with the deadline rather than up to a whole delay after it. The pause after
    /// the last look fails with [`Error::Timeout`].
    ///
    /// The first pause is none: a wait looks once at a list fetched after it began, which
    /// costs nothing extra when other waits share that fetch, and finds a write the API
    /// finished at once (as a local emulator does) without sleeping the first delay.
    pub(crate) async fn pause(&mut self) -> Result<(), Error> {
        if self.last_look || Instant::now() >= self.deadline + POST_DEADLINE_GRACE {
            return Err(self.timeout());
        }
        self.pauses += 1;
        if self.pauses == 1 {
            if self.cancel.is_cancelled() {
                return Err(self.cancelled());
            }
            if Instant::now() >= self.deadline {
                self.last_look = true;
            }
            return Ok(());
        }
        let delay = self.schedule.next_delay();
        let wake = Instant::now() + delay;
        let wake = if wake >= self.deadline {
            self.last_look = true;
            self.deadline
        } else {
            wake
        };
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(self.cancelled()),
                () = tokio::time::sleep_until(wake) => return Ok(()),
                () = tokio::time::sleep_until(self.next_progress()) => self.report_progress(),
            }
        }
    }

    /// Runs one poll: `request(look)` makes its request, for the last look outside the
    /// operation's bounds (see [`Client::for_look`]). Abandoned on cancellation or at
    /// [`Poller::look_deadline`]; a request held back for long (by the rate limit, say) still
    /// reports progress.
    ///
    /// A poll still in flight at the deadline becomes the last look: its request is made again
    /// outside the bounds (a shared list fetch in flight is joined, not repeated), so an answer
    /// landing just after the deadline is still seen.
    ///
    /// [`Client::for_look`]: super::Client::for_look
    pub(crate) async fn run<T, Fut>(
        &mut self,
        request: impl Fn(Look) -> Fut,
    ) -> Result<Result<T, Error>, Error>
    where
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut pending = std::pin::pin!(request(self.look()));
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(self.cancelled()),
                () = tokio::time::sleep_until(self.look_deadline()) => {
                    if self.last_look {
                        return Err(self.timeout());
                    }
                    self.last_look = true;
                    pending.set(request(self.look()));
                }
                r = &mut pending => return Ok(r),
                () = tokio::time::sleep_until(self.next_progress()) => self.report_progress(),
            }
        }
    }

    fn next_progress(&self) -> Instant {
        // A zero interval would report in a busy loop; an absurd one never reports.
        self.last_progress
            .checked_add(self.policy.progress_interval.max(MIN_PROGRESS_INTERVAL))
            .unwrap_or_else(|| self.look_deadline())
    }

    /// Records the status a poll saw of `subject` (e.g. `cloud account 7`), logging it with
    /// the time left: at INFO when it changed, at TRACE when it did not (the progress line
    /// says that, paced).
    pub(crate) fn observe_status(&mut self, subject: &str, status: &str) {
        self.not_found_count = 0;
        self.not_found_since = None;
        let left = self.deadline.saturating_duration_since(Instant::now());
        let left_s = left.as_secs();
        let left = human_duration(left);
        match self.last_status.replace(status.to_owned()) {
            Some(previous) if previous == status => tracing::trace!(
                subject,
                status,
                deadline_in_s = left_s,
                "poll saw {subject} in status {status} (unchanged); deadline in {left}"
            ),
            Some(previous) => tracing::info!(
                subject,
                status,
                previous_status = previous.as_str(),
                deadline_in_s = left_s,
                "poll saw {subject} in status {status} (was {previous}); deadline in {left}"
            ),
            None => tracing::info!(
                subject,
                status,
                deadline_in_s = left_s,
                "poll saw {subject} in status {status} (first look); deadline in {left}"
            ),
        }
    }

    /// Once per progress interval: what this waits for, the status now, the time spent and
    /// the time left, at INFO (which otherwise shows only status changes, so a long wait in
    /// one status would be silent).
    fn report_progress(&mut self) {
        let now = Instant::now();
        if now < self.next_progress() {
            return;
        }
        self.last_progress = now;
        let waited = now.duration_since(self.started);
        let left = self.deadline.saturating_duration_since(now);
        let status = self.last_status.as_deref().unwrap_or("not seen yet");
        tracing::info!(
            waiting_for = self.waiting_for.as_str(),
            status,
            waited_s = waited.as_secs(),
            deadline_in_s = left.as_secs(),
            "still waiting for {}: status {status} after {}; deadline in {}",
            self.waiting_for,
            human_duration(waited),
            human_duration(left),
        );
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

/// A duration as Terraform users write them, to the second: `45s`, `2m10s`, `1h0m5s`;
/// under a second, in milliseconds.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_timeouts() {
        for (ms, text) in [
            (0, "0ms"),
            (850, "850ms"),
            (1_000, "1s"),
            (45_900, "45s"),
            (130_000, "2m10s"),
            (470_000, "7m50s"),
            (3_605_000, "1h0m5s"),
        ] {
            assert_eq!(human_duration(Duration::from_millis(ms)), text);
        }
    }
}

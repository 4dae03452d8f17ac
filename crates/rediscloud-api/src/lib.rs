//! Redis Cloud REST client: typed models, errors, rate limiting, retries and the task waiter. No Terraform types.
//!
//! One [`Client`] per set of credentials. Writes return the task envelope; callers then use
//! [`Client::wait_for_task`] and the cloud-account status waits, which poll with adaptive backoff
//! and honour a deadline and a cancellation token.

mod cloud_accounts;
mod error;
mod http;
mod models;
pub mod ops;
mod poll;
mod secret;
mod tasks;
mod tls;
mod watch;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, TaskFailure};
pub use http::base_url_problem;
pub use models::{
    AccountStatusKind, CloudAccount, CloudAccountCreateRequest, CloudAccountUpdateRequest,
    ProcessorResponse, TaskErrorDetail, TaskStateUpdate, TaskStatus, is_known_status,
};
pub use ops::ownership;
pub use secret::Secret;

/// The public Redis Cloud API, version 1.
pub const DEFAULT_BASE_URL: &str = "https://api.redislabs.com/v1";

/// The documented per-key limit.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 400;

/// How failed requests are retried: GETs on 5xx and transport errors, every method on 429 and
/// on connection failures (nothing was sent).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; at least 1.
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            jitter: true,
        }
    }
}

/// How often a long wait reports its progress at INFO.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// How long a new account's 404 is taken for the API's lag (its issue #150 saw one right after
/// the create's task completed). Generous: mistaking lag for a deletion orphans an account, while
/// mistaking a deletion for lag only delays the plan that recreates it.
pub const DEFAULT_VISIBILITY_WINDOW: Duration = Duration::from_secs(120);

/// How the task and status waiters poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// Delay before the first poll.
    pub initial_delay: Duration,
    /// Cap for the growing delay.
    pub max_delay: Duration,
    /// Growth per poll; at least 1.0.
    pub multiplier: f64,
    /// Spread each delay by ±15% so parallel waiters do not poll in lockstep.
    pub jitter: bool,
    /// A new task or a just-provisioned account may answer 404 for a while: tolerate up to
    /// `not_found_limit` consecutive 404s within `not_found_grace` of the first one.
    pub not_found_limit: u32,
    pub not_found_grace: Duration,
    /// A wait longer than this says at INFO what it waits for, the status now, the time
    /// spent and the time left, at most once per interval.
    pub progress_interval: Duration,
    /// How long after its creation an account's 404, or its absence from the list, is the
    /// API's lag and no evidence that it is gone.
    pub visibility_window: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            // Growth bounds how late a wait notices completion (at most 10% of
            // the time waited so far) against how many polls it costs: about
            // 48 polls to reach the 5 s cap, then 12 a minute. Concurrent waits
            // share the watcher's list requests, so the extra polls of a
            // tighter bound do not grow with the number of waiting resources.
            multiplier: 1.1,
            jitter: true,
            // The grace period is what matters; the count only guards against a
            // fast schedule hammering a task that will never exist (with 50 ms
            // growing 1.1x, 10 s of grace is about 32 polls).
            not_found_limit: 40,
            not_found_grace: Duration::from_secs(10),
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
            visibility_window: DEFAULT_VISIBILITY_WINDOW,
        }
    }
}

/// Everything a [`Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Includes the version prefix, e.g. `https://api.redislabs.com/v1`; a trailing slash is fine.
    pub base_url: String,
    pub api_key: Secret,
    pub secret_key: Secret,
    pub user_agent: String,
    pub requests_per_minute: u32,
    pub retry: RetryPolicy,
    pub task_poll: PollPolicy,
    /// Per HTTP request, including reading the body.
    pub http_timeout: Duration,
}

impl ClientConfig {
    /// Defaults for everything else. The keys accept a [`Secret`] or a plain string.
    pub fn new(
        base_url: impl Into<String>,
        api_key: impl Into<Secret>,
        secret_key: impl Into<Secret>,
    ) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            secret_key: secret_key.into(),
            user_agent: default_user_agent(),
            requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            retry: RetryPolicy::default(),
            task_poll: PollPolicy::default(),
            http_timeout: Duration::from_secs(60),
        }
    }
}

fn default_user_agent() -> String {
    concat!("terraform-provider-rediscloud/", env!("CARGO_PKG_VERSION")).to_owned()
}

/// What bounds one operation's requests: its deadline and Terraform's StopProvider.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub deadline: tokio::time::Instant,
    pub stop: tokio_util::sync::CancellationToken,
}

/// The Redis Cloud API client. Cloning is cheap and clones share the rate limiter and the
/// record of which tasks and accounts this process's writes own.
#[derive(Clone)]
pub struct Client {
    inner: Arc<http::Inner>,
    bounds: Option<Bounds>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client, Error> {
        Self::with_rate_window(cfg, http::RATE_WINDOW)
    }

    /// `requests_per_minute` applies per `window`; only tests shorten the minute.
    pub(crate) fn with_rate_window(cfg: ClientConfig, window: Duration) -> Result<Client, Error> {
        Ok(Client {
            inner: Arc::new(http::Inner::new(cfg, window)?),
            bounds: None,
        })
    }

    /// This client with every request (pauses, retries and rate-limit waits included) bounded
    /// by `deadline` and `stop`.
    pub fn bounded(
        &self,
        deadline: tokio::time::Instant,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            bounds: Some(Bounds {
                deadline,
                stop: stop.clone(),
            }),
        }
    }

    pub(crate) async fn execute<T: serde::de::DeserializeOwned>(
        &self,
        call: http::Call<'_>,
    ) -> Result<T, Error> {
        self.inner.execute(call, self.bounds.as_ref()).await
    }

    /// This client without the operation's bounds (for shared fetches and last looks).
    pub(crate) fn unbounded(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            bounds: None,
        }
    }

    /// The client for a wait's poll: this one, or for the last look (sent at the deadline,
    /// where the operation's bounds end) this one unbounded; the poller bounds it instead.
    pub(crate) fn for_look(&self, look: poll::Look) -> Client {
        if look.last {
            self.unbounded()
        } else {
            self.clone()
        }
    }

    /// Awaits `f` until this client's deadline or stop (the work itself goes on for others).
    pub(crate) async fn within_bounds<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let Some(b) = &self.bounds else {
            return f.await;
        };
        tokio::select! {
            biased;
            () = b.stop.cancelled() => Err(Error::Cancelled { waiting_for: what.to_owned() }),
            () = tokio::time::sleep_until(b.deadline) => Err(Error::Timeout { waiting_for: what.to_owned(), last_status: None }),
            out = f => out,
        }
    }

    /// How many shared list requests this process started (accounts, tasks).
    pub fn shared_list_fetches(&self) -> (u64, u64) {
        (self.inner.accounts.fetches(), self.inner.tasks.fetches())
    }

    /// The claims of this process's writes (see [`ownership`]).
    pub(crate) fn claims(&self) -> &ownership::Claims {
        &self.inner.claims
    }

    /// The one backoff schedule of every wait, from this client's poll policy.
    pub(crate) fn schedule(&self) -> poll::Schedule {
        poll::Schedule::new(&self.inner.poll)
    }
}

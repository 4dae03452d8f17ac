//! Request execution: URL building, headers, the client-side rate limiter and retries.
//!
//! Retry rules follow from what a failure says about the server's state: 429 and connect errors
//! mean nothing was done (retry any method); 5xx or a broken connection after sending may mean
//! a write was applied (retry GETs only, report writes as [`Error::Ambiguous`]).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::error::body_excerpt;
use super::poll::{POST_DEADLINE_GRACE, grace_after_stop};
use super::watch::ListPace;
use super::{Bounds, ClientConfig, Error, PollPolicy, RetryPolicy, default_user_agent};
use tokio_util::sync::CancellationToken;

/// The period `requests_per_minute` refers to.
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(60);

const HEADER_API_KEY: &str = "x-api-key";
const HEADER_SECRET_KEY: &str = "x-api-secret-key";
const HEADER_REMAINING: &str = "x-rate-limit-remaining";
const HEADER_RETRY_AFTER_SECONDS: &str = "x-rate-limit-retry-after-seconds";
const JSON: &str = "application/json";

/// Longest pause a server's retry-after may impose; guards against absurd header values. Redis
/// Cloud counts requests in one-minute windows, so no honest retry-after is longer.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The part of the rate limit (1/N) that polls leave to writes and reads.
const WRITE_RESERVE_SHARE: usize = 8;

/// Shared state behind a [`super::Client`].
pub(crate) struct Inner {
    http: reqwest::Client,
    base: Url,
    api_key: HeaderValue,
    secret_key: HeaderValue,
    /// Credential values scrubbed from any error text.
    redact: Vec<String>,
    pub(crate) gate: RateGate,
    retry: RetryPolicy,
    pub(crate) poll: PollPolicy,
    http_timeout: Duration,
    pub(crate) claims: super::ownership::Claims,
    /// The shared watcher's lists.
    pub(crate) accounts: super::watch::SharedList<Vec<super::CloudAccount>>,
    pub(crate) tasks: super::watch::SharedList<Vec<super::TaskStateUpdate>>,
    /// Every account ID an account list answered to this process has shown: for these the
    /// list has caught up, so their absence from a later list is no lag.
    pub(crate) ever_listed: std::sync::Mutex<std::collections::HashSet<i64>>,
    /// How far the API's clock is ahead of this machine's (ms, negative when behind), from the
    /// `Date` header of its latest answer: task timestamps are on the API's clock.
    pub(crate) api_clock_offset_ms: std::sync::atomic::AtomicI64,
    /// The account list that proved the configuration, and when its request was sent: the
    /// refreshes right after it read it (and nothing else does).
    pub(crate) verified: std::sync::Mutex<
        Option<(
            tokio::time::Instant,
            std::sync::Arc<Vec<super::CloudAccount>>,
        )>,
    >,
}

/// One API call.
pub(crate) struct Call<'a> {
    pub method: Method,
    /// Path segments below the base URL; each is percent-encoded.
    pub segments: Vec<String>,
    pub body: Option<Vec<u8>>,
    /// Values from the body to scrub from error text.
    pub redact: Vec<&'a str>,
    /// Names the resource in [`Error::NotFound`].
    pub resource: String,
    /// Retries (and rate-limit pauses) stop when they would end past this instant.
    pub deadline: Option<Instant>,
    /// A poll of the shared watcher: it never takes the share of the rate limit kept for
    /// writes and reads.
    pub poll: bool,
}

/// What one attempt means for the retry loop.
enum Attempt<T> {
    Done(T),
    Fail(Error),
    /// Retry after `after` if the server said so, else after the next backoff step.
    Retry {
        err: Error,
        after: Option<Duration>,
    },
}

impl Inner {
    /// How long one HTTP request may take, reading its answer included.
    pub(crate) fn http_timeout(&self) -> Duration {
        self.http_timeout
    }

    pub(crate) fn new(cfg: ClientConfig, window: Duration) -> Result<Inner, Error> {
        let config_err = |message: &str| Error::Config {
            message: message.to_owned(),
        };
        let base = parse_base_url(&cfg.base_url)?;
        if cfg.api_key.is_empty() || cfg.secret_key.is_empty() {
            return Err(config_err(
                "the API key and the secret key must not be empty",
            ));
        }
        let mut api_key = HeaderValue::from_str(cfg.api_key.expose())
            .map_err(|_| config_err("the API key contains characters not allowed in a header"))?;
        let mut secret_key = HeaderValue::from_str(cfg.secret_key.expose()).map_err(|_| {
            config_err("the secret key contains characters not allowed in a header")
        })?;
        // Sensitive header values print as "Sensitive" in any Debug output of a request.
        api_key.set_sensitive(true);
        secret_key.set_sensitive(true);
        if cfg.retry.attempts == 0 {
            return Err(config_err("retry attempts must be at least 1"));
        }
        if !(cfg.task_poll.multiplier.is_finite() && cfg.task_poll.multiplier >= 1.0) {
            return Err(config_err("the poll multiplier must be a number >= 1"));
        }
        let rpm = NonZeroU32::new(cfg.requests_per_minute)
            .ok_or_else(|| config_err("requests_per_minute must be at least 1"))?;
        let user_agent = if cfg.user_agent.trim().is_empty() {
            default_user_agent()
        } else {
            cfg.user_agent.clone()
        };
        let user_agent = HeaderValue::from_str(&user_agent).map_err(|_| {
            config_err("the user agent contains characters not allowed in a header")
        })?;
        let tls =
            super::tls::client_config(base.scheme() == "https").map_err(|e| Error::Config {
                message: format!("could not set up TLS: {e}"),
            })?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(user_agent)
            .timeout(cfg.http_timeout)
            .connect_timeout(cfg.http_timeout.min(Duration::from_secs(15)))
            // A redirect would carry the credential headers to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config {
                message: format!("could not build the HTTP client: {e}"),
            })?;
        Ok(Inner {
            http,
            base,
            api_key,
            secret_key,
            redact: vec![
                cfg.api_key.expose().to_owned(),
                cfg.secret_key.expose().to_owned(),
            ],
            gate: RateGate::new(rpm, window)?,
            retry: cfg.retry,
            poll: cfg.task_poll,
            http_timeout: cfg.http_timeout,
            claims: super::ownership::Claims::default(),
            // Each list polls at half the pace the gate allows polls ([`RateGate::list_pace`]).
            accounts: super::watch::SharedList::new(),
            tasks: super::watch::SharedList::new(),
            ever_listed: std::sync::Mutex::default(),
            api_clock_offset_ms: std::sync::atomic::AtomicI64::new(0),
            verified: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[String]) -> Result<Url, Error> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config {
                message: "the base URL cannot take a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Runs `call` with rate limiting and the retry rules, decoding a 2xx body as `T`.
    ///
    /// `bounds` (the operation's deadline and StopProvider) end every pause before a request is
    /// sent; a GET in flight is abandoned at the deadline, while a write in flight is never
    /// abandoned (its answer decides what happened) but is given at most [`POST_DEADLINE_GRACE`] past
    /// the deadline, or past StopProvider, before it counts as ambiguous.
    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        bounds: Option<&Bounds>,
    ) -> Result<T, Error> {
        if call.method != Method::GET {
            // The list that proved the configuration serves refreshes only while this process
            // has written nothing since: after a write it may show what the write changed.
            *self.verified.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        let url = self.url(&call.segments)?;
        let shown = self.display_url(&url);
        let deadline = match (call.deadline, bounds.map(|b| b.deadline)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let stop = bounds.map(|b| &b.stop);
        let not_sent = |why: NotSent| match why {
            NotSent::Stopped => Error::Cancelled {
                waiting_for: format!("{} {shown} to be sent", call.method),
            },
            NotSent::Deadline => Error::Timeout {
                waiting_for: format!("{} {shown} to be sent", call.method),
                last_status: None,
            },
        };
        let mut backoff = backoff(&self.retry);
        let attempts = self.retry.attempts;
        let mut attempt = 1;
        loop {
            if let Some(why) = pause_is_over(stop, deadline) {
                return Err(not_sent(why));
            }
            match stoppable(stop, self.gate.acquire(deadline, call.poll)).await {
                Some(r) => r?,
                None => return Err(not_sent(NotSent::Stopped)),
            }
            let outcome = if call.method == Method::GET {
                // A read may be abandoned at any time: it changes nothing.
                let read = self.attempt::<T>(&call, &url, &shown, attempt, None);
                match bounded(stop, deadline, read).await {
                    Ok(o) => o,
                    Err(why) => return Err(not_sent(why)),
                }
            } else {
                let limit = deadline
                    .map(|d| d.saturating_duration_since(Instant::now()) + POST_DEADLINE_GRACE);
                let sent_at = Instant::now();
                let write = self.attempt::<T>(&call, &url, &shown, attempt, limit);
                // StopProvider gives a write in flight the same grace as the deadline does.
                let stopped = grace_after_stop(stop);
                tokio::select! {
                    out = write => out,
                    () = stopped => Attempt::Fail(self.ambiguous(
                        &call,
                        &shown,
                        sent_at,
                        format!(
                            "stopped (StopProvider) while the request was in flight, and no answer came within {} ms",
                            POST_DEADLINE_GRACE.as_millis()
                        ),
                    )),
                }
            };
            let (err, after) = match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { err, after } => (err, after),
            };
            if attempt >= attempts {
                return Err(err);
            }
            let delay = after.unwrap_or_else(|| backoff.next().unwrap_or(self.retry.max_delay));
            if let Some(deadline) = deadline
                && Instant::now() + delay > deadline
            {
                return Err(err);
            }
            tracing::debug!(
                method = %call.method,
                url = shown.as_str(),
                error = %err,
                delay_ms = delay.as_millis() as u64,
                attempt,
                "{} {shown}: retrying in {} ms (attempt {attempt} failed: {err})",
                call.method,
                delay.as_millis(),
            );
            if stoppable(stop, tokio::time::sleep(delay)).await.is_none() {
                return Err(err);
            }
            attempt += 1;
        }
    }

    /// The URL as logs and errors show it: never with user information.
    fn display_url(&self, url: &Url) -> String {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        shown.to_string()
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        url: &Url,
        shown: &str,
        attempt: u32,
        time_limit: Option<Duration>,
    ) -> Attempt<T> {
        let is_get = call.method == Method::GET;
        let started = Instant::now();
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .header(HEADER_API_KEY, self.api_key.clone())
            .header(HEADER_SECRET_KEY, self.secret_key.clone())
            // The API expects a JSON content type on every request, GET included.
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, JSON);
        if let Some(body) = &call.body {
            request = request.body(body.clone());
        }
        if let Some(limit) = time_limit {
            request = request.timeout(limit.min(self.http_timeout));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let message = transport_message(&e);
                let elapsed_ms = started.elapsed().as_millis() as u64;
                tracing::debug!(
                    method = %call.method,
                    url = shown,
                    error = message.as_str(),
                    elapsed_ms,
                    attempt,
                    "{} {shown}: no answer, {message}, after {elapsed_ms} ms (attempt {attempt})",
                    call.method,
                );
                return if e.is_connect() || is_get {
                    // A failed connect sent nothing, so even a write may be retried.
                    Attempt::Retry {
                        err: Error::Transport {
                            message: format!("{} {shown}: {message}", call.method),
                        },
                        after: None,
                    }
                } else {
                    Attempt::Fail(self.ambiguous(call, shown, started, message))
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        self.gate.observe(header_u32(&headers, HEADER_REMAINING));
        if let Some(api_now) = http_date_ms(&headers) {
            self.api_clock_offset_ms.store(
                api_now - super::ownership::now_ms() as i64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let body = response.bytes().await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        // A shared watcher's successful polls come several a second during a wave of waits: they
        // are TRACE, so that DEBUG shows every other call and every failure.
        macro_rules! request_line {
            ($level:ident) => {
                tracing::$level!(
                    method = %call.method,
                    url = shown,
                    status = status.as_u16(),
                    elapsed_ms,
                    attempt,
                    "{} {shown}: HTTP {} in {elapsed_ms} ms (attempt {attempt})",
                    call.method,
                    status.as_u16(),
                )
            };
        }
        if call.poll && status.is_success() {
            request_line!(trace);
        } else {
            request_line!(debug);
        }
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                let message = format!(
                    "HTTP {} with an unreadable body: {}",
                    status.as_u16(),
                    transport_message(&e)
                );
                if is_get {
                    return Attempt::Retry {
                        err: Error::Transport {
                            message: format!("{} {shown}: {message}", call.method),
                        },
                        after: None,
                    };
                }
                if status.is_success() || status.is_server_error() {
                    return Attempt::Fail(self.ambiguous(call, shown, started, message));
                }
                // A 4xx status is conclusive on its own: the write was not applied.
                Default::default()
            }
        };
        if status.is_success() {
            return match serde_json::from_slice::<T>(&body) {
                Ok(v) => Attempt::Done(v),
                Err(e) if is_get => Attempt::Fail(Error::Decode {
                    message: format!("{} {shown}: {e}", call.method),
                }),
                Err(e) => Attempt::Fail(self.ambiguous(
                    call,
                    shown,
                    started,
                    format!(
                        "HTTP {} but the response could not be decoded: {e}",
                        status.as_u16()
                    ),
                )),
            };
        }
        let excerpt = self.excerpt(&body, &call.redact);
        let message = format!("{} {shown}: {excerpt}", call.method);
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                let after = retry_after(&headers);
                if let Some(d) = after {
                    // Everyone sharing this client pauses, not just this request.
                    self.gate.pause(d);
                }
                Attempt::Retry {
                    err: Error::RateLimited {
                        retry_after: after,
                        message,
                    },
                    after,
                }
            }
            // Only the API's own "not found" error proves absence; any other 404 (a base URL
            // without `/v1`, a proxy) must never be taken for a deleted account. A collection
            // always exists at the right base URL, so a 404 on one proves a wrong URL whatever
            // its body says.
            StatusCode::NOT_FOUND => {
                let collection = call.segments.len() == 1;
                let proof = not_found_type(&body)
                    .filter(|ty| !collection && names_the_entity(&call.segments, ty));
                Attempt::Fail(match proof {
                    Some(error_type) => Error::NotFound {
                        resource: call.resource.clone(),
                        evidence: format!("{} {shown} answered HTTP 404 {error_type}", call.method),
                        error_type,
                    },
                    None => Error::UnrecognisedNotFound {
                        method: call.method.to_string(),
                        url: shown.to_owned(),
                        resource: call.resource.clone(),
                        excerpt,
                        collection,
                    },
                })
            }
            StatusCode::UNAUTHORIZED => Attempt::Fail(Error::Unauthorized { message }),
            StatusCode::FORBIDDEN => Attempt::Fail(Error::Forbidden { message }),
            StatusCode::CONFLICT => Attempt::Fail(Error::Conflict { message }),
            StatusCode::PRECONDITION_FAILED => Attempt::Fail(Error::Validation {
                status: 412,
                message: format!("{message} (the feature flag for this flow is off)"),
            }),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                let err = Error::Server {
                    status: s.as_u16(),
                    message,
                };
                if is_get {
                    Attempt::Retry { err, after: None }
                } else {
                    // A gateway may answer 5xx or 408 for a write the backend committed.
                    Attempt::Fail(self.ambiguous(call, shown, started, err.to_string()))
                }
            }
            s if s.is_client_error() => Attempt::Fail(Error::Validation {
                status: s.as_u16(),
                message,
            }),
            // Redirects are not followed (credentials must stay with the configured host).
            s => Attempt::Fail(Error::Server {
                status: s.as_u16(),
                message: format!("{} {shown}: unexpected HTTP status", call.method),
            }),
        }
    }

    fn ambiguous(&self, call: &Call<'_>, shown: &str, sent_at: Instant, message: String) -> Error {
        Error::Ambiguous {
            method: call.method.to_string(),
            url: shown.to_owned(),
            message,
            sent_at,
        }
    }

    fn excerpt(&self, body: &[u8], extra: &[&str]) -> String {
        let mut redact: Vec<&str> = self.redact.iter().map(String::as_str).collect();
        redact.extend_from_slice(extra);
        body_excerpt(body, &redact)
    }
}

fn parse_base_url(raw: &str) -> Result<Url, Error> {
    checked_base_url(raw).map_err(|problem| Error::Config {
        message: format!("the base URL {problem}"),
    })
}

/// What is wrong with `raw` as a base URL, completing "the base URL …"; `None` when it is fine.
pub fn base_url_problem(raw: &str) -> Option<String> {
    checked_base_url(raw).err()
}

fn checked_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("must be an http or https URL".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_owned());
    }
    Ok(url)
}

/// The retry delays: exponential from `initial_delay`, jittered, and capped at `max_delay` after
/// the jitter (backon caps before adding up to 100% jitter, which allowed twice `max_delay`).
pub(super) fn backoff(policy: &RetryPolicy) -> impl Iterator<Item = Duration> + use<> {
    let mut builder = ExponentialBuilder::default()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_factor(2.0)
        .with_max_times(policy.attempts as usize);
    if policy.jitter {
        builder = builder.with_jitter();
    }
    let max_delay = policy.max_delay;
    builder.build().map(move |d| d.min(max_delay))
}

/// A transport error's description without the URL (which reqwest includes by default).
fn transport_message(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    // Only the sources: reqwest's own Display names the URL, which logs need not repeat.
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    if parts.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", parts.join(": "))
    }
}

/// The `Date` header (an HTTP-date, `Sun, 06 Nov 1994 08:49:37 GMT`) as unix ms.
fn http_date_ms(headers: &HeaderMap) -> Option<i64> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(headers.get("date")?.to_str().ok()?.trim(), &format)
        .ok()?
        .assume_utc();
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

fn header_u32(headers: &HeaderMap, name: &str) -> Option<u32> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The server's requested pause: `x-rate-limit-retry-after-seconds`, else a numeric `Retry-After`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    [HEADER_RETRY_AFTER_SECONDS, "retry-after"]
        .iter()
        .find_map(|name| {
            let secs: f64 = headers.get(*name)?.to_str().ok()?.trim().parse().ok()?;
            // Clamp before converting: `Duration::from_secs_f64` panics on huge values.
            (secs.is_finite() && secs >= 0.0)
                .then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())))
        })
}

/// The `error.type` of a 404 body when it names a missing entity (`CLOUD_ACCOUNT_NOT_FOUND`,
/// `ENTITY_NOT_FOUND`, ...).
fn not_found_type(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let ty = v.get("error")?.get("type")?.as_str()?;
    ty.ends_with("_NOT_FOUND").then(|| ty.to_owned())
}

/// Whether a not-found error type is about the entity the path names: on a cloud account's
/// path only the API's own `CLOUD_ACCOUNT_NOT_FOUND` is (another entity's, as a base URL pointing
/// elsewhere in the API gives, says nothing about the account).
fn names_the_entity(segments: &[String], error_type: &str) -> bool {
    match segments.first().map(String::as_str) {
        Some(super::models::COLLECTION) => error_type == "CLOUD_ACCOUNT_NOT_FOUND",
        _ => true,
    }
}

/// Why a request was never sent.
enum NotSent {
    Stopped,
    Deadline,
}

/// Whether the operation's bounds are already spent.
fn pause_is_over(stop: Option<&CancellationToken>, deadline: Option<Instant>) -> Option<NotSent> {
    if stop.is_some_and(CancellationToken::is_cancelled) {
        return Some(NotSent::Stopped);
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(NotSent::Deadline);
    }
    None
}

/// Runs `f` unless `stop` fires first (`None` then).
async fn stoppable<F: std::future::Future>(
    stop: Option<&CancellationToken>,
    f: F,
) -> Option<F::Output> {
    match stop {
        Some(stop) => tokio::select! {
            biased;
            () = stop.cancelled() => None,
            out = f => Some(out),
        },
        None => Some(f.await),
    }
}

/// Runs `f` until `stop` or `deadline`.
async fn bounded<F: std::future::Future>(
    stop: Option<&CancellationToken>,
    deadline: Option<Instant>,
    f: F,
) -> Result<F::Output, NotSent> {
    let expiry = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        Some(()) = async { match stop { Some(s) => { s.cancelled().await; Some(()) } None => None } } => Err(NotSent::Stopped),
        () = expiry => Err(NotSent::Deadline),
        out = f => Ok(out),
    }
}

/// Client-side rate limiting: at most `rpm` requests in any window of `window`
/// (a sliding log of send times), resynced whenever the server reports fewer
/// remaining requests than we believe.
///
/// Redis Cloud counts requests in fixed one-minute windows. A token bucket
/// (GCRA) that allows a full burst also refills during the minute, so it can
/// send nearly twice the limit in one server window; a rate low enough to
/// avoid that would throttle the bursts Terraform's parallelism produces. A
/// log of the last `rpm` send times allows the burst and still never exceeds
/// the limit in any window, sliding or fixed.
pub(crate) struct RateGate {
    rpm: usize,
    window: Duration,
    state: Mutex<GateState>,
    /// Wakes the requests held back for the probe's answer as soon as it is in.
    probe_answered: tokio::sync::Notify,
}

#[derive(Default)]
struct GateState {
    /// No request starts before this (set by 429 retry-after or an exhausted server window).
    not_before: Option<Instant>,
    /// Send times within the last window, oldest first (requests the server
    /// says others made are entered as sent now).
    sent: std::collections::VecDeque<Instant>,
    /// Whether a response has told us the server's count yet.
    synced: bool,
    /// When the first request of this client went out.
    probe_started: Option<Instant>,
    /// Until when the server's own count leaves more room than this client's whole limit
    /// (the key has a larger limit than configured, as a local emulator may).
    roomy_until: Option<Instant>,
    /// When the last permit went out.
    last_let_out: Option<Instant>,
    /// When the server's count last showed other clients of the key spending (what its first
    /// answer shows spent was spent before this client began, and does not count).
    others_spent_at: Option<Instant>,
    /// Whether an answer has carried the server's count yet.
    counted: bool,
    /// When the server's current window ends at the latest, once an answer has shown where
    /// one began: the first request of a fresh window, or a count that jumped back.
    window_end: Option<Instant>,
}

impl GateState {
    /// Lets one request of this client out now.
    fn let_out(&mut self, now: Instant) {
        self.sent.push_back(now);
        self.last_let_out = Some(now);
    }
}

/// While the log says the window is spent, one request every this long asks the server's
/// count anyway: what other processes spent was entered as sent when it was learnt, so the
/// log can believe a window spent long after the server started a new one.
const RECHECK: Duration = Duration::from_secs(2);

/// How far above this client's belief the server's count must jump to be a new window rather
/// than answers arriving out of order (each answer's count is taken when it was served).
fn reset_jump(rpm: usize) -> usize {
    (rpm / 10).max(16)
}

/// The slowest a shared list is polled while the window has anything above the writes'
/// reserve: a wait always learns within this many seconds (the gate itself stops polls that
/// would eat into the reserve).
const SLOWEST_LIST_POLL_S: f64 = 5.0;

/// A list's burst holds at most this long's worth of its pace while this client has the key to
/// itself, so a window that runs low also shrinks what may go out at once.
const BURST_SPAN: Duration = Duration::from_secs(8);

/// A list's burst while other clients spend the key: one second's worth.
const SHARED_BURST_SPAN: Duration = Duration::from_secs(1);

/// How long after the server's count last showed others spending the key this client still
/// counts itself as sharing it.
const SHARED_FOR: Duration = Duration::from_secs(10);

/// How long a report of ample room lets polls skip their pacing without a fresh report.
const ROOMY_FOR: Duration = Duration::from_secs(1);

/// How long later requests wait for the first response before going ahead
/// anyway (the first request may have failed without a response).
const PROBE_WAIT: Duration = Duration::from_secs(2);

impl RateGate {
    fn new(rpm: NonZeroU32, window: Duration) -> Result<Self, Error> {
        if window.is_zero() {
            return Err(Error::Config {
                message: "the rate-limit window must not be zero".to_owned(),
            });
        }
        Ok(RateGate {
            rpm: rpm.get() as usize,
            window,
            state: Mutex::new(GateState::default()),
            probe_answered: tokio::sync::Notify::new(),
        })
    }

    /// How long a send counts against the window: the window plus 2%, because the server
    /// stamps a request when it arrives, and the first request of a connection arrives later
    /// after it was let out than the ones that follow it.
    fn spacing(&self) -> Duration {
        self.window + self.window / 50
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        // The state stays consistent even if a holder panicked; keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a permit. Fails with [`Error::RateLimited`] when the wait would pass `deadline`.
    ///
    /// A poll only gets a permit while more than [`WRITE_RESERVE_SHARE`] of the window is left,
    /// so polling can never starve the writes and reads that Terraform waits on.
    async fn acquire(&self, deadline: Option<Instant>, poll: bool) -> Result<(), Error> {
        let limit = if poll {
            self.rpm - self.reserve()
        } else {
            self.rpm
        };
        loop {
            let until = {
                let mut state = self.lock();
                let now = Instant::now();
                while state
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.spacing())
                {
                    state.sent.pop_front();
                }
                // Terraform starts a fresh provider process per command, which
                // cannot know what its predecessors spent in the server's
                // window: send one request and learn the count from its answer
                // before letting a parallel wave out.
                let probing = if state.synced {
                    None
                } else {
                    match state.probe_started {
                        None => {
                            state.probe_started = Some(now);
                            state.let_out(now);
                            return Ok(());
                        }
                        // Wait for the probe's answer (woken by it), looking again every 5 ms.
                        Some(t) if now.duration_since(t) < PROBE_WAIT => {
                            Some(now + Duration::from_millis(5))
                        }
                        Some(_) => {
                            state.synced = true;
                            None
                        }
                    }
                };
                match (probing, state.not_before) {
                    (Some(poll), _) => (poll, true),
                    (None, Some(nb)) if nb > now => (nb, false),
                    _ if state.sent.len() < limit => {
                        state.let_out(now);
                        return Ok(());
                    }
                    // Full: the send that frees a permit leaves the window first, unless it is
                    // time to ask the server whether its window has started over.
                    _ => {
                        let frees = state
                            .sent
                            .get(state.sent.len() - limit)
                            .map_or(now, |t| *t + self.spacing());
                        let recheck = state.last_let_out.map_or(now, |t| t + RECHECK);
                        if recheck <= now && frees > now {
                            state.let_out(now);
                            return Ok(());
                        }
                        (frees.min(recheck.max(now)), false)
                    }
                }
            };
            let (until, probing) = until;
            wait_until(until, deadline)?;
            if probing {
                let answered = self.probe_answered.notified();
                tokio::pin!(answered);
                // Registered before looking again, so an answer that lands in between still
                // wakes this request.
                answered.as_mut().enable();
                if self.lock().synced {
                    continue;
                }
                tokio::select! {
                    () = answered => {}
                    () = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// How many fetches a second each of the two shared lists may start now; `None` while the
    /// server recently reported more requests left in its window than twice this client's
    /// whole limit (the key's real limit is larger, as a local emulator's may be, and pacing
    /// polls protects nothing).
    ///
    /// Polls spend what the key's window has left above the writes' reserve, spread over the
    /// time the window has left: the server's count is shared by every client of the key, so
    /// as other processes spend it, each slows down in proportion, and none stops while budget
    /// is left. Without knowing where the window began, it is assumed to have just begun (a
    /// whole window left), which is never faster than the truth.
    pub(crate) fn list_pace(&self) -> Option<ListPace> {
        let state = self.lock();
        let now = Instant::now();
        if state.roomy_until.is_some_and(|until| now < until) {
            return None;
        }
        let counted = state
            .sent
            .iter()
            .filter(|t| now.duration_since(**t) < self.spacing())
            .count();
        let time_left = state
            .window_end
            .filter(|end| *end > now)
            .map_or(self.window, |end| end - now);
        let per_s = poll_pace(
            self.rpm.saturating_sub(counted),
            self.reserve(),
            time_left.max(RECHECK),
        );
        // Alone on the key, a burst spends only what this client would spend anyway a little
        // later. With others spending alongside, each one's burst takes what the others'
        // waits need: the window's start would go to whichever bursts first.
        let shared = state
            .others_spent_at
            .is_some_and(|t| now.duration_since(t) < SHARED_FOR);
        let span = if shared {
            SHARED_BURST_SPAN
        } else {
            BURST_SPAN
        };
        Some(ListPace {
            per_s,
            burst: per_s * span.as_secs_f64(),
        })
    }

    /// Requests of each window that polls leave to writes and the reads Terraform waits on.
    fn reserve(&self) -> usize {
        (self.rpm / WRITE_RESERVE_SHARE).max(1).min(self.rpm - 1)
    }

    /// Resyncs from the server's `X-Rate-Limit-Remaining`.
    fn observe(&self, remaining: Option<u32>) {
        let mut state = self.lock();
        let first_count = !state.counted;
        if remaining.is_some() {
            state.counted = true;
        }
        if !state.synced {
            state.synced = true;
            self.probe_answered.notify_waiters();
        }
        let Some(remaining) = remaining else {
            state.roomy_until = None;
            return;
        };
        let now = Instant::now();
        // Twice the configured limit left: room for this client and as much again for others.
        state.roomy_until =
            (remaining as usize >= 2 * self.rpm).then(|| now + ROOMY_FOR.min(self.window));
        let believed = self.rpm.saturating_sub(state.sent.len());
        let remaining = remaining as usize;
        if remaining + 1 >= self.rpm {
            // This request was the window's first: it ends a window from now at the latest.
            state.window_end = Some(now + self.window);
        }
        if remaining > believed + reset_jump(self.rpm) {
            // The server's window started over (its count jumped back): what the log holds
            // from before no longer counts, and any wait for the old window is over.
            let keep = self.rpm.saturating_sub(remaining);
            let dropped = state.sent.len().saturating_sub(keep);
            state.sent.drain(..dropped);
            state.not_before = None;
            state.window_end = Some(now + self.window);
            tracing::debug!(
                remaining,
                dropped,
                "the server's rate window started over; pacing from its count"
            );
            return;
        }
        if remaining < believed {
            // Someone else (another client on the same key) used the difference:
            // count it as sent now so our pacing matches the server's count.
            let excess = believed - remaining;
            state.sent.extend(std::iter::repeat_n(now, excess));
            if !first_count {
                state.others_spent_at = Some(now);
            }
            tracing::debug!(
                remaining,
                excess,
                "Redis Cloud API reports {remaining} remaining requests, {excess} fewer than this client counted; slowing down"
            );
        }
        // What the server counts in its window stays counted until that window ends, which is
        // no earlier than now: none of it may leave the log before a window from now (a count
        // that jumps back, or a recheck, ends it sooner).
        let counted = self.rpm.saturating_sub(remaining).min(state.sent.len());
        let from = state.sent.len() - counted;
        for t in state.sent.iter_mut().skip(from) {
            *t = (*t).max(now);
        }
    }

    /// Holds every request back for `d` (the server's 429 retry-after).
    fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut state = self.lock();
        state.not_before = Some(state.not_before.map_or(until, |nb| nb.max(until)));
    }
}

/// Fetches a second for each of the two shared lists: what the window has `left` above the
/// `reserve`, spread over `time_left`, halved between the lists; never slower than one fetch
/// per [`SLOWEST_LIST_POLL_S`].
///
/// Every client of the key computes the same pace from the same count, so none gets less than
/// another: k clients at once spend the window k times faster than one, and as the count
/// falls each slows in proportion, so together they slow down early and never stop. A share
/// taken from each client's own recent spending starved the one that fell behind: it spent
/// less, so it was given less.
fn poll_pace(left: usize, reserve: usize, time_left: Duration) -> f64 {
    let spendable = left.saturating_sub(reserve) as f64;
    (spendable / time_left.as_secs_f64() / 2.0).max(1.0 / SLOWEST_LIST_POLL_S)
}

fn wait_until(until: Instant, deadline: Option<Instant>) -> Result<(), Error> {
    match deadline {
        Some(d) if until > d => Err(Error::RateLimited {
            retry_after: Some(until.saturating_duration_since(Instant::now())),
            message: "the client-side rate limit would delay the request past the deadline"
                .to_owned(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The requests held back for the probe go as soon as its answer is in, not at their
    /// next 5 ms look (the clock stands still here: only the answer can release them).
    #[tokio::test(start_paused = true)]
    async fn the_probes_answer_releases_the_held_requests_at_once() {
        let gate = Arc::new(
            RateGate::new(NonZeroU32::new(100).unwrap(), Duration::from_secs(60)).unwrap(),
        );
        gate.acquire(None, false).await.unwrap();
        let held: Vec<_> = (0..3)
            .map(|_| {
                let gate = Arc::clone(&gate);
                tokio::spawn(async move { gate.acquire(None, false).await })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            held.iter().all(|h| !h.is_finished()),
            "went before the probe's answer"
        );
        let before = Instant::now();
        gate.observe(Some(99));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(held.iter().all(tokio::task::JoinHandle::is_finished));
        assert_eq!(
            Instant::now(),
            before,
            "released by the clock, not by the answer"
        );
        for h in held {
            h.await.unwrap().unwrap();
        }
    }

    /// Takes `n` permits, each at once (the clock stands still).
    async fn take_at_once(gate: &RateGate, n: usize) {
        let before = Instant::now();
        for _ in 0..n {
            gate.acquire(None, false).await.unwrap();
        }
        assert_eq!(Instant::now(), before, "a permit waited");
    }

    /// Back to back on one key: the window an earlier process left partly spent is used to
    /// its end, and its reset is noticed within seconds, not after a whole window.
    #[tokio::test(start_paused = true)]
    async fn a_window_another_process_spent_is_used_up_and_its_reset_noticed_in_seconds() {
        let gate = RateGate::new(NonZeroU32::new(400).unwrap(), Duration::from_secs(60)).unwrap();
        gate.acquire(None, false).await.unwrap();
        // The first answer: 276 spent before this process, 1 by it.
        gate.observe(Some(123));
        take_at_once(&gate, 123).await;
        // The log now says the window is spent; the server's window ends 5 s from now.
        let started = Instant::now();
        gate.acquire(None, false).await.unwrap();
        gate.observe(Some(0));
        gate.acquire(None, false).await.unwrap();
        assert!(
            Instant::now() - started <= RECHECK * 3,
            "waited {:?}",
            Instant::now() - started
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        gate.acquire(None, false).await.unwrap();
        // That request's answer comes from the new window: the rest of it is used at once.
        gate.observe(Some(399));
        assert!(Instant::now() - started < Duration::from_secs(12));
        take_at_once(&gate, 300).await;
    }

    /// Answers that come back out of order show counts a little above the last one: no reset.
    #[tokio::test(start_paused = true)]
    async fn answers_out_of_order_are_not_taken_for_a_new_window() {
        let gate = RateGate::new(NonZeroU32::new(400).unwrap(), Duration::from_secs(60)).unwrap();
        gate.acquire(None, false).await.unwrap();
        gate.observe(Some(10));
        take_at_once(&gate, 10).await;
        gate.observe(Some(5));
        gate.observe(Some(12));
        let started = Instant::now();
        gate.acquire(None, false).await.unwrap();
        // Nothing was left: this one waited for a recheck, never went at once.
        assert!(
            Instant::now() > started,
            "the log was cleared by an out-of-order answer"
        );
    }

    /// Polls spread what the window has left over the time it has left: a full window of a
    /// fresh key polls briskly; others spending the key slow this client down without stopping
    /// it; a window nearly over may spend the rest quickly; a new window starts the spreading
    /// over.
    #[tokio::test(start_paused = true)]
    async fn polls_spread_what_the_window_has_left_over_the_time_it_has_left() {
        let gate = RateGate::new(NonZeroU32::new(400).unwrap(), Duration::from_secs(60)).unwrap();
        gate.acquire(None, false).await.unwrap();
        // This process's first request was the window's first.
        gate.observe(Some(399));
        let fresh = gate.list_pace().unwrap().per_s;
        // (399 - 50 reserve) over 60 s, halved between the two lists.
        assert!((fresh - 349.0 / 60.0 / 2.0).abs() < 0.01, "{fresh}");
        // 10 s on, this process sent 20 and another as many.
        tokio::time::advance(Duration::from_secs(10)).await;
        take_at_once(&gate, 20).await;
        gate.observe(Some(359));
        let later = gate.list_pace().unwrap().per_s;
        assert!((later - 309.0 / 50.0 / 2.0).abs() < 0.01, "{later}");
        // Others spend almost all the rest at once: what is left over the reserve is small;
        // the lists still poll, at the slowest pace.
        gate.observe(Some(55));
        assert_eq!(
            gate.list_pace().map(|p| p.per_s),
            Some(1.0 / SLOWEST_LIST_POLL_S)
        );
        // The count jumps back: a new window, a whole minute to spread it over.
        tokio::time::advance(Duration::from_secs(3)).await;
        gate.acquire(None, false).await.unwrap();
        gate.observe(Some(398));
        let reset = gate.list_pace().unwrap().per_s;
        assert!((reset - 348.0 / 60.0 / 2.0).abs() < 0.01, "{reset}");
        // 58 s into that window, little spent: the rest may go quickly.
        tokio::time::advance(Duration::from_secs(58)).await;
        gate.acquire(None, false).await.unwrap();
        gate.observe(Some(396));
        let late = gate.list_pace().unwrap().per_s;
        assert!(late > 10.0 * fresh, "{late} vs {fresh}");
        // A server reporting far more room than the configured limit: no pacing at all.
        gate.observe(Some(100_000));
        assert_eq!(gate.list_pace(), None);
    }

    /// Alone on the key, a list may burst up to 8 s of its pace; once the count shows others
    /// spending (not what the first answer shows spent before this client began), one second's
    /// worth, until they have been quiet for a while.
    #[tokio::test(start_paused = true)]
    async fn lists_burst_less_while_others_spend_the_key() {
        let gate = RateGate::new(NonZeroU32::new(400).unwrap(), Duration::from_secs(60)).unwrap();
        gate.acquire(None, false).await.unwrap();
        // 150 spent before this client's first request.
        gate.observe(Some(250));
        let alone = gate.list_pace().unwrap();
        assert!((alone.burst - alone.per_s * 8.0).abs() < 1e-9, "{alone:?}");
        take_at_once(&gate, 1).await;
        gate.observe(Some(240));
        let shared = gate.list_pace().unwrap();
        assert!((shared.burst - shared.per_s).abs() < 1e-9, "{shared:?}");
        tokio::time::advance(SHARED_FOR).await;
        let quiet = gate.list_pace().unwrap();
        assert!((quiet.burst - quiet.per_s * 8.0).abs() < 1e-9, "{quiet:?}");
    }

    /// Two processes on one key, one of which has fallen behind and spent little of late: both
    /// read the same count, and the one behind polls as fast as the one ahead. (A share taken
    /// from each process's own recent spending gave the one behind a smaller share, so it
    /// polled less, spent less, and was given less again: in the 4 × 25 benchmark one
    /// workspace polled every 5 s from its 8th second on and finished 1.5 × the floor.)
    #[tokio::test(start_paused = true)]
    async fn a_process_that_fell_behind_polls_as_fast_as_the_one_ahead() {
        let ahead = RateGate::new(NonZeroU32::new(400).unwrap(), Duration::from_secs(60)).unwrap();
        let behind = RateGate::new(NonZeroU32::new(400).unwrap(), Duration::from_secs(60)).unwrap();
        // Both start in the same window, at its first requests.
        ahead.acquire(None, false).await.unwrap();
        ahead.observe(Some(399));
        behind.acquire(None, false).await.unwrap();
        behind.observe(Some(398));
        // Over the next seconds the one ahead sends 60 requests, the one behind 2.
        tokio::time::advance(Duration::from_secs(2)).await;
        take_at_once(&ahead, 60).await;
        ahead.observe(Some(338));
        take_at_once(&behind, 2).await;
        behind.observe(Some(336));
        let (a, b) = (
            ahead.list_pace().unwrap().per_s,
            behind.list_pace().unwrap().per_s,
        );
        assert!(
            b >= a * 0.95,
            "the process behind polls at {b:.2}/s, the one ahead at {a:.2}/s"
        );
        assert!(b > 1.0 / SLOWEST_LIST_POLL_S, "{b}");
    }
}

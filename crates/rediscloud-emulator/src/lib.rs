//! Local emulator of the Redis Cloud API v1 (cloud accounts and tasks), following the OpenAPI contract. Shares no code with the client.
//!
//! - `/v1/...`: the emulated API (auth, rate limit, tasks run one at a time, time-driven account
//!   lifecycles), module `api`;
//! - `/admin/...`: unauthenticated control API for tests and demos, module `admin`.
//!
//! Use [`start`] to run it on a TCP port, or [`app`] for in-process `oneshot` calls.
//!
//! Choices where the real API is undocumented:
//! - unknown account ids answer 404 synchronously on GET, PUT and DELETE; a task ends in
//!   `CLOUD_ACCOUNT_NOT_FOUND` when its account vanished or is being deleted by the time it runs,
//!   and for the internal account (id 1), which can be neither updated nor deleted;
//! - duplicate names / access keys fail the task (`CLOUD_ACCOUNT_NAME_EXISTS`,
//!   `CLOUD_ACCOUNT_ACCESS_KEY_EXISTS`), or answer 409 at once when `sync_errors` is set;
//! - synchronous error bodies are JSON `{"error": {type, status, description}}`, the shape of
//!   task errors; 401 can be switched to an nginx-style HTML page (`html_401`);
//! - the list shows access key ids unmasked unless `mask_list_access_keys` is set (the contract's
//!   example shows `A***A`); secrets are validated, then discarded;
//! - unknown paths (under `/v1` or not) answer a gateway-style 404 without an `error.type`, so a
//!   client can tell a wrong base URL from a missing account;
//! - `awsUserArn` and `awsConsoleRoleArn` name the AWS account of `signInLoginUrl` (its 12-digit
//!   subdomain; for an alias, a stable made-up 12-digit number derived from the alias), since
//!   Redis Cloud reports the user of the account the credentials belong to; the role and user
//!   names themselves are made up;
//! - a cap on cloud accounts (`max_cloud_accounts`, `--max-cloud-accounts`; the internal account
//!   does not count, queued creates and accounts being deleted do) refuses a create at once with
//!   400 `BAD_REQUEST` and a description naming the limit: the contract documents no limit type
//!   or body, so this is the emulator's choice;
//! - a single API key pair is served, so there is one task queue;
//! - a deleted account is listed as `deleted` for `delete_ms`, then disappears (GET 404);
//! - reads of a new account lag in two steps: GET by id answers 404 until `account_404_ms` after
//!   its create task completed, and the list omits it for `list_lag_ms` more (`--list-lag-ms`),
//!   so a client may find by id an account the list does not show yet; likewise the list shows
//!   an updated or deleted account as it was before the write until `list_lag_ms` after its task
//!   completed (while the API holds it);
//! - tasks age out of sight after `task_retention_ms` (`--task-retention-ms`, default the
//!   documented ten days): `GET /v1/tasks` lists only tasks submitted within it, and
//!   `GET /v1/tasks/{id}` answers an older one with the 404 of an unknown task (`ENTITY_NOT_FOUND`).
//!   A task still runs to its end however short the window; finished tasks are dropped from
//!   memory only after the window or ten days, whichever is longer. The list may drop a task
//!   sooner than its own address does (`task_list_retention_ms`, `--task-list-retention-ms`):
//!   then GET by id still finds a task the list no longer shows;
//! - a completed task may leave out `response.resourceId`, which the contract makes optional
//!   (`omit_task_resource_id`): the tasks this client sends while it is on complete without
//!   naming the account they made or changed, fixed when each is accepted;
//! - another API client writing at the same moment is a fault kind (`POST /admin/faults` with
//!   `"interpose": {"name", "access_key_id", "provider"}`, `{"update": <id>, "name", ...}` or
//!   `{"delete": <id>}` and `"when": "before" | "after"`): its create, update (keeping the
//!   account's key unless it gives one) or delete goes through the API's own logic (quota,
//!   `sync_errors`, 404 for an unknown account) as a task of the one queue, immediately before or
//!   after the matching request is applied (for a request never applied, when it would have been;
//!   for `commit_after_ms`, when it is). It fires alongside any other fault on that request. Its
//!   secrets, console user and (unless given) sign-in URL are made up; it is neither
//!   authenticated nor rate limited, and the request log marks it `"interposed": true`.

mod admin;
mod api;
mod model;
mod net;
mod state;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use api::REDIS_ACCOUNT_ID;
pub use model::{INTERNAL_ACCOUNT_ID, INTERNAL_ACCOUNT_NAME, TASK_ERROR_TYPES, TASK_RETENTION_MS};
pub use state::{EmulatorState, Knobs};

/// How often the background ticker catches up with time (so events print promptly).
const TICK: Duration = Duration::from_millis(20);
/// How long shutdown waits for in-flight requests before closing connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Emulator settings. `Default` gives the `rediscloud-emulator` binary's defaults.
#[derive(Clone)]
pub struct EmulatorConfig {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Load the world from here at start and rewrite it atomically after every change.
    pub state_file: Option<PathBuf>,
    /// Expected `x-api-key` header value.
    pub api_key: String,
    /// Expected `x-api-secret-key` header value.
    pub secret_key: String,
    pub task_stage_ms: u64,
    pub activation_ms: u64,
    pub task_404_ms: u64,
    /// A new task reports `initialized` for this long before `received`.
    pub initialized_ms: u64,
    pub delete_ms: u64,
    pub rate_limit_per_minute: u32,
    /// The rate window's length (one minute by default).
    pub rate_window_ms: u64,
    /// Where a rate window starts: `clock` or `first_request` (see [`state::Knobs`]).
    pub rate_window_start: String,
    pub sync_errors: bool,
    /// A new account answers 404 (and is not listed) until this long after its create task
    /// completed.
    pub account_404_ms: u64,
    /// Mask access key ids in `GET /v1/cloud-accounts` (`A***E`).
    pub mask_list_access_keys: bool,
    /// Leave `signInLoginUrl` out of every account answer, as the official provider says the
    /// real API does (the contract lists the field).
    pub omit_sign_in_login_url: bool,
    /// Leave `X-Rate-Limit-Remaining` out of every answer: the header is inferred, not
    /// documented, so a client must also work from 429s and their retry-after alone.
    pub omit_rate_limit_remaining: bool,
    /// How far the API's clock runs ahead of this machine's, in ms (negative when behind):
    /// task timestamps and the `Date` header are on it.
    pub clock_skew_ms: i64,
    /// Cap on cloud accounts (internal account excluded); creates beyond it answer 400.
    pub max_cloud_accounts: Option<u32>,
    /// A new account joins `GET /v1/cloud-accounts` only this long after GET by id first finds
    /// it, and an updated or deleted one is listed as it was until this long after its task
    /// completed: the list lags behind reads by id, which lag behind the task (`account_404_ms`).
    pub list_lag_ms: u64,
    /// Tasks submitted longer ago than this are no longer listed nor found by id (they answer
    /// the 404 of an unknown task); they still run to their end.
    pub task_retention_ms: u64,
    /// `GET /v1/tasks` lists only the tasks submitted within this window, while GET by id still
    /// finds them until `task_retention_ms`; `None` means the same window.
    pub task_list_retention_ms: Option<u64>,
    /// Do not print lifecycle events to stdout.
    pub quiet: bool,
    /// Print the startup banner (URL and `export` lines) to stdout before serving.
    pub banner: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            state_file: None,
            api_key: "emulator-access-key".to_owned(),
            secret_key: "emulator-secret-key".to_owned(),
            task_stage_ms: 500,
            activation_ms: 1500,
            task_404_ms: 0,
            initialized_ms: 0,
            delete_ms: 300,
            rate_limit_per_minute: 400,
            rate_window_ms: 60_000,
            rate_window_start: "clock".to_owned(),
            sync_errors: false,
            account_404_ms: 0,
            mask_list_access_keys: false,
            omit_sign_in_login_url: false,
            omit_rate_limit_remaining: false,
            clock_skew_ms: 0,
            max_cloud_accounts: None,
            list_lag_ms: 0,
            task_retention_ms: TASK_RETENTION_MS,
            task_list_retention_ms: None,
            quiet: false,
            banner: false,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("state_file", &self.state_file)
            .field("api_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("task_stage_ms", &self.task_stage_ms)
            .field("activation_ms", &self.activation_ms)
            .field("task_404_ms", &self.task_404_ms)
            .field("initialized_ms", &self.initialized_ms)
            .field("delete_ms", &self.delete_ms)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_window_ms", &self.rate_window_ms)
            .field("rate_window_start", &self.rate_window_start)
            .field("sync_errors", &self.sync_errors)
            .field("account_404_ms", &self.account_404_ms)
            .field("mask_list_access_keys", &self.mask_list_access_keys)
            .field("omit_sign_in_login_url", &self.omit_sign_in_login_url)
            .field("omit_rate_limit_remaining", &self.omit_rate_limit_remaining)
            .field("clock_skew_ms", &self.clock_skew_ms)
            .field("max_cloud_accounts", &self.max_cloud_accounts)
            .field("list_lag_ms", &self.list_lag_ms)
            .field("task_retention_ms", &self.task_retention_ms)
            .field("task_list_retention_ms", &self.task_list_retention_ms)
            .field("quiet", &self.quiet)
            .field("banner", &self.banner)
            .finish()
    }
}

/// The whole HTTP application: `/v1` (rate limited, authenticated, fault-injected), `/admin`,
/// and a gateway-style 404 for every other path. Everything but `/admin` is logged.
pub fn app(state: EmulatorState) -> Router {
    let v1 = api::router().layer(from_fn_with_state(state.clone(), api::gate));
    Router::new()
        .nest("/v1", v1)
        .nest("/admin", admin::router())
        .fallback(api::gateway_not_found)
        .layer(from_fn_with_state(state.clone(), api::log_layer))
        .with_state(state)
}

/// A running emulator; stop it with [`RunningEmulator::shutdown`].
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    state: EmulatorState,
    cancel: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    ticker: JoinHandle<()>,
}

impl RunningEmulator {
    /// The address clients connect to (loopback when bound to an unspecified address).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/v1`, the value for `REDISCLOUD_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://<addr>/admin`.
    pub fn admin_url(&self) -> String {
        format!("http://{}/admin", self.addr)
    }

    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish (briefly), and writes the state file.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
        let _ = self.ticker.await;
        self.state.flush();
    }
}

/// Binds, prints the banner if asked, and serves until [`RunningEmulator::shutdown`].
pub async fn start(cfg: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let state = EmulatorState::new(&cfg)?;
    start_with_state(&cfg, state).await
}

pub(crate) async fn start_with_state(
    cfg: &EmulatorConfig,
    state: EmulatorState,
) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind((cfg.bind, cfg.port)).await?;
    let bound = listener.local_addr()?;
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, bound.port());
    if cfg.banner {
        // Printed before serving and before the ticker exists, so these are the first lines.
        let mut out = std::io::stdout().lock();
        writeln!(out, "rediscloud-emulator listening on http://{addr}")?;
        writeln!(out, "export REDISCLOUD_URL=http://{addr}/v1")?;
        writeln!(out, "export REDISCLOUD_ACCESS_KEY={}", cfg.api_key)?;
        writeln!(out, "export REDISCLOUD_SECRET_KEY={}", cfg.secret_key)?;
        writeln!(out, "admin API: http://{addr}/admin")?;
        out.flush()?;
    }
    let cancel = CancellationToken::new();
    let service = app(state.clone()).into_make_service_with_connect_info::<net::ConnCtl>();
    let stop = cancel.clone();
    let server = tokio::spawn(async move {
        axum::serve(net::KillableListener(listener), service)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    let stop = cancel.clone();
    let ticking = state.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(TICK) => ticking.tick(),
            }
        }
    });
    Ok(RunningEmulator {
        addr,
        state,
        cancel,
        server,
        ticker,
    })
}

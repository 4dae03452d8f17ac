//! `rediscloud-emulator`: a standalone local Redis Cloud API for tests, demos and CI.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rediscloud_emulator::{EmulatorConfig, TASK_RETENTION_MS, start};

/// Local emulator of the Redis Cloud API v1 (cloud accounts and tasks).
///
/// Serves /v1/cloud-accounts and /v1/tasks with the real API's authentication headers, task
/// queueing (one task at a time), time-driven account lifecycles and rate limits, plus an
/// unauthenticated /admin API to inspect state and inject faults (POST /admin/faults: every error
/// status of the contract and a gateway's 502/504, optionally after committing the write
/// (`"commit": true`) and with any `retry_after_s`, as the gateway or, with `"error_type"`, as the
/// API itself answers; latency, before the API or after the write
/// was applied; connection drops before or after commit; another API client's write interposed
/// just before or after the request is applied, alongside any other fault:
/// `{"interpose": {"name": N, "access_key_id": K, "provider": "AWS"|"GCP"}, "when": "before"|"after"}`
/// for its create, `{"interpose": {"delete": ID}, "when": ...}` for its delete, logged in
/// GET /admin/requests with `"interposed": true`). On start it prints the URL and the `export`
/// lines for REDISCLOUD_URL, REDISCLOUD_ACCESS_KEY and REDISCLOUD_SECRET_KEY.
#[derive(Parser)]
#[command(name = "rediscloud-emulator", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free port.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Persist accounts and tasks to this JSON file (loaded at start, rewritten atomically after
    /// every change). Without it, state lives in memory only.
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
    /// Value the x-api-key header must carry.
    #[arg(long, default_value = "emulator-access-key")]
    api_key: String,
    /// Value the x-api-secret-key header must carry.
    #[arg(long, default_value = "emulator-secret-key")]
    secret_key: String,
    /// Duration of each task stage (received, then processing-in-progress), in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    task_stage_ms: u64,
    /// Time from task completion until the account reaches its final status, in milliseconds.
    #[arg(long, default_value_t = 1500, value_name = "MS")]
    activation_ms: u64,
    /// Window during which a brand-new task id answers 404, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    task_404_ms: u64,
    /// Window during which a new task reports status "initialized" before "received", in ms.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    initialized_ms: u64,
    /// Time a deleted account is still listed (status "deleted") after its task completed, in ms.
    #[arg(long, default_value_t = 300, value_name = "MS")]
    delete_ms: u64,
    /// Requests allowed per API key per fixed window (see --rate-window-ms).
    #[arg(long, default_value_t = 400, value_name = "N")]
    rate_limit: u32,
    /// Length of the rate window.
    #[arg(long, default_value_t = 60_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    rate_window_ms: u64,
    /// Where a rate window starts: at multiples of its length (`clock`, e.g. each clock minute) or
    /// at a key's first request after the last window ended (`first_request`). The real API does
    /// not document which; a client must work with both.
    #[arg(long, default_value = "clock", value_parser = ["clock", "first_request"])]
    rate_window_start: String,
    /// Report duplicate names/access keys synchronously (409) instead of as failed tasks.
    #[arg(long)]
    sync_errors: bool,
    /// For this long after a create task completes, the new account answers 404 on GET by id and
    /// is not listed (eventual consistency), in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    account_404_ms: u64,
    /// A new account joins GET /v1/cloud-accounts only this long after GET by id first finds it
    /// (the list lags behind reads by id, which lag behind the task by --account-404-ms), and an
    /// updated or deleted one is listed as it was until this long after its task completed, in ms.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    list_lag_ms: u64,
    /// Tasks submitted longer ago than this are no longer listed by GET /v1/tasks and answer 404
    /// on GET /v1/tasks/{id}, as an unknown task does; they still run to their end. In ms;
    /// the default is ten days.
    #[arg(long, default_value_t = TASK_RETENTION_MS, value_name = "MS")]
    task_retention_ms: u64,
    /// GET /v1/tasks lists only the tasks submitted within this window, in ms, while GET
    /// /v1/tasks/{id} still finds them until --task-retention-ms (by default the same window).
    #[arg(long, value_name = "MS")]
    task_list_retention_ms: Option<u64>,
    /// Mask access key ids in GET /v1/cloud-accounts as first char + "***" + last char.
    #[arg(long)]
    mask_list_access_keys: bool,
    /// Leave signInLoginUrl out of account answers, as the official provider says the real API
    /// does (the OpenAPI contract lists the field).
    #[arg(long)]
    omit_sign_in_login_url: bool,
    /// Leave X-Rate-Limit-Remaining out of every answer (the real API's is inferred, not
    /// documented): clients must work from 429s and their retry-after alone.
    #[arg(long)]
    omit_rate_limit_remaining: bool,
    /// How far the API's clock runs ahead of this machine's, in ms (negative when behind): task
    /// timestamps and the Date header are on it.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "MS",
        allow_negative_numbers = true
    )]
    clock_skew_ms: i64,
    /// Cap on cloud accounts (internal account excluded, queued creates included); creates
    /// beyond it answer 400 BAD_REQUEST.
    #[arg(long, value_name = "N")]
    max_cloud_accounts: Option<u32>,
    /// Do not print lifecycle events (task and account transitions) to stdout.
    #[arg(long)]
    quiet: bool,
    /// Exit when standard input closes: a parent that pipes our stdin (a demo
    /// script, a CI job) cannot leave us running, however it dies.
    #[arg(long)]
    exit_with_stdin: bool,
}

async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: blocking stdin reads cannot be cancelled, and the
    // process exits right after this resolves anyway.
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while let Ok(n) = std::io::Read::read(&mut stdin, &mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    let _ = rx.await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .init();
    let cli_exit_with_stdin = cli.exit_with_stdin;
    let cfg = EmulatorConfig {
        bind: cli.bind,
        port: cli.port,
        state_file: cli.state_file,
        api_key: cli.api_key,
        secret_key: cli.secret_key,
        task_stage_ms: cli.task_stage_ms,
        activation_ms: cli.activation_ms,
        task_404_ms: cli.task_404_ms,
        initialized_ms: cli.initialized_ms,
        delete_ms: cli.delete_ms,
        rate_limit_per_minute: cli.rate_limit,
        rate_window_ms: cli.rate_window_ms,
        rate_window_start: cli.rate_window_start,
        sync_errors: cli.sync_errors,
        account_404_ms: cli.account_404_ms,
        mask_list_access_keys: cli.mask_list_access_keys,
        omit_sign_in_login_url: cli.omit_sign_in_login_url,
        omit_rate_limit_remaining: cli.omit_rate_limit_remaining,
        clock_skew_ms: cli.clock_skew_ms,
        max_cloud_accounts: cli.max_cloud_accounts,
        list_lag_ms: cli.list_lag_ms,
        task_retention_ms: cli.task_retention_ms,
        task_list_retention_ms: cli.task_list_retention_ms,
        quiet: cli.quiet,
        banner: true,
    };
    let running = match start(cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rediscloud-emulator: failed to start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli_exit_with_stdin {
        tokio::select! {
            _ = wait_for_signal() => {}
            _ = stdin_closed() => {}
        }
    } else {
        wait_for_signal().await;
    }
    running.shutdown().await;
    ExitCode::SUCCESS
}

//! `cargo xtask bench`: measures the provider against Terraform and the emulator (apply latency,
//! protocol overhead, start-up, memory, API economy) and writes docs/benchmarks.md and .svg.
//!
//! Benchmarks, not tests: nothing here runs under `cargo xtask test`, and a missed target is
//! reported (with its cause) rather than failed.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use crate::emulator::{EmulatorProcess, STARTUP_TIMEOUT};
use crate::files::copy_tree;
use crate::svg::{Bar, Panel};

mod handshake;
mod scale;

use handshake::{one_start, terraform_like_client_cert_pem};

/// Runs per workload for the single-account latency figure.
const LATENCY_RUNS: usize = 5;
/// Pairs (rediscloud run, terraform_data run) for the 100-resource figures.
const OVERHEAD_PAIRS: usize = 3;
/// Resources per run for the protocol-overhead and memory figures.
const MANY: usize = 100;

/// Emulator latencies for the single-account figure (milliseconds).
const STAGE_MS: u64 = 500;
const ACTIVATION_MS: u64 = 1500;
/// The emulator's default: how long a deleted account is still listed as `deleted`.
const DELETE_MS: u64 = 300;
/// Far above anything a run sends, so the emulator's 400/min default never throttles.
const RATE_LIMIT: u32 = 1_000_000;

/// The provider's default poll schedule (`PollPolicy::default()` in src/client/mod.rs).
const POLL_INITIAL_MS: f64 = 50.0;
const POLL_GROWTH: f64 = 1.2;
const POLL_CAP_MS: f64 = 5000.0;
/// Terraform's default `-parallelism`.
const PARALLELISM: usize = 10;

const TARGET_LATENCY_RATIO: f64 = 1.10;
const TARGET_OVERHEAD_RATIO: f64 = 1.5;
const TARGET_STARTUP_MS: f64 = 3.0;
const PEER_STARTUP_MS: f64 = 4.3;
const TARGET_RSS_MIB: f64 = 20.0;

const PROVIDER_EXE: &str = "terraform-provider-rediscloud";

/// An emulator for the benchmarks: quiet, and without a rate limit that matters unless asked.
struct Emulator(EmulatorProcess);

impl Emulator {
    fn start(bin: &Path, stage_ms: u64, activation_ms: u64, delete_ms: u64) -> Result<Self> {
        Self::start_limited(bin, stage_ms, activation_ms, delete_ms, RATE_LIMIT)
    }

    /// Like [`Emulator::start`], with the given requests-per-minute limit per API key.
    fn start_limited(
        bin: &Path,
        stage_ms: u64,
        activation_ms: u64,
        delete_ms: u64,
        rate_limit: u32,
    ) -> Result<Self> {
        let mut command = Command::new(bin);
        command
            .args(["--port", "0", "--quiet", "--exit-with-stdin"])
            .args(["--rate-limit", &rate_limit.to_string()])
            .args(["--task-stage-ms", &stage_ms.to_string()])
            .args(["--activation-ms", &activation_ms.to_string()])
            .args(["--delete-ms", &delete_ms.to_string()])
            .stdin(Stdio::piped());
        EmulatorProcess::spawn(&mut command, STARTUP_TIMEOUT, drop, drop)
            .map(Emulator)
            .map_err(anyhow::Error::msg)
    }

    /// The provider environment pointing at this emulator.
    fn env(&self) -> Vec<(String, String)> {
        self.0.banner().provider_env()
    }

    /// One admin API call; returns the parsed JSON body.
    fn admin(&self, method: &str, path: &str) -> Result<Value> {
        let addr = self.0.banner().addr.to_string();
        let body = http(&addr, method, &format!("/admin{path}"))?;
        serde_json::from_str(&body).with_context(|| format!("admin {path}: not JSON"))
    }

    fn clear_log(&self) -> Result<()> {
        self.admin("DELETE", "/requests").map(drop)
    }

    fn log(&self) -> Result<Vec<Logged>> {
        let v = self.admin("GET", "/requests")?;
        let entries = v["requests"].as_array().context("no requests array")?;
        Ok(entries.iter().filter_map(Logged::parse).collect())
    }
}

/// A minimal HTTP/1.1 exchange (xtask has no HTTP client; the admin API is plain local HTTP).
fn http(addr: &str, method: &str, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        bail!("{method} {path}: HTTP {status}: {body}");
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return dechunk(body);
    }
    Ok(body.to_owned())
}

fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("bad chunk")?;
        let size = usize::from_str_radix(size.trim(), 16).context("bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).context("short chunk")?);
        body = rest.get(size + 2..).context("short chunk")?;
    }
}

/// One entry of the emulator's request log.
#[derive(Debug, Clone)]
struct Logged {
    method: String,
    /// Without the `/v1` prefix.
    path: String,
    status: u16,
    time_ms: u64,
}

impl Logged {
    fn parse(v: &Value) -> Option<Self> {
        let path = v["path"].as_str()?;
        Some(Logged {
            method: v["method"].as_str()?.to_owned(),
            path: path.strip_prefix("/v1").unwrap_or(path).to_owned(),
            status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok())?,
            time_ms: v["timeMs"].as_u64()?,
        })
    }

    /// A task read: the shared list (`GET /tasks`) or one task by ID.
    fn is_task_get(&self) -> bool {
        self.method == "GET" && (self.path == "/tasks" || self.path.starts_with("/tasks/"))
    }

    /// An account read: the shared list (`GET /cloud-accounts`) or one account by ID.
    fn is_account_get(&self) -> bool {
        self.method == "GET"
            && (self.path == "/cloud-accounts" || self.path.starts_with("/cloud-accounts/"))
    }
}

/// What Terraform runs against: its binary, the CLI config, and environment.
struct Tf<'a> {
    bin: &'a Path,
    env: Vec<(String, String)>,
}

impl Tf<'_> {
    /// Runs one command; returns its wall time and exit code. Codes outside `ok` are errors.
    fn run(&self, dir: &Path, args: &[&str], ok: &[i32]) -> Result<(f64, i32)> {
        let started = Instant::now();
        let out = Command::new(self.bin)
            .args(args)
            .current_dir(dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .context("starting terraform")?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let code = out.status.code().unwrap_or(-1);
        if !ok.contains(&code) {
            bail!(
                "terraform {} in {} exited {code}:\n{}{}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok((ms, code))
    }

    fn apply(&self, dir: &Path) -> Result<f64> {
        Ok(self
            .run(
                dir,
                &["apply", "-auto-approve", "-input=false", "-no-color"],
                &[0],
            )?
            .0)
    }

    /// A plan that must find nothing to change (exit 0, not 2).
    fn noop_plan(&self, dir: &Path) -> Result<f64> {
        Ok(self
            .run(
                dir,
                &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
                &[0],
            )?
            .0)
    }

    fn destroy(&self, dir: &Path, refresh: bool) -> Result<f64> {
        let mut args = vec!["destroy", "-auto-approve", "-input=false", "-no-color"];
        if !refresh {
            args.push("-refresh=false");
        }
        Ok(self.run(dir, &args, &[0])?.0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Account,
    Data,
}

impl Kind {
    fn config(self, count: usize) -> String {
        match self {
            Kind::Account => format!(
                r#"terraform {{
  required_providers {{
    rediscloud = {{
      source = "redislabs/rediscloud"
    }}
  }}
}}

provider "rediscloud" {{}}

resource "rediscloud_cloud_account" "bench" {{
  count             = {count}
  name              = "bench-${{count.index}}"
  provider_type     = "AWS"
  access_key_id     = format("AKIABENCH%011d", count.index)
  access_secret_key = "bench-secret-access-key"
  console_username  = "bench-console"
  console_password  = "bench-console-password"
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
}}
"#
            ),
            Kind::Data => format!(
                r#"resource "terraform_data" "bench" {{
  count = {count}
  input = "bench-${{count.index}}"
}}
"#
            ),
        }
    }
}

/// Fresh working directories, each a copy of an initialised template (so `init` is never timed).
struct Workdirs {
    base: PathBuf,
    next: usize,
}

impl Workdirs {
    fn new(base: PathBuf, tf: &Tf<'_>) -> Result<Self> {
        let _ = fs::remove_dir_all(&base);
        for kind in [Kind::Account, Kind::Data] {
            let template = Self::template(&base, kind);
            fs::create_dir_all(&template)?;
            fs::write(template.join("main.tf"), kind.config(1))?;
            tf.run(&template, &["init", "-input=false", "-no-color"], &[0])?;
        }
        Ok(Workdirs { base, next: 0 })
    }

    fn template(base: &Path, kind: Kind) -> PathBuf {
        base.join(match kind {
            Kind::Account => "template-rediscloud",
            Kind::Data => "template-data",
        })
    }

    fn fresh(&mut self, kind: Kind, count: usize) -> Result<PathBuf> {
        self.next += 1;
        let dir = self.base.join(format!("run-{}", self.next));
        copy_tree(&Self::template(&self.base, kind), &dir)?;
        fs::write(dir.join("main.tf"), kind.config(count))?;
        Ok(dir)
    }
}

fn median(xs: &[f64]) -> f64 {
    percentile(xs, 0.5)
}

/// Linear-interpolated percentile of unsorted samples.
fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = (v.len() - 1) as f64 * p;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The first instant of a poll schedule at or after `event`, and how many polls that took.
fn first_poll_at_or_after(polls: impl Iterator<Item = f64>, event: f64) -> (f64, usize) {
    let mut n = 0;
    for t in polls {
        n += 1;
        if t >= event {
            return (t, n);
        }
    }
    (f64::INFINITY, n)
}

/// Poll instants (relative to the wait's start) of a growing-delay schedule; `first` may be 0
/// for "poll at once".
fn schedule(first: f64, next: impl Fn(u32) -> f64) -> impl Iterator<Item = f64> {
    (0u32..10_000).scan(0.0, move |t, k| {
        *t += if k == 0 { first } else { next(k) };
        Some(*t)
    })
}

/// This provider's schedule without jitter (`Poller::pause`): a look at once, then 50 ms,
/// growing ×1.2 per poll, capped at 5 s.
fn our_polls() -> impl Iterator<Item = f64> {
    schedule(0.0, |k| {
        (POLL_INITIAL_MS * POLL_GROWTH.powi(k as i32 - 1)).min(POLL_CAP_MS)
    })
}

/// The official provider's task wait (go-api, retry-go): a GET at once, then 1 s × 2^k plus
/// retry-go's random jitter of up to 100 ms (its mean, 50 ms, here), capped at 30 s.
fn official_task_polls() -> impl Iterator<Item = f64> {
    schedule(0.0, |k| {
        (1000.0 * 2f64.powi(k as i32 - 1) + 50.0).min(30_000.0)
    })
}

/// The official provider's activation wait: SDK StateChangeConf with a 10 s Delay and no
/// PollInterval: a refresh right after the delay, then waits of 200 ms doubling to a 10 s cap.
fn official_activation_polls() -> impl Iterator<Item = f64> {
    schedule(10_000.0, |k| (100.0 * 2f64.powi(k as i32)).min(10_000.0))
}

/// Modelled timeline of one create: when each wait would observe its event.
struct Modelled {
    task_seen_ms: f64,
    active_seen_ms: f64,
    requests: usize,
}

fn model_ours(task_done: f64, active: f64) -> Modelled {
    let (task_seen, task_polls) = first_poll_at_or_after(our_polls(), task_done);
    let (wait, account_polls) = first_poll_at_or_after(our_polls(), active - task_seen);
    Modelled {
        task_seen_ms: task_seen,
        active_seen_ms: task_seen + wait,
        requests: 1 + task_polls + account_polls,
    }
}

fn model_official(task_done: f64, active: f64) -> Modelled {
    let (task_seen, task_polls) = first_poll_at_or_after(official_task_polls(), task_done);
    let (wait, account_polls) =
        first_poll_at_or_after(official_activation_polls(), active - task_seen);
    Modelled {
        task_seen_ms: task_seen,
        active_seen_ms: task_seen + wait,
        // POST, the task and status polls, then the Read that follows every create.
        requests: 1 + task_polls + account_polls + 1,
    }
}

/// Requests counted in one operation's slice of the emulator log.
#[derive(Default, Clone)]
struct Counts {
    total: usize,
    task_gets: usize,
    account_gets: usize,
    writes: usize,
    /// Answers other than 2xx and the 404 that ends a delete: 429s, 5xx.
    failed: usize,
}

fn count(log: &[Logged]) -> Counts {
    Counts {
        total: log.len(),
        task_gets: log.iter().filter(|l| l.is_task_get()).count(),
        account_gets: log.iter().filter(|l| l.is_account_get()).count(),
        writes: log.iter().filter(|l| l.method != "GET").count(),
        failed: log
            .iter()
            .filter(|l| !(200..300).contains(&l.status) && l.status != 404)
            .count(),
    }
}

/// When the provider noticed the task's completion and the account's activation, relative to
/// the POST: the last task poll and the last account poll of a single create.
fn observed(log: &[Logged]) -> Option<(f64, f64)> {
    let post = log.iter().find(|l| l.method == "POST")?.time_ms;
    let task = log
        .iter()
        .filter(|l| l.is_task_get())
        .map(|l| l.time_ms)
        .max()?;
    let account = log
        .iter()
        .filter(|l| l.is_account_get())
        .map(|l| l.time_ms)
        .max()?;
    Some(((task - post) as f64, (account - post) as f64))
}

/// The emulator's own record of one create: (task created → completed, completed → active), ms.
fn emulated_timeline(state: &Value) -> Result<(u64, u64)> {
    let tasks = state["tasks"].as_array().context("no tasks in state")?;
    let task = tasks
        .iter()
        .rev()
        .find(|t| t["command"] == "cloudAccountCreateRequest")
        .context("no create task in state")?;
    let created = task["createdMs"].as_u64().context("createdMs")?;
    let done = task["doneMs"].as_u64().context("doneMs")?;
    let id = task["accountId"].as_i64().context("accountId")?;
    let account = state["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"].as_i64() == Some(id)))
        .context("created account not in state")?;
    if account["status"] != "active" {
        bail!("account {id} is {} after apply", account["status"]);
    }
    let active_at = account["updatedMs"].as_u64().context("updatedMs")?;
    Ok((done - created, active_at - done))
}

/// Samples VmHWM of every live provider process about every 10 ms until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(u64, usize, usize)>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut peak_kib = 0;
            let mut pids = BTreeSet::new();
            let mut samples = 0;
            while !flag.load(Ordering::Relaxed) {
                for (pid, hwm) in provider_hwm_kib() {
                    pids.insert(pid);
                    peak_kib = peak_kib.max(hwm);
                }
                samples += 1;
                thread::sleep(Duration::from_millis(10));
            }
            (peak_kib, pids.len(), samples)
        });
        RssSampler { stop, handle }
    }

    /// (peak VmHWM in KiB, provider processes seen, sampling rounds)
    fn finish(self) -> (u64, usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or((0, 0, 0))
    }
}

/// (pid, VmHWM KiB) of every process whose executable is the provider.
fn provider_hwm_kib() -> Vec<(u32, u64)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let exe = fs::read_link(e.path().join("exe")).ok()?;
            if !exe.file_name()?.to_str()?.starts_with(PROVIDER_EXE) {
                return None;
            }
            let status = fs::read_to_string(e.path().join("status")).ok()?;
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some((pid, hwm))
        })
        .collect()
}

/// Start-ups timed per run, as in benches/startup.rs.
const STARTUP_RUNS: usize = 200;
/// The start-up figure: (median ms, p90 ms, a one-line summary).
fn startup(provider: &Path) -> Result<(f64, f64, String)> {
    let pem = terraform_like_client_cert_pem().context("making a P-521 client certificate")?;
    let start_ms = || {
        one_start(provider, &pem)
            .map(|d| d.as_secs_f64() * 1000.0)
            .context("starting the provider")
    };
    start_ms()?; // warm the page cache
    let times = (0..STARTUP_RUNS)
        .map(|_| start_ms())
        .collect::<Result<Vec<_>>>()?;
    let (med, p90) = (median(&times), percentile(&times, 0.9));
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    let line = format!(
        "startup (spawn -> handshake line, AutoMTLS, {STARTUP_RUNS} runs): median {med:.2} ms, p90 {p90:.2} ms, min {min:.2} ms, max {max:.2} ms"
    );
    Ok((med, p90, line))
}

fn machine() -> (String, String) {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    (cpus.to_string(), model)
}

/// The one-minute load average, to show what else shared the machine during a run.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A moment as `YYYY-MM-DD HH:MM UTC`, the report's date.
fn utc(t: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| t.to_string())
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

fn secs(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

fn list(xs: &[f64]) -> String {
    xs.iter()
        .map(|x| format!("{:.2}", x / 1000.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything measured, for the report.
struct Results {
    cpus: String,
    model: String,
    date: String,
    terraform: String,
    // (1)
    acct_apply: Vec<f64>,
    data_apply: Vec<f64>,
    timeline: (u64, u64),
    observed: Vec<(f64, f64)>,
    // (5), from the runs of (1)
    creates: Vec<Counts>,
    reads: Vec<Counts>,
    deletes: Vec<Counts>,
    // (2)
    many: [[Vec<f64>; 3]; 2],
    many_requests: [usize; 3],
    // (3)
    startup: (f64, f64, String),
    // (4)
    rss: (u64, usize, usize),
    /// Provider processes Terraform started for a 100-account apply, plan and destroy.
    processes: [usize; 3],
    binary_bytes: u64,
    /// One-minute load averages sampled at the start of each section.
    loads: Vec<String>,
    // (6)
    scale: Vec<scale::Run>,
    /// `AWS_LC_SYS_NO_JITTER_ENTROPY` as the release build saw it.
    no_jitter: String,
}

/// Where a benchmark run works and what Terraform needs to install the release provider.
struct Prepared {
    work: PathBuf,
    provider_bin: PathBuf,
    /// Points Terraform at a filesystem mirror holding the packaged provider.
    env: Vec<(String, String)>,
}

/// Packages the release provider into a filesystem mirror, as users install it.
fn prepare(root: &Path, release_dir: &Path, version: &str) -> Result<Prepared> {
    let work = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("bench");
    let _ = fs::remove_dir_all(&work);
    let (os, arch) = crate::package::platform();
    let provider_bin = release_dir.join(PROVIDER_EXE);
    let art = crate::package::package(&provider_bin, version, os, arch, &work.join("dist"))?;
    let cli_config = work.join("cli.tfrc");
    fs::write(&cli_config, crate::package::mirror_cli_config(&art.mirror))?;
    let base_env: Vec<(String, String)> = [
        ("TF_CLI_CONFIG_FILE", cli_config.display().to_string()),
        ("TF_IN_AUTOMATION", "1".to_owned()),
        ("CHECKPOINT_DISABLE", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(Prepared {
        work,
        provider_bin,
        env: base_env,
    })
}

/// `cargo xtask bench scale`: only the scale section, printed, with no report written (for
/// working on the provider's request economy without the half-hour full run).
pub fn run_scale(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let Prepared { work, env, .. } = prepare(root, release_dir, version)?;
    let tf = Tf { bin: tf_bin, env };
    let mut dirs = Workdirs::new(work.join("runs"), &tf)?;
    let runs = scale::measure(&release_dir.join("rediscloud-emulator"), &tf, &mut dirs)?;
    print!("{}", scale::summary_rows(&runs, verdict));
    Ok(())
}

/// Runs every benchmark and writes the report. `release_dir` holds fresh release binaries.
pub fn run(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let started = Instant::now();
    let Prepared {
        work,
        provider_bin,
        env: base_env,
    } = prepare(root, release_dir, version)?;

    let (cpus, model) = machine();
    let mut loads = vec![load_average()];
    let terraform = crate::terraform_version(tf_bin)?;

    // (3) first, while nothing else runs on the machine.
    println!("==> start-up: spawn -> handshake line of the release provider, {STARTUP_RUNS} runs");
    let startup = startup(&provider_bin)?;
    println!("    {}", startup.2);

    let emulator_bin = release_dir.join("rediscloud-emulator");
    let emu_env = |emu: &Emulator| {
        let mut env = base_env.clone();
        env.extend(emu.env());
        env
    };

    // (1) and (5): one account at realistic latencies.
    loads.push(load_average());
    println!(
        "==> apply latency: 1 account (task stages {STAGE_MS} ms, activation {ACTIVATION_MS} ms) vs 1 terraform_data, {LATENCY_RUNS} runs each"
    );
    let slow = Emulator::start(&emulator_bin, STAGE_MS, ACTIVATION_MS, DELETE_MS)?;
    let tf = Tf {
        bin: tf_bin,
        env: emu_env(&slow),
    };
    let mut dirs = Workdirs::new(work.join("runs"), &tf)?;
    let (mut acct_apply, mut data_apply, mut observed_at) = (Vec::new(), Vec::new(), Vec::new());
    let (mut creates, mut reads, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    let mut timeline = (0, 0);
    // One unrecorded warm-up round fills the page cache for Terraform and the provider.
    for round in 0..=LATENCY_RUNS {
        let record = round > 0;
        let order = if round % 2 == 0 {
            [Kind::Data, Kind::Account]
        } else {
            [Kind::Account, Kind::Data]
        };
        for kind in order {
            let dir = dirs.fresh(kind, 1)?;
            if kind == Kind::Data {
                let ms = tf.apply(&dir)?;
                if record {
                    data_apply.push(ms);
                }
                continue;
            }
            slow.clear_log()?;
            let ms = tf.apply(&dir)?;
            let create_log = slow.log()?;
            let this_timeline = emulated_timeline(&slow.admin("GET", "/state")?)?;
            slow.clear_log()?;
            tf.noop_plan(&dir)?;
            let read_log = slow.log()?;
            slow.clear_log()?;
            tf.destroy(&dir, false)?;
            let delete_log = slow.log()?;
            if record {
                println!(
                    "    run {round}: apply {} ({} requests), emulator timeline {} + {} ms",
                    secs(ms),
                    create_log.len(),
                    this_timeline.0,
                    this_timeline.1
                );
                acct_apply.push(ms);
                timeline = this_timeline;
                if let Some(o) = observed(&create_log) {
                    observed_at.push(o);
                }
                creates.push(count(&create_log));
                reads.push(count(&read_log));
                deletes.push(count(&delete_log));
            }
        }
    }
    drop(slow);

    // (2): 100 resources at zero latency, pair by pair.
    loads.push(load_average());
    println!(
        "==> protocol overhead: {MANY} accounts (zero-latency emulator) vs {MANY} terraform_data, {OVERHEAD_PAIRS} pairs"
    );
    let fast = Emulator::start(&emulator_bin, 0, 0, 0)?;
    let tf = Tf {
        bin: tf_bin,
        env: emu_env(&fast),
    };
    let mut many: [[Vec<f64>; 3]; 2] = Default::default();
    let mut many_requests = [0; 3];
    for pair in 0..OVERHEAD_PAIRS {
        let order = if pair % 2 == 0 {
            [Kind::Account, Kind::Data]
        } else {
            [Kind::Data, Kind::Account]
        };
        for kind in order {
            let dir = dirs.fresh(kind, MANY)?;
            let slot = usize::from(kind == Kind::Data);
            fast.clear_log()?;
            let apply = tf.apply(&dir)?;
            let n_apply = fast.log()?.len();
            fast.clear_log()?;
            let plan = tf.noop_plan(&dir)?;
            let n_plan = fast.log()?.len();
            fast.clear_log()?;
            let destroy = tf.destroy(&dir, true)?;
            let n_destroy = fast.log()?.len();
            if kind == Kind::Account {
                many_requests = [n_apply, n_plan, n_destroy];
            }
            println!(
                "    pair {}: {:<24} apply {}  plan {}  destroy {}",
                pair + 1,
                if kind == Kind::Account {
                    "rediscloud_cloud_account"
                } else {
                    "terraform_data"
                },
                secs(apply),
                secs(plan),
                secs(destroy)
            );
            for (i, ms) in [apply, plan, destroy].into_iter().enumerate() {
                many[slot][i].push(ms);
            }
        }
    }

    // (4): peak RSS during one more 100-account apply, sampled outside the timed runs.
    println!("==> memory: peak VmHWM of provider processes during a {MANY}-account apply");
    let dir = dirs.fresh(Kind::Account, MANY)?;
    let sampler = RssSampler::start();
    let applied = tf.apply(&dir);
    let rss = sampler.finish();
    applied?;
    // The same sampler counts the provider processes Terraform starts for plan and destroy.
    let sampler = RssSampler::start();
    let planned = tf.noop_plan(&dir);
    let plan_procs = sampler.finish().1;
    planned?;
    let sampler = RssSampler::start();
    let destroyed = tf.destroy(&dir, true);
    let destroy_procs = sampler.finish().1;
    destroyed?;
    drop(fast);
    let binary_bytes = fs::metadata(&provider_bin)?.len();
    println!(
        "    peak {:.1} MiB over {} provider processes ({} samples); binary {:.1} MiB",
        rss.0 as f64 / 1024.0,
        rss.1,
        rss.2,
        binary_bytes as f64 / 1_048_576.0
    );

    // (6): N accounts under the real rate limit; long, so last.
    loads.push(load_average());
    println!(
        "==> scale: N = {:?} accounts at parallelism {:?}, stages {} ms, settle {} ms, {}/min",
        scale::SIZES,
        scale::PARALLELISMS,
        scale::STAGE_MS,
        scale::SETTLE_MS,
        scale::LIMIT
    );
    let plain = Tf {
        bin: tf_bin,
        env: base_env.clone(),
    };
    let scale = scale::measure(&emulator_bin, &plain, &mut dirs)?;

    let results = Results {
        cpus,
        model,
        date: utc(OffsetDateTime::now_utc()),
        terraform,
        acct_apply,
        data_apply,
        timeline,
        observed: observed_at,
        creates,
        reads,
        deletes,
        many,
        many_requests,
        startup,
        rss,
        processes: [rss.1, plan_procs, destroy_procs],
        binary_bytes,
        loads,
        scale,
        no_jitter: std::env::var("AWS_LC_SYS_NO_JITTER_ENTROPY").unwrap_or_default(),
    };
    let docs = root.join("docs");
    fs::write(docs.join("benchmarks.md"), report(&results))?;
    fs::write(docs.join("benchmarks.svg"), chart(&results))?;
    println!(
        "==> wrote docs/benchmarks.md and docs/benchmarks.svg in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn report(r: &Results) -> String {
    let physical = (2 * STAGE_MS + ACTIVATION_MS) as f64;
    let acct = median(&r.acct_apply);
    let data = median(&r.data_apply);
    let limit = physical + data;
    let ratio = acct / limit;
    let ours = model_ours((2 * STAGE_MS) as f64, physical);
    let official = model_official((2 * STAGE_MS) as f64, physical);
    let official_ms = official.active_seen_ms + data;
    let obs_task = median(&r.observed.iter().map(|o| o.0).collect::<Vec<_>>());
    let obs_active = median(&r.observed.iter().map(|o| o.1).collect::<Vec<_>>());

    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Generated by `cargo xtask bench` on {} — {} CPUs ({}), Terraform {}, release build of the provider \
         installed from a filesystem mirror exactly as users install it. Every Terraform command runs in a fresh \
         working directory with fresh state, at Terraform's default `-parallelism` of {PARALLELISM}; `init` is \
         never timed. These are benchmarks, not tests: they are not part of `cargo xtask test`.\n",
        r.date, r.cpus, r.model, r.terraform
    );
    let _ = writeln!(
        w,
        "One-minute load average at the start of each section (§3, §1, §2, §6): {}. A load above the {} CPUs \
         means other work shared the machine during the run and the timings carry its noise.\n",
        r.loads.join(", "),
        r.cpus
    );
    let _ = writeln!(
        w,
        "Build: `cargo build --release`{}.\n",
        if r.no_jitter.is_empty() {
            " with the default aws-lc entropy sources (`AWS_LC_SYS_NO_JITTER_ENTROPY` unset)"
                .to_owned()
        } else {
            format!(" with `AWS_LC_SYS_NO_JITTER_ENTROPY={}`", r.no_jitter)
        }
    );
    let _ = writeln!(w, "![Benchmark chart](benchmarks.svg)\n");

    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(w, "| Figure | Measured | Target | |");
    let _ = writeln!(w, "|---|---|---|---|");
    let _ = writeln!(
        w,
        "| Create 1 account vs the physical limit | {ratio:.3}× ({} vs {}) | ≤ {TARGET_LATENCY_RATIO}× | {} |",
        secs(acct),
        secs(limit),
        verdict(ratio <= TARGET_LATENCY_RATIO)
    );
    let names = ["apply", "no-op plan", "destroy"];
    for (i, name) in names.iter().enumerate() {
        let (a, d) = (median(&r.many[0][i]), median(&r.many[1][i]));
        let _ = writeln!(
            w,
            "| {MANY} accounts vs {MANY} `terraform_data`: {name} | {:.2}× ({} vs {}) | ≤ {TARGET_OVERHEAD_RATIO}× | {} |",
            a / d,
            secs(a),
            secs(d),
            verdict(a / d <= TARGET_OVERHEAD_RATIO)
        );
    }
    let _ = writeln!(
        w,
        "| Start-up to handshake (AutoMTLS), median | {:.2} ms (p90 {:.2} ms) | < {TARGET_STARTUP_MS} ms | {} |",
        r.startup.0,
        r.startup.1,
        verdict(r.startup.0 < TARGET_STARTUP_MS)
    );
    let rss_mib = r.rss.0 as f64 / 1024.0;
    let _ = writeln!(
        w,
        "| Peak RSS of a provider process, {MANY}-account apply | {rss_mib:.1} MiB | < {TARGET_RSS_MIB} MiB | {} |",
        verdict(rss_mib < TARGET_RSS_MIB)
    );
    let _ = writeln!(
        w,
        "| Stripped release binary | {:.1} MiB | — | |",
        r.binary_bytes as f64 / 1_048_576.0
    );
    let med = |c: &[Counts], f: fn(&Counts) -> usize| {
        median(&c.iter().map(|x| f(x) as f64).collect::<Vec<_>>())
    };
    let _ = writeln!(
        w,
        "| API requests per create / read / delete | {} / {} / {} | minimum 3 / 1 / 3 | see §5 |\n",
        med(&r.creates, |c| c.total),
        med(&r.reads, |c| c.total),
        med(&r.deletes, |c| c.total)
    );
    s.pop();
    s.push_str(&scale::summary_rows(&r.scale, verdict));
    s.push('\n');
    let w = &mut s;

    // (1)
    let _ = writeln!(w, "## 1. Apply latency against the physical limit\n");
    let _ = writeln!(
        w,
        "The emulator runs with `--task-stage-ms {STAGE_MS} --activation-ms {ACTIVATION_MS} --delete-ms {DELETE_MS}`. \
         In its code (`MutState::enqueue` and `World::finish_task`) a task accepted at `t` starts processing at \
         `max(t + stage, queue free)` = `t + {STAGE_MS}` on an empty queue, completes one more stage later at \
         `t + {}`, and the account turns `active` `activation` after that: **2 × {STAGE_MS} + {ACTIVATION_MS} = {physical:.0} ms** \
         after the POST. The emulator's own record of the measured runs agrees: task accepted → completed \
         {} ms, completed → active {} ms. No client can see the account active sooner.\n",
        2 * STAGE_MS,
        r.timeline.0,
        r.timeline.1
    );
    let _ = writeln!(
        w,
        "Terraform's own cost is measured by the same `terraform apply -auto-approve` of one `terraform_data` \
         resource; the physical limit is the emulator's {physical:.0} ms plus that. Median of {LATENCY_RUNS} runs each \
         (alternating, after one unrecorded warm-up round; destroy between runs not timed):\n"
    );
    let _ = writeln!(w, "| | Median | Runs (s) |");
    let _ = writeln!(w, "|---|---|---|");
    let _ = writeln!(
        w,
        "| `terraform_data` apply (Terraform's overhead) | {} | {} |",
        secs(data),
        list(&r.data_apply)
    );
    let _ = writeln!(
        w,
        "| Physical limit = {physical:.0} ms + overhead | {} | |",
        secs(limit)
    );
    let _ = writeln!(
        w,
        "| `rediscloud_cloud_account` apply, this provider | {} | {} |",
        secs(acct),
        list(&r.acct_apply)
    );
    let _ = writeln!(
        w,
        "| Official provider, **modelled** (not measured) | {} | |\n",
        secs(official_ms)
    );
    let _ = writeln!(
        w,
        "Ratio **{ratio:.3}×**, target ≤ {TARGET_LATENCY_RATIO}×: {}. From the request log, the provider noticed the \
         task's completion {obs_task:.0} ms after the POST (it happened at {}) and the activation at {obs_active:.0} ms \
         (it happened at {physical:.0}); the jitter-free schedule predicts {:.0} and {:.0} ms. The delay between event \
         and notice is bounded by the poll growth: with ×{POLL_GROWTH} per poll a wait notices at most {:.0}% of \
         its elapsed time late.\n",
        verdict(ratio <= TARGET_LATENCY_RATIO),
        2 * STAGE_MS,
        ours.task_seen_ms,
        ours.active_seen_ms,
        (POLL_GROWTH - 1.0) * 100.0
    );
    if (ratio - TARGET_LATENCY_RATIO).abs() < 0.05 {
        let _ = writeln!(
            w,
            "This ratio sits within 0.05 of its target, so the verdict can flip between runs: the ±15% poll \
             jitter moves the moment the activation is noticed by up to ~0.2 s either way. Provider start-up \
             (next paragraph, and §3) is the removable part of the gap.\n"
        );
    }
    {
        let late = obs_active - physical;
        let starts = r.processes[0] as f64 * r.startup.0;
        let _ = writeln!(
            w,
            "{} this apply takes {} longer than the limit. {} of that is the wait noticing \
             the activation late (the price of polling, bounded as above); about {} is provider start-up — Terraform \
             starts {} provider processes for an apply (counted in §4), each taking {:.1} ms to hand-shake (§3), which \
             `terraform_data` never pays; the remaining {} is the gRPC calls and HTTP requests themselves. Removing \
             the start-up cost alone would give {:.3}×.\n",
            if ratio > TARGET_LATENCY_RATIO {
                "Why it is missed:"
            } else {
                "Where the gap goes:"
            },
            secs(acct - limit),
            secs(late),
            secs(starts),
            r.processes[0],
            r.startup.0,
            secs((acct - limit - late - starts).max(0.0)),
            (acct - starts) / limit
        );
    }
    let _ = writeln!(
        w,
        "**Official provider (model, from its constants, not a measurement).** go-api polls the task with retry-go: a \
         GET at once, then delays of 1 s × 2ⁿ plus up to 100 ms of random jitter (50 ms mean used here), capped at \
         30 s; so it polls at 0 and ~1.05 s and sees the task completed (at {} ms) at **{:.0} ms**. The resource then \
         waits for `active` with an SDK `StateChangeConf`: a fixed 10 s `Delay`, a refresh, then waits of 200 ms \
         doubling to a 10 s cap. Its first refresh at {:.0} ms already finds the account active (since {physical:.0} ms), \
         so it returns then: **{:.0} ms** of waiting, {} API requests including the final Read. Adding the same \
         Terraform overhead gives {} — **{:.2}× the physical limit**, against {ratio:.2}× measured here.\n",
        2 * STAGE_MS,
        official.task_seen_ms,
        official.task_seen_ms + 10_000.0,
        official.active_seen_ms,
        official.requests,
        secs(official_ms),
        official_ms / limit
    );

    // (2)
    let _ = writeln!(w, "## 2. Protocol overhead: {MANY} resources\n");
    let _ = writeln!(
        w,
        "{MANY} `rediscloud_cloud_account` resources against a zero-latency emulator (`--task-stage-ms 0 \
         --activation-ms 0 --delete-ms 0`, and `--rate-limit {RATE_LIMIT}` so the real API's 400 requests/minute \
         cannot dominate: each run sends about {} requests) compared with {MANY} `terraform_data` resources. \
         {OVERHEAD_PAIRS} pairs, alternating which kind runs first; each run is apply, then `plan -detailed-exitcode` \
         (must exit 0: no changes), then destroy (with its refresh).\n",
        r.many_requests.iter().sum::<usize>()
    );
    let _ = writeln!(
        w,
        "| Operation | `rediscloud_cloud_account` median | `terraform_data` median | Ratio | Per pair | Target ≤ {TARGET_OVERHEAD_RATIO}× | Requests |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    let mut missed_ops = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (a, d) = (median(&r.many[0][i]), median(&r.many[1][i]));
        let per_pair = r.many[0][i]
            .iter()
            .zip(&r.many[1][i])
            .map(|(a, d)| format!("{:.2}", a / d))
            .collect::<Vec<_>>()
            .join(", ");
        if a / d > TARGET_OVERHEAD_RATIO {
            missed_ops.push((*name, a, d));
        }
        let _ = writeln!(
            w,
            "| {name} | {} ({}) | {} ({}) | {:.2}× | {per_pair} | {} | {} |",
            secs(a),
            list(&r.many[0][i]),
            secs(d),
            list(&r.many[1][i]),
            a / d,
            verdict(a / d <= TARGET_OVERHEAD_RATIO),
            r.many_requests[i]
        );
    }
    let _ = writeln!(
        w,
        "\nThe no-op plan is pure protocol: one account read per resource, served by shared list requests. Apply and \
         destroy also wait, but a wait's first look needs no sleep: it reads a list fetched after the wait began \
         (`Poller::pause` skips the first delay), so a task the emulator finished at once ends the wait on that \
         look, and concurrent waits share the list. The cost is one more request per wait for a resource alone \
         (§5); while the server reports room well beyond the configured limit (this emulator runs with \
         `--rate-limit {RATE_LIMIT}`), list fetches are not paced either."
    );
    let startup_ms = r.startup.0;
    for (name, a, d) in &missed_ops {
        let i = names.iter().position(|n| n == name).unwrap_or(0);
        let asleep = 0.0;
        let starts = r.processes[i] as f64 * startup_ms;
        let rest = a - d - asleep - starts;
        let _ = write!(
            w,
            "\n**{name}: {} against {} ({:.2}×), target missed.** Of the {} difference, ",
            secs(*a),
            secs(*d),
            a / d,
            secs(a - d)
        );
        if asleep > 0.0 {
            let _ = write!(w, "{} is the polling floor above; ", secs(asleep));
        }
        let _ = writeln!(
            w,
            "about {} is provider start-up (Terraform started {} provider processes for this command, at \
             {startup_ms:.1} ms each: see §3); the remaining {} is {} HTTP round trips to the emulator and the gRPC \
             calls Terraform makes per resource (ReadResource, PlanResourceChange, ApplyResourceChange), all on {} \
             CPUs shared by Terraform, the provider and the emulator. Without {} the ratio would be {:.2}×.",
            secs(starts),
            r.processes[i],
            secs(rest.max(0.0)),
            r.many_requests[i],
            r.cpus,
            if asleep > 0.0 {
                "the floor and the start-up cost"
            } else {
                "the start-up cost"
            },
            (a - asleep - starts) / d
        );
    }
    let _ = writeln!(w);

    // (3)
    let _ = writeln!(w, "## 3. Start-up\n");
    let _ = writeln!(
        w,
        "The measurement of benches/startup.rs, repeated inside xtask against the shipped release binary: spawn \
         the provider as Terraform does, with AutoMTLS (a self-signed P-521 client certificate in \
         `PLUGIN_CLIENT_CERT`), and time spawn → handshake line on stdout, {STARTUP_RUNS} times after one warm-up. \
         Terraform pays this for every provider process it starts (several per command).\n"
    );
    let _ = writeln!(w, "```\n{}\n```\n", r.startup.2);
    let _ = writeln!(
        w,
        "Median **{:.2} ms**, p90 {:.2} ms: target < {TARGET_STARTUP_MS} ms {} (the Rust peer tf-provider takes {PEER_STARTUP_MS} ms on this machine).\n",
        r.startup.0,
        r.startup.1,
        verdict(r.startup.0 < TARGET_STARTUP_MS)
    );

    if r.startup.0 >= TARGET_STARTUP_MS {
        if r.no_jitter.is_empty() {
            let _ = writeln!(
                w,
                "Why it is missed: profiling the release binary (`perf record`, `strace -r`) puts almost all of the \
                 time in one syscall-free stretch of unoptimised code — aws-lc's CPU Jitter entropy collector \
                 (jitterentropy, compiled at `-O0` on purpose). Since aws-lc-sys 0.32 it runs once per process the \
                 first time randomness is needed, here when the provider generates its AutoMTLS server key, and costs \
                 tens of milliseconds (aws/aws-lc-rs#1140, aws/aws-lc#3180). It is a second, defence-in-depth entropy \
                 source beside the kernel's `getrandom`. The cheap fix, not applied here because it changes the \
                 project's build: set `AWS_LC_SYS_NO_JITTER_ENTROPY=1` for release builds (an `[env]` entry in \
                 `.cargo/config.toml`), which leaves `getrandom` — the only source Go's `crypto/rand`, and so \
                 Terraform's own AutoMTLS, uses. `AWS_LC_SYS_NO_JITTER_ENTROPY=1 cargo xtask bench` measures the \
                 effect; this report states above which build it measured.\n"
            );
        } else {
            let _ = writeln!(
                w,
                "Why it is missed: this build already leaves out aws-lc's CPU Jitter entropy, so the remaining \
                 cost is elsewhere in start-up; profile the release binary to find it.\n"
            );
        }
    }

    // (4)
    let _ = writeln!(w, "## 4. Memory and size\n");
    let _ = writeln!(
        w,
        "During one more {MANY}-account apply (not one of the timed runs) a sampler read `VmHWM` from \
         `/proc/<pid>/status` of every process whose executable is the provider, about every 10 ms \
         ({} sampling rounds, {} provider processes seen: Terraform starts several per command). The highest \
         peak: **{rss_mib:.1} MiB** — target < {TARGET_RSS_MIB} MiB {}.\n",
        r.rss.2,
        r.rss.1,
        verdict(rss_mib < TARGET_RSS_MIB)
    );
    let _ = writeln!(
        w,
        "The stripped release binary (`strip = true`, thin LTO) is **{:.1} MiB** ({} bytes).\n",
        r.binary_bytes as f64 / 1_048_576.0,
        r.binary_bytes
    );

    // (5)
    let _ = writeln!(w, "## 5. API economy\n");
    let _ = writeln!(
        w,
        "Requests the emulator logged per operation in the runs of §1 (stages {STAGE_MS} ms, activation {ACTIVATION_MS} ms, \
         deleted accounts listed for {DELETE_MS} ms), against the least any client could send:\n"
    );
    let _ = writeln!(
        w,
        "| Operation | Median (runs) | Task GETs | Account GETs | Minimum | Jitter-free model |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    let runs = |c: &[Counts]| {
        c.iter()
            .map(|x| x.total.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let del_task = first_poll_at_or_after(our_polls(), (2 * STAGE_MS) as f64);
    let del_gone =
        first_poll_at_or_after(our_polls(), (2 * STAGE_MS + DELETE_MS) as f64 - del_task.0);
    let _ = writeln!(
        w,
        "| create (POST, wait task, wait active) | {} ({}) | {} | {} | 3 (POST + 1 task GET + 1 account GET) | {} |",
        med(&r.creates, |c| c.total),
        runs(&r.creates),
        med(&r.creates, |c| c.task_gets),
        med(&r.creates, |c| c.account_gets),
        ours.requests
    );
    let _ = writeln!(
        w,
        "| read (refresh in a no-op plan) | {} ({}) | {} | {} | 1 (GET) | 1 |",
        med(&r.reads, |c| c.total),
        runs(&r.reads),
        med(&r.reads, |c| c.task_gets),
        med(&r.reads, |c| c.account_gets)
    );
    let _ = writeln!(
        w,
        "| delete (DELETE, wait task, wait 404) | {} ({}) | {} | {} | 3 (DELETE + 1 task GET + 1 GET answering 404) | {} |",
        med(&r.deletes, |c| c.total),
        runs(&r.deletes),
        med(&r.deletes, |c| c.task_gets),
        med(&r.deletes, |c| c.account_gets),
        1 + del_task.1 + del_gone.1
    );
    let writes_ok = r.creates.iter().chain(&r.deletes).all(|c| c.writes == 1);
    let failed: usize = r
        .creates
        .iter()
        .chain(&r.reads)
        .chain(&r.deletes)
        .map(|c| c.failed)
        .sum();
    let _ = writeln!(
        w,
        "\nEvery create and delete sent exactly one write{}, and {failed} requests failed or were throttled. Reads are at the minimum. The gap on create and delete \
         is the price of not knowing how long Redis Cloud will take: each wait polls first after {POLL_INITIAL_MS:.0} ms \
         and grows the delay ×{POLL_GROWTH} per poll up to {:.0} s (±15% jitter). A wait of `D` therefore costs about \
         log base {POLL_GROWTH} of (1 + {:.2}·D/{POLL_INITIAL_MS:.0} ms) polls while it is below the cap, and notices the \
         event at most {:.0}% of its elapsed time late. The minimum \
         is only reachable by a client that knows the durations in advance. The official provider's schedule \
         (model above) sends fewer requests, {}, because it sleeps 10 s before the first status check — \
         {:.1} s of latency for each request saved.\n",
        if writes_ok {
            ""
        } else {
            " (NOT so in some runs: see the raw counts)"
        },
        POLL_CAP_MS / 1000.0,
        POLL_GROWTH - 1.0,
        (POLL_GROWTH - 1.0) * 100.0,
        official.requests,
        (official.active_seen_ms - ours.active_seen_ms)
            / 1000.0
            / (ours.requests.saturating_sub(official.requests).max(1)) as f64
    );
    s.push_str(&scale::section(&r.scale, 6));
    s
}

fn chart(r: &Results) -> String {
    let physical = (2 * STAGE_MS + ACTIVATION_MS) as f64;
    let data = median(&r.data_apply);
    let limit = physical + data;
    let official = model_official((2 * STAGE_MS) as f64, physical).active_seen_ms + data;
    let mut panels = vec![Panel {
        title: "Create 1 account: terraform apply wall time (s)".to_owned(),
        unit: "s",
        bars: vec![
            Bar::new("physical limit (2.5 s + Terraform)", limit / 1000.0, 0),
            Bar::new("this provider (median)", median(&r.acct_apply) / 1000.0, 1),
            Bar::new("official provider (model)", official / 1000.0, 2),
        ],
        target: Some((
            limit * TARGET_LATENCY_RATIO / 1000.0,
            format!("target {TARGET_LATENCY_RATIO}× limit"),
        )),
    }];
    for (i, name) in ["apply", "no-op plan", "destroy"].iter().enumerate() {
        let d = median(&r.many[1][i]) / 1000.0;
        panels.push(Panel {
            title: format!("{MANY} resources: {name} (s)"),
            unit: "s",
            bars: vec![
                Bar::new("terraform_data", d, 0),
                Bar::new(
                    "rediscloud_cloud_account",
                    median(&r.many[0][i]) / 1000.0,
                    1,
                ),
            ],
            target: Some((
                d * TARGET_OVERHEAD_RATIO,
                format!("target {TARGET_OVERHEAD_RATIO}×"),
            )),
        });
    }
    let med = |c: &[Counts]| median(&c.iter().map(|x| x.total as f64).collect::<Vec<_>>());
    panels.push(Panel {
        title: "API requests per operation (stages 500 ms, activation 1.5 s)".to_owned(),
        unit: "",
        bars: vec![
            Bar::new("create: minimum", 3.0, 0),
            Bar::new("create: this provider", med(&r.creates), 1),
            Bar::new("read: minimum", 1.0, 0),
            Bar::new("read: this provider", med(&r.reads), 1),
            Bar::new("delete: minimum", 3.0, 0),
            Bar::new("delete: this provider", med(&r.deletes), 1),
        ],
        target: None,
    });
    panels.push(Panel {
        title: "Start-up to handshake, AutoMTLS (ms)".to_owned(),
        unit: "ms",
        bars: vec![
            Bar::new("this provider, median", r.startup.0, 1),
            Bar::new("this provider, p90", r.startup.1, 1),
            Bar::new("tf-provider (Rust peer)", PEER_STARTUP_MS, 2),
        ],
        target: Some((TARGET_STARTUP_MS, format!("target {TARGET_STARTUP_MS} ms"))),
    });
    panels.push(Panel {
        title: format!("Peak RSS during a {MANY}-account apply (MiB)"),
        unit: "MiB",
        bars: vec![Bar::new(
            "largest provider process",
            r.rss.0 as f64 / 1024.0,
            1,
        )],
        target: Some((TARGET_RSS_MIB, format!("target {TARGET_RSS_MIB} MiB"))),
    });
    panels.extend(scale::panels(&r.scale));
    crate::svg::render(
        &format!(
            "terraform-provider-rediscloud benchmarks — {}, {} CPUs, Terraform {}",
            r.date, r.cpus, r.terraform
        ),
        &panels,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_schedule_matches_the_poll_policy() {
        let polls: Vec<f64> = our_polls().take(4).collect();
        let expected = [0.0, 50.0, 110.0, 182.0];
        assert!(
            polls
                .iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() < 1e-9),
            "{polls:?}"
        );
        // The task of §1 (done at 1 s) is seen on the 10th look, the activation on the 12th after it.
        let m = model_ours(1000.0, 2500.0);
        assert_eq!(m.requests, 1 + 10 + 12);
        assert!(m.task_seen_ms >= 1000.0 && m.task_seen_ms < 1250.0);
    }

    #[test]
    fn official_model_follows_its_constants() {
        let task: Vec<f64> = official_task_polls().take(3).collect();
        assert_eq!(task, vec![0.0, 1050.0, 3100.0]);
        let active: Vec<f64> = official_activation_polls().take(4).collect();
        assert_eq!(active, vec![10_000.0, 10_200.0, 10_600.0, 11_400.0]);
        let m = model_official(1000.0, 2500.0);
        assert_eq!(m.task_seen_ms, 1050.0);
        assert_eq!(m.active_seen_ms, 11_050.0);
        assert_eq!(m.requests, 1 + 2 + 1 + 1);
    }

    #[test]
    fn percentiles_interpolate() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9), 4.6);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n")
                .ok()
                .as_deref(),
            Some("{\"a\":1}")
        );
    }

    #[test]
    fn request_log_entries_lose_the_version_prefix() {
        let v = serde_json::json!({"method": "GET", "path": "/v1/tasks/x", "status": 200, "timeMs": 5, "durationMs": 0});
        let l = Logged::parse(&v).map(|l| (l.path.clone(), l.is_task_get()));
        assert_eq!(l, Some(("/tasks/x".to_owned(), true)));
    }

    #[test]
    fn report_dates_are_utc_minutes() {
        let at = |secs| utc(OffsetDateTime::from_unix_timestamp(secs).unwrap());
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        assert_eq!(at(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00 UTC");
        let paris = time::macros::datetime!(2026-05-01 12:30 +02:00);
        assert_eq!(utc(paris), "2026-05-01 10:30 UTC");
    }
}

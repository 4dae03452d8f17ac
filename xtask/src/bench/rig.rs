//! The rig every measurement drives: a quiet emulator and its request log (read over the
//! admin API), Terraform with a given environment, and fresh pre-initialised working
//! directories for every kind of resource compared (the accounts, `terraform_data` and the
//! control plugin's two).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::emulator::{EmulatorProcess, STARTUP_TIMEOUT};
use crate::files::copy_tree;

/// Resources per run for the protocol-overhead and memory figures.
pub(super) const MANY: usize = 100;

/// The provider's executable, as Terraform starts it.
pub(super) const PROVIDER_EXE: &str = "terraform-provider-rediscloud";

/// Far above anything a run sends, so the emulator's 400/min default never throttles.
pub(super) const RATE_LIMIT: u32 = 1_000_000;

/// An emulator for the benchmarks: quiet, and without a rate limit that matters unless asked.
pub(super) struct Emulator(EmulatorProcess);

impl Emulator {
    pub(super) fn start(
        bin: &Path,
        stage_ms: u64,
        activation_ms: u64,
        delete_ms: u64,
    ) -> Result<Self> {
        Self::start_limited(bin, stage_ms, activation_ms, delete_ms, RATE_LIMIT)
    }

    /// Like [`Emulator::start`], with the given requests-per-minute limit per API key, in
    /// one-minute windows that open at a key's first request (as the real API's may: when its
    /// windows start is not documented).
    pub(super) fn start_limited(
        bin: &Path,
        stage_ms: u64,
        activation_ms: u64,
        delete_ms: u64,
        rate_limit: u32,
    ) -> Result<Self> {
        Self::start_with(bin, stage_ms, activation_ms, delete_ms, rate_limit, &[])
    }

    /// Like [`Emulator::start_limited`], with more of the emulator's flags.
    pub(super) fn start_with(
        bin: &Path,
        stage_ms: u64,
        activation_ms: u64,
        delete_ms: u64,
        rate_limit: u32,
        extra: &[&str],
    ) -> Result<Self> {
        let mut command = Command::new(bin);
        command
            .args(["--port", "0", "--quiet", "--exit-with-stdin"])
            .args(["--rate-limit", &rate_limit.to_string()])
            .args(["--rate-window-start", "first_request"])
            .args(["--task-stage-ms", &stage_ms.to_string()])
            .args(["--activation-ms", &activation_ms.to_string()])
            .args(["--delete-ms", &delete_ms.to_string()])
            .args(extra)
            .stdin(Stdio::piped());
        EmulatorProcess::spawn(&mut command, STARTUP_TIMEOUT, drop, drop)
            .map(Emulator)
            .map_err(anyhow::Error::msg)
    }

    /// The provider environment pointing at this emulator.
    pub(super) fn env(&self) -> Vec<(String, String)> {
        self.0.banner().provider_env()
    }

    /// One admin API call; returns the parsed JSON body.
    pub(super) fn admin(&self, method: &str, path: &str) -> Result<Value> {
        self.admin_with(method, path, "")
    }

    fn admin_with(&self, method: &str, path: &str, body: &str) -> Result<Value> {
        let addr = self.0.banner().addr.to_string();
        let body = http(&addr, method, &format!("/admin{path}"), body)?;
        serde_json::from_str(&body).with_context(|| format!("admin {path}: not JSON"))
    }

    /// Spends `count` requests of the key's current rate window, as another client of the key
    /// would (0 only reads it); returns the window as it stands then.
    pub(super) fn spend(&self, count: u32) -> Result<RateWindow> {
        let v = self.admin_with("POST", "/rate/spend", &format!("{{\"count\": {count}}}"))?;
        let remaining = v["remaining"].as_u64().context("no remaining")?;
        let resets_in_ms = v["resets_in_ms"].as_u64().context("no resets_in_ms")?;
        Ok(RateWindow {
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            resets_in_ms,
        })
    }

    pub(super) fn clear_log(&self) -> Result<()> {
        self.admin("DELETE", "/requests").map(drop)
    }

    pub(super) fn log(&self) -> Result<Vec<Logged>> {
        let v = self.admin("GET", "/requests")?;
        let entries = v["requests"].as_array().context("no requests array")?;
        Ok(entries.iter().filter_map(Logged::parse).collect())
    }
}

/// A key's rate window as the emulator counts it.
#[derive(Clone, Copy, Debug)]
pub(super) struct RateWindow {
    pub(super) remaining: u32,
    pub(super) resets_in_ms: u64,
}

impl RateWindow {
    /// Requests the window has counted, of `limit`.
    pub(super) fn spent(&self, limit: u32) -> u32 {
        limit.saturating_sub(self.remaining)
    }

    /// How far into its `window_ms` the window is, in ms.
    pub(super) fn elapsed_ms(&self, window_ms: u64) -> f64 {
        window_ms.saturating_sub(self.resets_in_ms) as f64
    }
}

/// A minimal HTTP/1.1 exchange (xtask has no HTTP client; the admin API is plain local HTTP).
fn http(addr: &str, method: &str, path: &str, body: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let kind = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/json\r\n".to_owned()
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{kind}Content-Length: {}\r\n\r\n{body}",
        body.len()
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
pub(super) struct Logged {
    pub(super) method: String,
    /// Without the `/v1` prefix.
    pub(super) path: String,
    pub(super) status: u16,
    /// When the request arrived.
    pub(super) time_ms: u64,
    /// When it was answered.
    pub(super) answered_ms: u64,
    pub(super) user_agent: Option<String>,
    /// A 429's retry-after.
    pub(super) retry_after_ms: Option<u64>,
}

impl Logged {
    pub(super) fn parse(v: &Value) -> Option<Self> {
        let path = v["path"].as_str()?;
        let time_ms = v["timeMs"].as_u64()?;
        Some(Logged {
            method: v["method"].as_str()?.to_owned(),
            path: path.strip_prefix("/v1").unwrap_or(path).to_owned(),
            status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok())?,
            time_ms,
            answered_ms: time_ms + v["durationMs"].as_u64().unwrap_or(0),
            user_agent: v["userAgent"].as_str().map(str::to_owned),
            retry_after_ms: v["retryAfterMs"].as_u64(),
        })
    }

    /// A task read: the shared list (`GET /tasks`) or one task by ID.
    pub(super) fn is_task_get(&self) -> bool {
        self.method == "GET" && (self.path == "/tasks" || self.path.starts_with("/tasks/"))
    }

    /// An account read: the shared list (`GET /cloud-accounts`) or one account by ID.
    pub(super) fn is_account_get(&self) -> bool {
        self.method == "GET"
            && (self.path == "/cloud-accounts" || self.path.starts_with("/cloud-accounts/"))
    }
}

/// What Terraform runs against: its binary, the CLI config, and environment.
pub(super) struct Tf<'a> {
    pub(super) bin: &'a Path,
    pub(super) env: Vec<(String, String)>,
}

impl<'a> Tf<'a> {
    /// The same Terraform with the provider environment pointing at `emulator` instead.
    pub(super) fn pointed_at(&self, emulator: &Emulator) -> Tf<'a> {
        let fresh = emulator.env();
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(k, _)| !fresh.iter().any(|(f, _)| f == k))
            .cloned()
            .collect();
        env.extend(fresh);
        Tf { bin: self.bin, env }
    }

    /// The same Terraform with one more environment variable.
    pub(super) fn with_env(&self, key: &str, value: &str) -> Tf<'a> {
        let mut env: Vec<(String, String)> =
            self.env.iter().filter(|(k, _)| k != key).cloned().collect();
        env.push((key.to_owned(), value.to_owned()));
        Tf { bin: self.bin, env }
    }

    /// Runs one command; returns its wall time and exit code. Codes outside `ok` are errors.
    pub(super) fn run(&self, dir: &Path, args: &[&str], ok: &[i32]) -> Result<(f64, i32)> {
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

    pub(super) fn apply(&self, dir: &Path) -> Result<f64> {
        Ok(self
            .run(
                dir,
                &["apply", "-auto-approve", "-input=false", "-no-color"],
                &[0],
            )?
            .0)
    }

    /// A plan that must find nothing to change (exit 0, not 2).
    pub(super) fn noop_plan(&self, dir: &Path) -> Result<f64> {
        Ok(self
            .run(
                dir,
                &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
                &[0],
            )?
            .0)
    }

    pub(super) fn destroy(&self, dir: &Path, refresh: bool) -> Result<f64> {
        let mut args = vec!["destroy", "-auto-approve", "-input=false", "-no-color"];
        if !refresh {
            args.push("-refresh=false");
        }
        Ok(self.run(dir, &args, &[0])?.0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `rediscloud_cloud_account`, the resource measured.
    Account,
    /// `terraform_data`, built into Terraform: the least a resource can cost.
    Data,
    /// `control_data` of the control plugin (benches/control_provider.rs): the least a plugin
    /// resource can be.
    ControlData,
    /// `control_cloud_account` of the control plugin: this resource's schema and plan rules
    /// without Redis Cloud.
    ControlAccount,
    /// `rediscloud_cloud_account` of the provider as it was when issue 24 was filed
    /// ([`super::baseline`]): §1's comparison in the same rounds.
    Baseline,
}

/// The attributes both account kinds set, `count.index` making each instance distinct (and
/// `NAME` and `FIRST` each configuration's accounts and keys, where several share one API key).
const ACCOUNT_ATTRIBUTES: &str = r#"  name              = "NAME-${count.index}"
  provider_type     = "AWS"
  access_key_id     = format("AKIABENCH%011d", count.index + FIRST)
  access_secret_key = "bench-secret-access-key"
  console_username  = "bench-console"
  console_password  = "bench-console-password"
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
"#;

impl Kind {
    /// Every kind, in the order §2 reports them.
    pub(super) const ALL: [Kind; 4] = [
        Kind::Account,
        Kind::Data,
        Kind::ControlData,
        Kind::ControlAccount,
    ];

    /// The resource type's name.
    pub(super) fn type_name(self) -> &'static str {
        match self {
            Kind::Account => "rediscloud_cloud_account",
            Kind::Data => "terraform_data",
            Kind::ControlData => "control_data",
            Kind::ControlAccount => "control_cloud_account",
            Kind::Baseline => "rediscloud_cloud_account",
        }
    }

    /// What names this kind's template directory: its resource type, or `baseline`, whose
    /// resource type is the account's.
    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::Baseline => "baseline",
            _ => self.type_name(),
        }
    }

    /// This kind's index in [`Kind::ALL`]; only §2's kinds have one.
    pub(super) fn slot(self) -> usize {
        Kind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("only the kinds §2 compares have a slot")
    }

    /// The configuration of `count` resources of this kind.
    pub(super) fn config(self, count: usize) -> String {
        self.config_named(count, "bench", 0)
    }

    /// The configuration of `count` resources of this kind, accounts named `{name}-{index}`
    /// with access key IDs numbered from `first`.
    pub(super) fn config_named(self, count: usize, name: &str, first: usize) -> String {
        let required = |name: &str, source: &str| {
            format!(
                r#"terraform {{
  required_providers {{
    {name} = {{
      source = "{source}"
    }}
  }}
}}

"#
            )
        };
        let (header, attributes) = match self {
            Kind::Account => (
                required("rediscloud", "redislabs/rediscloud") + "provider \"rediscloud\" {}\n\n",
                ACCOUNT_ATTRIBUTES,
            ),
            Kind::Baseline => (
                required("rediscloud", super::baseline::SOURCE) + "provider \"rediscloud\" {}\n\n",
                ACCOUNT_ATTRIBUTES,
            ),
            Kind::ControlAccount => (required("control", CONTROL_SOURCE), ACCOUNT_ATTRIBUTES),
            Kind::Data => (String::new(), DATA_ATTRIBUTES),
            Kind::ControlData => (required("control", CONTROL_SOURCE), DATA_ATTRIBUTES),
        };
        format!(
            "{header}resource \"{}\" \"bench\" {{\n  count = {count}\n{}}}\n",
            self.type_name(),
            attributes
                .replace("NAME", name)
                .replace("FIRST", &first.to_string())
        )
    }
}

/// The attribute both data kinds set.
const DATA_ATTRIBUTES: &str = "  input = \"bench-${count.index}\"\n";

/// Where Terraform finds the control plugin: a filesystem mirror `prepare` fills.
pub(super) const CONTROL_SOURCE: &str = "bench/control";

/// Fresh working directories, each a copy of an initialised template (so `init` is never timed).
pub(super) struct Workdirs {
    base: PathBuf,
    next: usize,
}

impl Workdirs {
    /// Initialises a template for each of `kinds`, the only kinds [`Workdirs::fresh`] then serves.
    pub(super) fn new(base: PathBuf, tf: &Tf<'_>, kinds: &[Kind]) -> Result<Self> {
        let _ = fs::remove_dir_all(&base);
        for &kind in kinds {
            let template = Self::template(&base, kind);
            fs::create_dir_all(&template)?;
            fs::write(template.join("main.tf"), kind.config(1))?;
            tf.run(&template, &["init", "-input=false", "-no-color"], &[0])?;
        }
        Ok(Workdirs { base, next: 0 })
    }

    /// Where the runs' directories are made (and a measurement may leave its raw records).
    pub(super) fn base(&self) -> &Path {
        &self.base
    }

    pub(super) fn template(base: &Path, kind: Kind) -> PathBuf {
        base.join(format!("template-{}", kind.label()))
    }

    pub(super) fn fresh(&mut self, kind: Kind, count: usize) -> Result<PathBuf> {
        self.fresh_named(kind, count, "bench", 0)
    }

    /// Like [`Workdirs::fresh`], accounts named `{name}-{index}`, keys numbered from `first`.
    pub(super) fn fresh_named(
        &mut self,
        kind: Kind,
        count: usize,
        name: &str,
        first: usize,
    ) -> Result<PathBuf> {
        self.next += 1;
        let dir = self.base.join(format!("run-{}", self.next));
        copy_tree(&Self::template(&self.base, kind), &dir)?;
        fs::write(dir.join("main.tf"), kind.config_named(count, name, first))?;
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

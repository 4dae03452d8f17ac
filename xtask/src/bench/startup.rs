//! §3 start-up: the release provider spawned as Terraform does (AutoMTLS), timed from spawn to
//! its handshake line, many times after one warm-up.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use super::handshake::{one_start, terraform_like_client_cert_pem};
use super::stats::{median, percentile};

/// Start-ups timed per run, as in benches/startup.rs.
pub(super) const STARTUP_RUNS: usize = 200;

pub(super) const TARGET_STARTUP_MS: f64 = 3.0;
/// The Rust peer tf-provider's start-up on this machine, for comparison.
pub(super) const PEER_STARTUP_MS: f64 = 4.3;

/// The start-up figure: (median ms, p90 ms, a one-line summary).
pub(super) fn measure(provider: &Path) -> Result<(f64, f64, String)> {
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

/// The floor any program pays on this machine: spawn → first line on stdout of `echo`, timed as
/// the provider is, median of [`STARTUP_RUNS`] after one warm-up.
pub(super) fn spawn_floor_ms() -> Result<f64> {
    let once = || -> Result<f64> {
        let started = Instant::now();
        let mut child = Command::new("echo")
            .arg("ready")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("spawning echo")?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        child.wait()?;
        anyhow::ensure!(line == "ready\n", "echo printed {line:?}");
        Ok(ms)
    };
    once()?;
    let times = (0..STARTUP_RUNS)
        .map(|_| once())
        .collect::<Result<Vec<_>>>()?;
    Ok(median(&times))
}

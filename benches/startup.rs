//! Start-up benchmark: time from spawning the provider (as Terraform does, with AutoMTLS)
//! to reading its handshake line. Terraform starts several provider processes per
//! command, so this latency is paid repeatedly.

// The report on stdout is the point of a benchmark.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::Duration;

#[path = "../xtask/src/bench/handshake.rs"]
mod handshake;

use handshake::{one_start, terraform_like_client_cert_pem};

const RUNS: usize = 200;
const PROVIDER: &str = env!("CARGO_BIN_EXE_terraform-provider-rediscloud");

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; nothing to configure.
    let pem = terraform_like_client_cert_pem()?;
    one_start(Path::new(PROVIDER), &pem)?; // warm the page cache
    let mut times = (0..RUNS)
        .map(|_| one_start(Path::new(PROVIDER), &pem))
        .collect::<Result<Vec<_>, _>>()?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "startup (spawn -> handshake line, AutoMTLS, {RUNS} runs): median {:.2} ms, p90 {:.2} ms, min {:.2} ms, max {:.2} ms",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.9)),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
    Ok(())
}

//! Start-up benchmark: time from spawning the provider (as Terraform does, with AutoMTLS)
//! to reading its handshake line. Terraform starts several provider processes per
//! command, so this latency is paid repeatedly.

// The report on stdout is the point of a benchmark.
#![allow(clippy::print_stdout)]

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 200;
const COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// A client certificate like Terraform's: self-signed ECDSA P-521 for `localhost`.
fn terraform_like_client_cert_pem() -> Result<String, rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    Ok(params.self_signed(&key)?.pem())
}

fn one_start(pem: &str) -> std::io::Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-rediscloud"))
        .env("TF_PLUGIN_MAGIC_COOKIE", COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_CLIENT_CERT", pem)
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .env_remove("TF_LOG_PROVIDER_REDISCLOUD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| std::io::BufReader::new(out).read_line(&mut line));
    let elapsed = started.elapsed();
    child.kill()?;
    child.wait()?;
    match read {
        Some(Ok(_)) if line.starts_with("1|6|unix|") && line.trim_end().len() > 100 => Ok(elapsed),
        _ => Err(std::io::Error::other(format!(
            "bad handshake line: {line:?}"
        ))),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; nothing to configure.
    let pem = terraform_like_client_cert_pem()?;
    one_start(&pem)?; // warm the page cache
    let mut times = (0..RUNS)
        .map(|_| one_start(&pem))
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

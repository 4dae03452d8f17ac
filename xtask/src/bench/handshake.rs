//! One provider start as Terraform does it: AutoMTLS with a client certificate like Terraform's,
//! timed from spawn to the go-plugin handshake line. `cargo xtask bench` times the release
//! binary with it, and benches/startup.rs, which includes this file (`#[path]`), the one Cargo
//! built; so it needs nothing beyond std and rcgen.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// go-plugin's handshake cookie for Terraform providers.
const MAGIC_COOKIE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";

/// A client certificate like Terraform's AutoMTLS one: self-signed ECDSA P-521 for `localhost`,
/// usable for client and server authentication. PEM, as `PLUGIN_CLIENT_CERT` carries it.
pub fn terraform_like_client_cert_pem() -> Result<String, rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)?;
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    Ok(params.self_signed(&key)?.pem())
}

/// Spawns `provider` as Terraform does (AutoMTLS with `cert_pem`) and returns the time from
/// spawn to its handshake line on stdout; the process is killed then.
pub fn one_start(provider: &Path, cert_pem: &str) -> std::io::Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new(provider)
        .env("TF_PLUGIN_MAGIC_COOKIE", MAGIC_COOKIE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_MIN_PORT", "10000")
        .env("PLUGIN_MAX_PORT", "25000")
        .env("PLUGIN_CLIENT_CERT", cert_pem)
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
        .map(|out| BufReader::new(out).read_line(&mut line));
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    // Protocol 1, app protocol 6, a unix socket, then its address and the server certificate.
    match read {
        Some(Ok(_)) if line.starts_with("1|6|unix|") && line.trim_end().len() > 100 => Ok(elapsed),
        _ => Err(std::io::Error::other(format!(
            "bad handshake line: {line:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_certificate_is_one_pem_certificate() {
        let pem = super::terraform_like_client_cert_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 1);
    }
}

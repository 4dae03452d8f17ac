//! `cargo xtask demo`: Terraform creates a BYOA cloud account against the
//! emulator, showing the task and activation waits as they happen, then
//! prints the outputs and destroys everything.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::emulator::{EmulatorProcess, STARTUP_TIMEOUT};
use crate::files::copy_tree;

/// Realistic, but short enough for a demo that finishes within a minute.
const EMULATOR_ARGS: &[&str] = &[
    "--port",
    "0",
    "--task-stage-ms",
    "800",
    "--activation-ms",
    "3000",
    "--delete-ms",
    "800",
    "--exit-with-stdin",
];

/// Shows the provider's own progress lines (TF_LOG_PROVIDER=INFO) and
/// Terraform's errors, dropping the rest of its log noise.
fn relay_terraform_stderr(line: &str) {
    // Terraform names the logger after the executable: `…rediscloud` under
    // dev_overrides, `…rediscloud_v0.1.0` when installed from a release zip.
    const MARK: &str = "provider.terraform-provider-rediscloud";
    if let Some(msg) = line
        .find(MARK)
        .and_then(|i| line[i..].find(": ").map(|j| &line[i + j + 2..]))
    {
        // Terraform appends the line's fields as `key=value` after a colon.
        let cut = [": @", ": tf_", " tf_rpc=", " timestamp=", " @module="]
            .iter()
            .filter_map(|m| msg.find(m))
            .min()
            .unwrap_or(msg.len());
        println!("  provider │ {}", msg[..cut].trim_end_matches(':'));
    } else if !line.contains("[INFO]") && !line.contains("[DEBUG]") && !line.trim().is_empty() {
        eprintln!("{line}");
    }
}

fn terraform(tf: &Path, dir: &Path, env: &[(String, String)], args: &[&str]) -> Result<()> {
    println!("\n$ terraform {}", args.join(" "));
    let mut child = Command::new(tf)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting terraform")?;
    let stderr = child.stderr.take().context("terraform stderr")?;
    let relay = thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            relay_terraform_stderr(&line);
        }
    });
    let status = child.wait()?;
    let _ = relay.join();
    if !status.success() {
        bail!("terraform {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Writes `dir`'s `.terraform.lock.hcl` from the filesystem mirror (after fetching the
/// configuration's modules, which `providers lock` reads), quietly unless it fails.
fn lock_from_mirror(
    tf: &Path,
    dir: &Path,
    env: &[(String, String)],
    mirror: &Path,
    platform: &str,
) -> Result<()> {
    let lock = [
        "providers".to_owned(),
        "lock".to_owned(),
        "-no-color".to_owned(),
        format!("-fs-mirror={}", mirror.display()),
        format!("-platform={platform}"),
    ];
    for args in [
        vec!["get".to_owned(), "-no-color".to_owned()],
        lock.to_vec(),
    ] {
        let out = Command::new(tf)
            .args(&args)
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting terraform {}", args[0]))?;
        if !out.status.success() {
            bail!(
                "terraform {} failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// Runs the demo. `release_dir` holds the freshly built binaries.
pub fn run(root: &Path, tf: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let started = Instant::now();
    // Ctrl-C reaches Terraform and the emulator too (same process group):
    // Terraform stops gracefully, so stay alive to relay its output and then
    // clean up, instead of dying first and leaving its pipes broken.
    ctrlc::set_handler(|| eprintln!("\n==> interrupted: waiting for Terraform to stop"))
        .context("installing the Ctrl-C handler")?;
    let work = root.join("target").join("demo");
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&root.join("examples"), &work.join("examples"))?;
    // Install the provider the way users will: from a release zip in a
    // filesystem mirror, through a plain `terraform init`.
    let (os, arch) = crate::package::platform();
    let art = crate::package::package(
        &release_dir.join("terraform-provider-rediscloud"),
        version,
        os,
        arch,
        &work.join("dist"),
    )?;
    let cli_config = work.join("cli.tfrc");
    std::fs::write(&cli_config, crate::package::mirror_cli_config(&art.mirror))?;

    println!("==> starting the Redis Cloud API emulator");
    // Its own output goes on showing beside Terraform's while the demo runs.
    let emulator = EmulatorProcess::spawn(
        Command::new(release_dir.join("rediscloud-emulator"))
            .args(EMULATOR_ARGS)
            .stdin(Stdio::piped()),
        STARTUP_TIMEOUT,
        |line| println!("  emulator │ {line}"),
        drop,
    )
    .map_err(anyhow::Error::msg)?;
    let mut env = emulator.banner().provider_env();
    env.extend(
        [
            ("TF_CLI_CONFIG_FILE", cli_config.display().to_string()),
            ("TF_IN_AUTOMATION", "1".to_owned()),
            ("CHECKPOINT_DISABLE", "1".to_owned()),
            ("TF_LOG_PROVIDER", "INFO".to_owned()),
            (
                "TF_VAR_secret_access_key",
                "demo-aws-secret-access-key".to_owned(),
            ),
            (
                "TF_VAR_console_password",
                "demo-console-password".to_owned(),
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let dir: PathBuf = work.join("examples").join("byoa-aws");
    // The lock file first, from the mirror: a plain `terraform init` would warn that a local package's
    // lock entry is incomplete (it has no registry signature), which is expected and only noise here.
    lock_from_mirror(tf, &dir, &env, &art.mirror, &format!("{os}_{arch}"))?;
    terraform(tf, &dir, &env, &["init", "-input=false", "-no-color"])?;
    terraform(
        tf,
        &dir,
        &env,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )?;
    terraform(tf, &dir, &env, &["output", "-no-color"])?;
    terraform(
        tf,
        &dir,
        &env,
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
    )?;
    drop(emulator);
    println!(
        "\n==> demo finished in {:.1}s (build excluded); the emulator has stopped.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

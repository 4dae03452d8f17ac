//! The provider as it was when issue 24 ("Many runs, one key") was filed, built from this
//! repository's own history, so that §1 times it in the same rounds as today's provider: its
//! single-account figure is the one that issue asks not to get worse.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::rig::PROVIDER_EXE;

/// The commit issue 24 measured ("main at 67948f9"), where the single account took 1.046× the
/// physical limit.
pub(super) const REV: &str = "67948f9433e1c789b4cb75adf45e5e620c907930";

/// [`REV`] as the report shows it.
pub(super) const SHORT: &str = "67948f9";

/// What that issue's report measured for one account against the physical limit.
pub(super) const ISSUE_RATIO: f64 = 1.046;

/// Where Terraform finds it: the local name stays `rediscloud`, so the configuration and the
/// resource type are the same as the provider measured.
pub(super) const SOURCE: &str = "bench/baseline";

/// The release provider at [`REV`]: built on first use, then kept under
/// `<target>/bench-baseline/<rev>` (outside `target/bench`, which every bench run clears).
/// Fails where the history lacks the commit (a shallow clone); the caller goes on without it.
pub(super) fn build(root: &Path, target: &Path) -> Result<PathBuf> {
    let dir = target.join("bench-baseline").join(SHORT);
    let bin = dir.join("target").join("release").join(PROVIDER_EXE);
    if bin.is_file() {
        println!(
            "==> the provider at {SHORT}: already built ({})",
            bin.display()
        );
        return Ok(bin);
    }
    println!(
        "==> the provider at {SHORT}: building it once from git history (kept for later runs)"
    );
    let src = dir.join("src");
    let _ = fs::remove_dir_all(&src);
    fs::create_dir_all(&src)?;
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["archive", "--format=tar", REV])
        .stdout(Stdio::piped())
        .spawn()
        .context("running git archive")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&src)
        .stdin(archive.stdout.take().context("git archive's output")?)
        .status()
        .context("running tar")?;
    let archived = archive.wait().context("waiting for git archive")?;
    if !archived.success() || !tar.success() {
        bail!("this clone's history does not hold {SHORT} (git archive: {archived}, tar: {tar})");
    }
    let status = crate::tools::cargo(&src)
        .args(["build", "--release", "--locked", "--bin", PROVIDER_EXE])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the provider at {SHORT} failed ({status})");
    }
    Ok(bin)
}

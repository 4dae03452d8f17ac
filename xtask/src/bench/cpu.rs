//! §2's CPU split: how much CPU time each command of the many-resource runs costs Terraform's
//! own process and how much the plugin processes it starts, for every kind of resource, and how
//! large a state file each apply leaves (Terraform rewrites it after every resource).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use super::rig::{Emulator, Kind, MANY, Tf, Workdirs};

/// Untimed runs of each kind; the figures are medians over them.
pub(super) const CPU_RUNS: usize = 3;

/// Linux reports `/proc/<pid>/stat` times in USER_HZ ticks, 100 per second on every
/// architecture Terraform ships for.
const TICK_MS: f64 = 10.0;

/// Executables whose CPU counts as the plugin's: the provider as the mirror installs it
/// (`terraform-provider-rediscloud_v…`) and the control plugin.
const PLUGIN_EXE_PREFIX: &str = "terraform-provider-";

/// What the split measured.
pub(super) struct CpuSplit {
    /// `[kind][operation]`, one `(whole command, plugin processes)` CPU time in ms per run;
    /// kinds in [`Kind::ALL`]'s order; operations apply, no-op plan, destroy.
    pub(super) runs: [[Vec<(f64, f64)>; 3]; 4],
    /// Bytes of `terraform.tfstate` after the apply, per kind (last run).
    pub(super) state_bytes: [u64; 4],
    /// Attributes and sensitive paths of one resource instance in that state, per kind.
    pub(super) instance_shape: [(usize, usize); 4],
}

impl CpuSplit {
    /// Median CPU ms of Terraform's own process (the command minus its plugin processes).
    pub(super) fn terraform_ms(&self, kind: Kind, op: usize) -> f64 {
        super::stats::median(
            &self.runs[kind.slot()][op]
                .iter()
                .map(|(all, plugin)| all - plugin)
                .collect::<Vec<_>>(),
        )
    }

    /// Median CPU ms of the plugin processes (the provider's, or the control plugin's).
    pub(super) fn provider_ms(&self, kind: Kind, op: usize) -> f64 {
        super::stats::median(
            &self.runs[kind.slot()][op]
                .iter()
                .map(|r| r.1)
                .collect::<Vec<_>>(),
        )
    }
}

/// Runs apply, no-op plan and destroy of [`MANY`] resources of each kind [`CPU_RUNS`] times,
/// each on a fresh zero-latency emulator, outside the timed runs (the sampler costs CPU too).
pub(super) fn measure(tf: &Tf<'_>, emulator_bin: &Path, dirs: &mut Workdirs) -> Result<CpuSplit> {
    let mut runs: [[Vec<(f64, f64)>; 3]; 4] = Default::default();
    let mut state_bytes = [0; 4];
    let mut instance_shape = [(0, 0); 4];
    for _ in 0..CPU_RUNS {
        for kind in Kind::ALL {
            let slot = kind.slot();
            let dir = dirs.fresh(kind, MANY)?;
            let fast = Emulator::start(emulator_bin, 0, 0, 0)?;
            let tf = tf.pointed_at(&fast);
            for (op, times) in runs[slot].iter_mut().enumerate() {
                let sampler = ProviderCpu::start();
                let before = children_cpu_ms()?;
                let ran = match op {
                    0 => tf.apply(&dir),
                    1 => tf.noop_plan(&dir),
                    _ => tf.destroy(&dir, true),
                };
                let all = children_cpu_ms()? - before;
                let provider = sampler.finish();
                ran?;
                times.push((all, provider));
                if op == 0 {
                    let state = fs::read_to_string(dir.join("terraform.tfstate"))?;
                    state_bytes[slot] = state.len() as u64;
                    instance_shape[slot] = first_instance_shape(&state)
                        .context("the state after apply has no resource instance")?;
                }
            }
        }
    }
    let split = CpuSplit {
        runs,
        state_bytes,
        instance_shape,
    };
    for kind in Kind::ALL {
        println!(
            "    {:<24} Terraform CPU apply {:.0} / plan {:.0} / destroy {:.0} ms; plugin {:.0} / {:.0} / {:.0} ms; state {} bytes",
            kind.type_name(),
            split.terraform_ms(kind, 0),
            split.terraform_ms(kind, 1),
            split.terraform_ms(kind, 2),
            split.provider_ms(kind, 0),
            split.provider_ms(kind, 1),
            split.provider_ms(kind, 2),
            split.state_bytes[kind.slot()]
        );
    }
    Ok(split)
}

/// (attributes, sensitive paths) of the first resource instance of a state file.
fn first_instance_shape(state: &str) -> Option<(usize, usize)> {
    let state: serde_json::Value = serde_json::from_str(state).ok()?;
    let instance = &state["resources"][0]["instances"][0];
    Some((
        instance["attributes"].as_object()?.len(),
        instance["sensitive_attributes"].as_array()?.len(),
    ))
}

/// User plus system CPU ms of this process's children that have been waited for: after a
/// command returns, Terraform's and (as Terraform waits for them) its provider processes'.
fn children_cpu_ms() -> Result<f64> {
    let stat = fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    cumulative_children_ms(&stat).context("unexpected /proc/self/stat")
}

/// `cutime + cstime` of a `/proc/<pid>/stat` line, in ms. The fields are counted after the
/// command name, which is in parentheses and may itself hold spaces or parentheses.
fn cumulative_children_ms(stat: &str) -> Option<f64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Field 3 (state) is fields[0]; cutime and cstime are fields 16 and 17.
    let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some((ticks(16)? + ticks(17)?) as f64 * TICK_MS)
}

/// Samples, about every 2 ms, the CPU time of every live plugin process: the sum of its
/// threads' `schedstat` run times (nanosecond precision). A process's figure is the last sample
/// before it exits, so what it spends in its last 2 ms is missed.
struct ProviderCpu {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<f64>,
}

impl ProviderCpu {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut seen: BTreeMap<u32, bool> = BTreeMap::new();
            let mut run_ns: BTreeMap<u32, u64> = BTreeMap::new();
            while !flag.load(Ordering::Relaxed) {
                for pid in pids() {
                    let is_provider = *seen.entry(pid).or_insert_with(|| is_provider(pid));
                    if let Some(ns) = is_provider.then(|| process_run_ns(pid)).flatten() {
                        let last = run_ns.entry(pid).or_default();
                        *last = (*last).max(ns);
                    }
                }
                thread::sleep(Duration::from_millis(2));
            }
            run_ns.values().sum::<u64>() as f64 / 1e6
        });
        ProviderCpu { stop, handle }
    }

    /// Total CPU ms of the provider processes seen.
    fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0.0)
    }
}

fn pids() -> Vec<u32> {
    fs::read_dir("/proc").map_or_else(
        |_| Vec::new(),
        |dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        },
    )
}

fn is_provider(pid: u32) -> bool {
    fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
        exe.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PLUGIN_EXE_PREFIX))
    })
}

/// The summed run time of a process's live threads, in ns.
fn process_run_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.filter_map(Result::ok) {
        let schedstat = fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += schedstat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_times_are_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194304 100 0 0 0 7 3 250 41 20 0 1 0 99 0 0";
        assert_eq!(cumulative_children_ms(stat), Some(2910.0));
    }

    #[test]
    fn the_first_instance_is_counted() {
        let state = r#"{"resources": [{"instances": [{"attributes": {"id": "1", "name": null},
            "sensitive_attributes": [[{"type": "get_attr", "value": "name"}]]}]}]}"#;
        assert_eq!(first_instance_shape(state), Some((2, 1)));
        assert_eq!(first_instance_shape(r#"{"resources": []}"#), None);
    }

    #[test]
    fn a_short_stat_line_is_refused() {
        assert_eq!(cumulative_children_ms("1 (x) S 1 2 3"), None);
    }

    #[test]
    fn this_process_has_a_readable_children_time() {
        assert!(children_cpu_ms().is_ok_and(|ms| ms >= 0.0));
    }
}

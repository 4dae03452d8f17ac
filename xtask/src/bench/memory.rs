//! §4 memory and size: the peak resident memory (VmHWM) of every provider process during one
//! more many-account apply, how many provider processes Terraform starts per command, and the
//! release binary's size.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Result;

use super::rig::{Kind, MANY, PROVIDER_EXE, Tf, Workdirs};

pub(super) const TARGET_RSS_MIB: f64 = 20.0;

/// What §4 measured.
pub(super) struct Memory {
    /// (peak VmHWM in KiB, provider processes seen, sampling rounds) during the apply.
    pub(super) rss: (u64, usize, usize),
    /// Provider processes Terraform started for the apply, the no-op plan and the destroy.
    pub(super) processes: [usize; 3],
    pub(super) binary_bytes: u64,
}

/// Applies, plans and destroys [`MANY`] accounts outside the timed runs, sampling throughout.
pub(super) fn measure(tf: &Tf<'_>, dirs: &mut Workdirs, provider_bin: &Path) -> Result<Memory> {
    let dir = dirs.fresh(Kind::Account, MANY)?;
    let sampler = RssSampler::start();
    let applied = tf.apply(&dir);
    let rss = sampler.finish();
    applied?;
    // The same sampler counts the provider processes Terraform starts for plan and destroy.
    let sampler = RssSampler::start();
    let planned = tf.noop_plan(&dir);
    let plan_procs = sampler.finish().1;
    planned?;
    let sampler = RssSampler::start();
    let destroyed = tf.destroy(&dir, true);
    let destroy_procs = sampler.finish().1;
    destroyed?;
    let binary_bytes = fs::metadata(provider_bin)?.len();
    println!(
        "    peak {:.1} MiB over {} provider processes ({} samples); binary {:.1} MiB",
        rss.0 as f64 / 1024.0,
        rss.1,
        rss.2,
        binary_bytes as f64 / 1_048_576.0
    );
    Ok(Memory {
        rss,
        processes: [rss.1, plan_procs, destroy_procs],
        binary_bytes,
    })
}

/// Samples VmHWM of every live provider process about every 10 ms until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<(u64, usize, usize)>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let mut peak_kib = 0;
            let mut pids = BTreeSet::new();
            let mut samples = 0;
            while !flag.load(Ordering::Relaxed) {
                for (pid, hwm) in provider_hwm_kib() {
                    pids.insert(pid);
                    peak_kib = peak_kib.max(hwm);
                }
                samples += 1;
                thread::sleep(Duration::from_millis(10));
            }
            (peak_kib, pids.len(), samples)
        });
        RssSampler { stop, handle }
    }

    /// (peak VmHWM in KiB, provider processes seen, sampling rounds)
    fn finish(self) -> (u64, usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or((0, 0, 0))
    }
}

/// (pid, VmHWM KiB) of every process whose executable is the provider.
fn provider_hwm_kib() -> Vec<(u32, u64)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let exe = fs::read_link(e.path().join("exe")).ok()?;
            if !exe.file_name()?.to_str()?.starts_with(PROVIDER_EXE) {
                return None;
            }
            let status = fs::read_to_string(e.path().join("status")).ok()?;
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some((pid, hwm))
        })
        .collect()
}

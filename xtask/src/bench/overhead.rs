//! §2 protocol overhead: many accounts against a zero-latency emulator, compared with as many
//! `terraform_data` resources, apply, no-op plan and destroy, pair by pair.

use std::path::Path;

use anyhow::Result;

use super::MANY;
use super::report::secs;
use super::rig::{Emulator, Kind, Tf, Workdirs};

/// Pairs (rediscloud run, terraform_data run) for the 100-resource figures.
pub(super) const OVERHEAD_PAIRS: usize = 3;

pub(super) const TARGET_OVERHEAD_RATIO: f64 = 1.5;

/// Wall times and request counts of the pairs.
pub(super) struct Overhead {
    /// `[kind][operation]`: kind 0 the accounts, 1 `terraform_data`; operations apply, no-op
    /// plan, destroy; one time per pair.
    pub(super) many: [[Vec<f64>; 3]; 2],
    /// Requests of the last account run's apply, plan and destroy.
    pub(super) many_requests: [usize; 3],
}

/// Runs [`OVERHEAD_PAIRS`] pairs, alternating which kind goes first. Each run gets a fresh
/// zero-latency emulator: `GET /v1/tasks` answers with every task of its window, so an emulator
/// kept across runs would answer each run's polls with a longer list than the last, and the
/// pairs would drift.
pub(super) fn measure(tf: &Tf<'_>, emulator_bin: &Path, dirs: &mut Workdirs) -> Result<Overhead> {
    let mut many: [[Vec<f64>; 3]; 2] = Default::default();
    let mut many_requests = [0; 3];
    for pair in 0..OVERHEAD_PAIRS {
        let order = if pair % 2 == 0 {
            [Kind::Account, Kind::Data]
        } else {
            [Kind::Data, Kind::Account]
        };
        for kind in order {
            let dir = dirs.fresh(kind, MANY)?;
            let slot = usize::from(kind == Kind::Data);
            let fast = Emulator::start(emulator_bin, 0, 0, 0)?;
            let tf = tf.pointed_at(&fast);
            fast.clear_log()?;
            let apply = tf.apply(&dir)?;
            let n_apply = fast.log()?.len();
            fast.clear_log()?;
            let plan = tf.noop_plan(&dir)?;
            let n_plan = fast.log()?.len();
            fast.clear_log()?;
            let destroy = tf.destroy(&dir, true)?;
            let n_destroy = fast.log()?.len();
            if kind == Kind::Account {
                many_requests = [n_apply, n_plan, n_destroy];
            }
            println!(
                "    pair {}: {:<24} apply {}  plan {}  destroy {}",
                pair + 1,
                if kind == Kind::Account {
                    "rediscloud_cloud_account"
                } else {
                    "terraform_data"
                },
                secs(apply),
                secs(plan),
                secs(destroy)
            );
            for (i, ms) in [apply, plan, destroy].into_iter().enumerate() {
                many[slot][i].push(ms);
            }
        }
    }
    Ok(Overhead {
        many,
        many_requests,
    })
}

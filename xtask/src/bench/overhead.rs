//! §2 protocol overhead: many accounts against a zero-latency emulator, compared with as many
//! `terraform_data` resources and the control plugin's two resources, apply, no-op plan and
//! destroy, round by round.

use std::path::Path;

use anyhow::Result;

use super::rig::{Emulator, Kind, MANY, Tf, Workdirs};
use super::text::secs;

/// Rounds (one run of each [`Kind`]) for the 100-resource figures: each kind starts two, so
/// that no kind always runs first or last. On this 2-CPU machine one round's ratio of the
/// accounts to the control moves by ±10% from round to round, and the median of four moved
/// by ±5% between whole runs: twice as many rounds cost about a minute.
pub(super) const OVERHEAD_ROUNDS: usize = 8;

pub(super) const TARGET_OVERHEAD_RATIO: f64 = 1.5;

/// Wall times and request counts of the rounds.
pub(super) struct Overhead {
    /// `[kind][operation]`, kinds in [`Kind::ALL`]'s order (the accounts, `terraform_data`, then
    /// the two controls); operations apply, no-op plan, destroy; one time per round.
    pub(super) many: [[Vec<f64>; 3]; 4],
    /// Requests of the last account run's apply, plan and destroy.
    pub(super) many_requests: [usize; 3],
    /// Requests of a no-op plan of the accounts when the API masks access keys in its list.
    pub(super) masked_plan_requests: usize,
    /// One apply, no-op plan and destroy of the accounts at zero latency under the real API's
    /// limit (400 a minute, a fresh window): wall ms and requests of each.
    pub(super) limited: [(f64, usize); 3],
}

/// The real API's requests a minute per key.
pub(super) const REAL_LIMIT: u32 = 400;

impl Overhead {
    /// Median wall ms of `kind`'s runs of operation `op` (apply, no-op plan, destroy).
    pub(super) fn median_ms(&self, kind: Kind, op: usize) -> f64 {
        super::stats::median(&self.many[kind.slot()][op])
    }

    /// The lowest and highest of `kind`'s time over `terraform_data`'s within one round, for
    /// operation `op`: how much the ratio moves from run to run.
    pub(super) fn round_ratio_range(&self, kind: Kind, op: usize) -> (f64, f64) {
        self.round_ratio_range_less(kind, op, 0.0)
    }

    /// [`Overhead::round_ratio_range`] with `less_ms` taken off each of `kind`'s times first.
    pub(super) fn round_ratio_range_less(&self, kind: Kind, op: usize, less_ms: f64) -> (f64, f64) {
        self.many[kind.slot()][op]
            .iter()
            .zip(&self.many[Kind::Data.slot()][op])
            .map(|(k, d)| (k - less_ms).max(0.0) / d)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r), hi.max(r))
            })
    }

    /// `kind`'s median over `terraform_data`'s, for operation `op`.
    pub(super) fn ratio(&self, kind: Kind, op: usize) -> f64 {
        self.median_ms(kind, op) / self.median_ms(Kind::Data, op)
    }
}

/// Runs [`OVERHEAD_ROUNDS`] rounds, each starting with a different kind. Each run gets a fresh
/// zero-latency emulator: `GET /v1/tasks` answers with every task of its window, so an emulator
/// kept across runs would answer each run's polls with a longer list than the last, and the
/// rounds would drift.
pub(super) fn measure(tf: &Tf<'_>, emulator_bin: &Path, dirs: &mut Workdirs) -> Result<Overhead> {
    let mut many: [[Vec<f64>; 3]; 4] = Default::default();
    let mut many_requests = [0; 3];
    for round in 0..OVERHEAD_ROUNDS {
        let mut order = Kind::ALL;
        order.rotate_left(round % Kind::ALL.len());
        for kind in order {
            let dir = dirs.fresh(kind, MANY)?;
            let slot = kind.slot();
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
                "    round {}: {:<24} apply {}  plan {}  destroy {}",
                round + 1,
                kind.type_name(),
                secs(apply),
                secs(plan),
                secs(destroy)
            );
            for (i, ms) in [apply, plan, destroy].into_iter().enumerate() {
                many[slot][i].push(ms);
            }
        }
    }
    // The refresh with list masking on: each masked account may need a read by ID.
    let masked = Emulator::start_with(
        emulator_bin,
        0,
        0,
        0,
        super::rig::RATE_LIMIT,
        &["--mask-list-access-keys"],
    )?;
    let tf_masked = tf.pointed_at(&masked);
    let dir = dirs.fresh(Kind::Account, MANY)?;
    tf_masked.apply(&dir)?;
    masked.clear_log()?;
    tf_masked.noop_plan(&dir)?;
    let masked_plan_requests = masked.log()?.len();
    tf_masked.destroy(&dir, false)?;
    drop(masked);
    // Zero latency under the real limit: the pacing that keeps a window from running dry.
    let real = Emulator::start_limited(emulator_bin, 0, 0, 0, REAL_LIMIT)?;
    let tf_real = tf.pointed_at(&real);
    let dir = dirs.fresh(Kind::Account, MANY)?;
    let mut limited = [(0.0, 0); 3];
    for (i, slot) in limited.iter_mut().enumerate() {
        real.clear_log()?;
        let ms = match i {
            0 => tf_real.apply(&dir)?,
            1 => tf_real.noop_plan(&dir)?,
            _ => tf_real.destroy(&dir, true)?,
        };
        *slot = (ms, real.log()?.len());
    }
    println!(
        "    list masking on: a no-op plan of {MANY} accounts sends {masked_plan_requests} requests; at {REAL_LIMIT}/min, zero latency: apply {} ({} requests), plan {} ({}), destroy {} ({})",
        secs(limited[0].0),
        limited[0].1,
        secs(limited[1].0),
        limited[1].1,
        secs(limited[2].0),
        limited[2].1
    );
    Ok(Overhead {
        many,
        many_requests,
        masked_plan_requests,
        limited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_pair_each_kind_with_terraform_data_of_the_same_round() {
        let mut many: [[Vec<f64>; 3]; 4] = Default::default();
        many[Kind::Data.slot()][0] = vec![200.0, 400.0, 250.0];
        many[Kind::ControlAccount.slot()][0] = vec![300.0, 520.0, 400.0];
        let o = Overhead {
            many,
            many_requests: [0; 3],
            masked_plan_requests: 0,
            limited: [(0.0, 0); 3],
        };
        let (lo, hi) = o.round_ratio_range(Kind::ControlAccount, 0);
        assert!(
            (lo - 1.3).abs() < 1e-9 && (hi - 1.6).abs() < 1e-9,
            "{lo} {hi}"
        );
        // Medians: 400 over 250.
        assert!((o.ratio(Kind::ControlAccount, 0) - 1.6).abs() < 1e-9);
    }
}

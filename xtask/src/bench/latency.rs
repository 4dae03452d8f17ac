//! §1 apply latency and §5 API economy: one account created at realistic emulator latencies
//! against one `terraform_data` and one same-schema `control_cloud_account`, with the requests
//! each create, read and delete sent, and the poll schedules (this provider's and the official
//! one's, modelled) that explain both.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::rig::{Emulator, Kind, Logged, Tf, Workdirs};
use super::text::secs;

/// Runs per workload for the single-account latency figure: enough that the median is not one
/// lucky or unlucky draw of the poll jitter.
pub(super) const LATENCY_RUNS: usize = 7;

/// Emulator latencies for the single-account figure (milliseconds).
pub(super) const STAGE_MS: u64 = 500;
pub(super) const ACTIVATION_MS: u64 = 1500;
/// The emulator's default: how long a deleted account is still listed as `deleted`.
pub(super) const DELETE_MS: u64 = 300;

/// The provider's default poll schedule (`PollPolicy::default()` in crates/rediscloud-api/src/lib.rs).
pub(super) const POLL_INITIAL_MS: f64 = 50.0;
pub(super) const POLL_GROWTH: f64 = 1.1;
pub(super) const POLL_CAP_MS: f64 = 5000.0;

pub(super) const TARGET_LATENCY_RATIO: f64 = 1.10;

/// The first instant of a poll schedule at or after `event`, and how many polls that took.
pub(super) fn first_poll_at_or_after(polls: impl Iterator<Item = f64>, event: f64) -> (f64, usize) {
    let mut n = 0;
    for t in polls {
        n += 1;
        if t >= event {
            return (t, n);
        }
    }
    (f64::INFINITY, n)
}

/// Poll instants (relative to the wait's start) of a growing-delay schedule; `first` may be 0
/// for "poll at once".
fn schedule(first: f64, next: impl Fn(u32) -> f64) -> impl Iterator<Item = f64> {
    (0u32..10_000).scan(0.0, move |t, k| {
        *t += if k == 0 { first } else { next(k) };
        Some(*t)
    })
}

/// This provider's schedule without jitter (`Poller::pause`): a look at once, then 50 ms,
/// growing ×1.1 per poll, capped at 5 s.
pub(super) fn our_polls() -> impl Iterator<Item = f64> {
    schedule(0.0, |k| {
        (POLL_INITIAL_MS * POLL_GROWTH.powi(k as i32 - 1)).min(POLL_CAP_MS)
    })
}

/// The official provider's task wait (go-api, retry-go): a GET at once, then 1 s × 2^k plus
/// retry-go's random jitter of up to 100 ms (its mean, 50 ms, here), capped at 30 s.
pub(super) fn official_task_polls() -> impl Iterator<Item = f64> {
    schedule(0.0, |k| {
        (1000.0 * 2f64.powi(k as i32 - 1) + 50.0).min(30_000.0)
    })
}

/// The official provider's activation wait: SDK StateChangeConf with a 10 s Delay and no
/// PollInterval: a refresh right after the delay, then waits of 200 ms doubling to a 10 s cap.
pub(super) fn official_activation_polls() -> impl Iterator<Item = f64> {
    schedule(10_000.0, |k| (100.0 * 2f64.powi(k as i32)).min(10_000.0))
}

/// Modelled timeline of one create: when each wait would observe its event.
pub(super) struct Modelled {
    pub(super) task_seen_ms: f64,
    pub(super) active_seen_ms: f64,
    pub(super) requests: usize,
}

pub(super) fn model_ours(task_done: f64, active: f64) -> Modelled {
    let (task_seen, task_polls) = first_poll_at_or_after(our_polls(), task_done);
    let (wait, account_polls) = first_poll_at_or_after(our_polls(), active - task_seen);
    Modelled {
        task_seen_ms: task_seen,
        active_seen_ms: task_seen + wait,
        requests: 1 + task_polls + account_polls,
    }
}

pub(super) fn model_official(task_done: f64, active: f64) -> Modelled {
    let (task_seen, task_polls) = first_poll_at_or_after(official_task_polls(), task_done);
    let (wait, account_polls) =
        first_poll_at_or_after(official_activation_polls(), active - task_seen);
    Modelled {
        task_seen_ms: task_seen,
        active_seen_ms: task_seen + wait,
        // POST, the task and status polls, then the Read that follows every create.
        requests: 1 + task_polls + account_polls + 1,
    }
}

/// Requests counted in one operation's slice of the emulator log.
#[derive(Default, Clone)]
pub(super) struct Counts {
    pub(super) total: usize,
    pub(super) task_gets: usize,
    pub(super) account_gets: usize,
    pub(super) writes: usize,
    /// Answers other than 2xx and the 404 that ends a delete: 429s, 5xx.
    pub(super) failed: usize,
}

fn count(log: &[Logged]) -> Counts {
    Counts {
        total: log.len(),
        task_gets: log.iter().filter(|l| l.is_task_get()).count(),
        account_gets: log.iter().filter(|l| l.is_account_get()).count(),
        writes: log.iter().filter(|l| l.method != "GET").count(),
        failed: log
            .iter()
            .filter(|l| !(200..300).contains(&l.status) && l.status != 404)
            .count(),
    }
}

/// When the provider noticed the task's completion and the account's activation, relative to
/// the POST: the last task poll and the last account poll of a single create.
fn observed(log: &[Logged]) -> Option<(f64, f64)> {
    let post = log.iter().find(|l| l.method == "POST")?.time_ms;
    let task = log
        .iter()
        .filter(|l| l.is_task_get())
        .map(|l| l.time_ms)
        .max()?;
    let account = log
        .iter()
        .filter(|l| l.is_account_get())
        .map(|l| l.time_ms)
        .max()?;
    Some(((task - post) as f64, (account - post) as f64))
}

/// The emulator's own record of one create: (task created → completed, completed → active), ms.
fn emulated_timeline(state: &Value) -> Result<(u64, u64)> {
    let tasks = state["tasks"].as_array().context("no tasks in state")?;
    let task = tasks
        .iter()
        .rev()
        .find(|t| t["command"] == "cloudAccountCreateRequest")
        .context("no create task in state")?;
    let created = task["createdMs"].as_u64().context("createdMs")?;
    let done = task["doneMs"].as_u64().context("doneMs")?;
    let id = task["accountId"].as_i64().context("accountId")?;
    let account = state["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"].as_i64() == Some(id)))
        .context("created account not in state")?;
    if account["status"] != "active" {
        bail!("account {id} is {} after apply", account["status"]);
    }
    let active_at = account["updatedMs"].as_u64().context("updatedMs")?;
    Ok((done - created, active_at - done))
}

/// What §1 measured, and §5 counted in the same runs.
pub(super) struct Latency {
    pub(super) acct_apply: Vec<f64>,
    pub(super) data_apply: Vec<f64>,
    /// `control_cloud_account`: what Terraform spends running any plugin with this schema.
    pub(super) control_apply: Vec<f64>,
    pub(super) timeline: (u64, u64),
    pub(super) observed: Vec<(f64, f64)>,
    pub(super) creates: Vec<Counts>,
    pub(super) reads: Vec<Counts>,
    pub(super) deletes: Vec<Counts>,
}

/// Creates, reads and destroys one account per round against `slow` (one unrecorded warm-up
/// round, then [`LATENCY_RUNS`]), taking turns with one `terraform_data` and one
/// `control_cloud_account` apply.
pub(super) fn measure(tf: &Tf<'_>, slow: &Emulator, dirs: &mut Workdirs) -> Result<Latency> {
    let (mut acct_apply, mut data_apply, mut observed_at) = (Vec::new(), Vec::new(), Vec::new());
    let mut control_apply = Vec::new();
    let (mut creates, mut reads, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    let mut timeline = (0, 0);
    // One unrecorded warm-up round fills the page cache for Terraform and the provider.
    for round in 0..=LATENCY_RUNS {
        let record = round > 0;
        // Each kind takes its turn to go first, so none always runs on a cooler machine.
        let mut order = [Kind::Account, Kind::Data, Kind::ControlAccount];
        order.rotate_left(round % 3);
        for kind in order {
            let dir = dirs.fresh(kind, 1)?;
            if kind != Kind::Account {
                let ms = tf.apply(&dir)?;
                if record {
                    println!("    run {round}: {} apply {}", kind.type_name(), secs(ms));
                    match kind {
                        Kind::Data => data_apply.push(ms),
                        _ => control_apply.push(ms),
                    }
                }
                continue;
            }
            slow.clear_log()?;
            let ms = tf.apply(&dir)?;
            let create_log = slow.log()?;
            let this_timeline = emulated_timeline(&slow.admin("GET", "/state")?)?;
            slow.clear_log()?;
            tf.noop_plan(&dir)?;
            let read_log = slow.log()?;
            slow.clear_log()?;
            tf.destroy(&dir, false)?;
            let delete_log = slow.log()?;
            if record {
                println!(
                    "    run {round}: apply {} ({} requests), emulator timeline {} + {} ms",
                    secs(ms),
                    create_log.len(),
                    this_timeline.0,
                    this_timeline.1
                );
                acct_apply.push(ms);
                timeline = this_timeline;
                if let Some(o) = observed(&create_log) {
                    observed_at.push(o);
                }
                creates.push(count(&create_log));
                reads.push(count(&read_log));
                deletes.push(count(&delete_log));
            }
        }
    }
    Ok(Latency {
        acct_apply,
        data_apply,
        control_apply,
        timeline,
        observed: observed_at,
        creates,
        reads,
        deletes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_schedule_matches_the_poll_policy() {
        let polls: Vec<f64> = our_polls().take(4).collect();
        let expected = [0.0, 50.0, 105.0, 165.5];
        assert!(
            polls
                .iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() < 1e-9),
            "{polls:?}"
        );
        // The task of §1 (done at 1 s) is seen on the 13th look, the activation on the 16th after it.
        let m = model_ours(1000.0, 2500.0);
        assert_eq!(m.requests, 1 + 13 + 16);
        assert!(m.task_seen_ms >= 1000.0 && m.task_seen_ms < 1250.0);
    }

    #[test]
    fn official_model_follows_its_constants() {
        let task: Vec<f64> = official_task_polls().take(3).collect();
        assert_eq!(task, vec![0.0, 1050.0, 3100.0]);
        let active: Vec<f64> = official_activation_polls().take(4).collect();
        assert_eq!(active, vec![10_000.0, 10_200.0, 10_600.0, 11_400.0]);
        let m = model_official(1000.0, 2500.0);
        assert_eq!(m.task_seen_ms, 1050.0);
        assert_eq!(m.active_seen_ms, 11_050.0);
        assert_eq!(m.requests, 1 + 2 + 1 + 1);
    }
}

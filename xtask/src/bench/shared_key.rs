//! The shared-key section of `cargo xtask bench`: several workspaces apply, then destroy, their
//! accounts at the same moment on one API key, under the real 400 requests/minute limit that
//! every client of the key shares, starting in a window another client has partly spent.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::thread;

use anyhow::{Context, Result};

use super::rig::{Emulator, Kind, Logged, Tf, Workdirs};
use super::scale::{
    Ideal, LIMIT, MIN_PER_RESOURCE, Op, SETTLE_MS, SPENT_BEFORE, STAGE_MS, ideal, standing,
};
use super::text::{secs, verdict};

/// Workspaces at once on one key.
pub const WORKSPACES: usize = 4;
/// Accounts in each.
pub const PER_WORKSPACE: usize = 25;
/// Terraform's default `-parallelism`, in each workspace.
pub const PARALLELISM: usize = 10;

pub const TARGET_TIME_RATIO: f64 = 1.3;
pub const TARGET_REQUEST_RATIO: f64 = 1.5;

/// One command run in every workspace at once.
pub struct SharedRun {
    pub op: Op,
    /// Each workspace's wall time, in workspace order.
    pub walls_ms: Vec<f64>,
    /// The same command on the same `terraform_data` resources, in every workspace at once:
    /// the slowest. Terraform's own cost.
    pub terraform_ms: f64,
    /// The ideal client: every workspace's accounts through all their slots, from the same
    /// window standing.
    pub ideal: Ideal,
    pub spent_at_start: u32,
    pub requests: usize,
    pub writes: usize,
    pub throttled: usize,
    /// 429s whose workspace sent another request before the retry-after had passed.
    pub unhonoured: usize,
    /// Workspaces whose command exited non-zero, with the first lines of its error.
    pub failed: Vec<String>,
    /// Accounts the API still held after the command that should have none (or too few after
    /// an apply).
    pub accounts_after: usize,
}

impl SharedRun {
    pub fn slowest_ms(&self) -> f64 {
        self.walls_ms.iter().copied().fold(0.0, f64::max)
    }

    pub fn floor_ms(&self) -> f64 {
        self.ideal.ms + self.terraform_ms
    }

    pub fn time_ratio(&self) -> f64 {
        self.slowest_ms() / self.floor_ms()
    }

    pub fn minimum_requests(&self) -> usize {
        MIN_PER_RESOURCE * WORKSPACES * PER_WORKSPACE
    }

    pub fn request_ratio(&self) -> f64 {
        self.requests as f64 / self.minimum_requests() as f64
    }

    /// Whether the figure meets every target: time, requests, no failed run, and no 429 that
    /// was not honoured. A process cannot see the requests the others sent since the server's
    /// last answer to it, so when the window runs out, the requests it already has in flight may
    /// each meet a 429; what it must not do is send again before the retry-after has passed.
    pub fn met(&self) -> bool {
        self.time_ratio() <= TARGET_TIME_RATIO
            && self.request_ratio() <= TARGET_REQUEST_RATIO
            && self.failed.is_empty()
            && self.unhonoured == 0
    }
}

/// What each workspace appends to the provider's `User-Agent`, so the emulator's log tells
/// whose every request was.
fn client_tag(workspace: usize) -> String {
    format!("workspace/{workspace}")
}

/// How long after a 429 was answered a request of the same client may still arrive and count as
/// sent before the 429 reached it: the time between the gate letting it out and the emulator
/// logging its arrival, on a busy 2-CPU machine.
const IN_FLIGHT_MS: u64 = 100;

/// 429s after which the same client (by `User-Agent`) sent another request before the
/// retry-after had passed: requests that arrive within [`IN_FLIGHT_MS`] of the 429's answer were
/// on their way before it.
fn unhonoured_429s(log: &[Logged]) -> usize {
    log.iter()
        .filter(|l| l.status == 429)
        .filter(|refused| {
            let from = refused.answered_ms + IN_FLIGHT_MS;
            let until = refused.answered_ms + refused.retry_after_ms.unwrap_or(0);
            log.iter().any(|l| {
                l.user_agent.is_some()
                    && l.user_agent == refused.user_agent
                    && l.time_ms > from
                    && l.time_ms < until
            })
        })
        .count()
}

/// Runs `args` in every directory at once; each one's wall time and, for a failure, its error.
/// Each workspace's provider tags its requests with [`client_tag`].
fn at_once(tf: &Tf<'_>, dirs: &[PathBuf], args: &[&str]) -> Vec<Result<f64>> {
    thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let tf = tf.with_env("TF_APPEND_USER_AGENT", &client_tag(i));
                s.spawn(move || tf.run(dir, args, &[0]).map(|(ms, _)| ms))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("thread panicked")))
            })
            .collect()
    })
}

fn slowest(results: Vec<Result<f64>>) -> Result<f64> {
    results
        .into_iter()
        .try_fold(0.0_f64, |acc, r| r.map(|ms| acc.max(ms)))
}

/// Applies, then destroys (with its refresh, as users run it), [`WORKSPACES`] ×
/// [`PER_WORKSPACE`] accounts on one key, every workspace at once.
pub fn measure(
    emulator_bin: &Path,
    tf_base: &Tf<'_>,
    dirs: &mut Workdirs,
) -> Result<Vec<SharedRun>> {
    let emulator = Emulator::start_limited(emulator_bin, STAGE_MS, SETTLE_MS, SETTLE_MS, LIMIT)?;
    let tf = tf_base.pointed_at(&emulator);
    let parallelism = format!("-parallelism={PARALLELISM}");
    let apply = [
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        &parallelism,
    ];
    let destroy = [
        "destroy",
        "-auto-approve",
        "-input=false",
        "-no-color",
        &parallelism,
    ];

    let data: Vec<PathBuf> = (0..WORKSPACES)
        .map(|_| dirs.fresh(Kind::Data, PER_WORKSPACE))
        .collect::<Result<_>>()?;
    let data_apply = slowest(at_once(&tf, &data, &apply)).context("terraform_data apply")?;
    let data_destroy = slowest(at_once(&tf, &data, &destroy)).context("terraform_data destroy")?;

    let accounts: Vec<PathBuf> = (0..WORKSPACES)
        .map(|i| {
            dirs.fresh_named(
                Kind::Account,
                PER_WORKSPACE,
                &format!("workspace{i}"),
                i * 1000,
            )
        })
        .collect::<Result<_>>()?;
    let before = live_accounts(&emulator)?;
    emulator.spend(SPENT_BEFORE)?;
    let mut runs = Vec::new();
    for (op, args, terraform_ms) in [
        (Op::Apply, &apply, data_apply),
        (Op::Destroy, &destroy, data_destroy),
    ] {
        let (phase, spent) = standing(&emulator)?;
        emulator.clear_log()?;
        let results = at_once(&tf, &accounts, args);
        let log = emulator.log()?;
        // The raw request log, for reading where the time went.
        let raw: String = log
            .iter()
            .map(|l| {
                let who = l.user_agent.as_deref().and_then(|ua| ua.rsplit(' ').next());
                format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    l.time_ms,
                    who.unwrap_or("-"),
                    l.method,
                    l.path,
                    l.status
                )
            })
            .collect();
        std::fs::write(dirs.base().join(format!("shared-{}.tsv", op.name())), raw)?;
        let live = live_accounts(&emulator)?.saturating_sub(before);
        let expected = match op {
            Op::Apply => WORKSPACES * PER_WORKSPACE,
            Op::Destroy => 0,
        };
        let run = SharedRun {
            op,
            walls_ms: results
                .iter()
                .map(|r| r.as_ref().map_or(f64::NAN, |ms| *ms))
                .collect(),
            terraform_ms,
            ideal: ideal(
                WORKSPACES * PER_WORKSPACE,
                WORKSPACES * PARALLELISM,
                STAGE_MS,
                SETTLE_MS,
                LIMIT,
                phase,
                spent,
            ),
            spent_at_start: spent,
            requests: log.len(),
            writes: log.iter().filter(|l: &&Logged| l.method != "GET").count(),
            throttled: log.iter().filter(|l| l.status == 429).count(),
            unhonoured: unhonoured_429s(&log),
            failed: results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .map(|e| {
                    format!("{e:#}")
                        .lines()
                        .take(12)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect(),
            accounts_after: live.abs_diff(expected),
        };
        println!(
            "    {WORKSPACES} × {PER_WORKSPACE} {:<7} slowest {} (each {}; floor {}: {:.2}×; {} requests of its window spent before it), {} requests ({:.2}× minimum, {} writes), {} × 429 ({} not honoured), {} failed, {} accounts off",
            op.name(),
            secs(run.slowest_ms()),
            run.walls_ms
                .iter()
                .map(|ms| secs(*ms))
                .collect::<Vec<_>>()
                .join(", "),
            secs(run.floor_ms()),
            run.time_ratio(),
            run.spent_at_start,
            run.requests,
            run.request_ratio(),
            run.writes,
            run.throttled,
            run.unhonoured,
            run.failed.len(),
            run.accounts_after,
        );
        for f in &run.failed {
            println!("      failed: {f}");
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Accounts the emulator lists, deleted ones aside.
fn live_accounts(emulator: &Emulator) -> Result<usize> {
    let state = emulator.admin("GET", "/state")?;
    let accounts = state["accounts"]
        .as_array()
        .context("no accounts in /admin/state")?;
    Ok(accounts
        .iter()
        .filter(|a| a["status"].as_str() != Some("deleted"))
        .count())
}

/// Summary-table rows for this section's targets.
pub fn summary_rows(runs: &[SharedRun]) -> String {
    let mut s = String::new();
    for r in runs {
        let _ = writeln!(
            s,
            "| {WORKSPACES} workspaces × {PER_WORKSPACE} accounts on one key at once, 400/min: {} (slowest workspace vs ideal client; requests vs minimum) | {:.2}× ({} vs {}); {:.2}× ({} vs {}); {} × 429, {} not honoured; {} failed | ≤ {TARGET_TIME_RATIO}×; ≤ {TARGET_REQUEST_RATIO}×; no failure; every 429 honoured | {} |",
            r.op.name(),
            r.time_ratio(),
            secs(r.slowest_ms()),
            secs(r.floor_ms()),
            r.request_ratio(),
            r.requests,
            r.minimum_requests(),
            r.throttled,
            r.unhonoured,
            r.failed.len(),
            verdict(r.met())
        );
    }
    s
}

/// The report's section.
pub fn section(runs: &[SharedRun], number: usize) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "## {number}. Several workspaces on one key\n");
    let _ = writeln!(
        w,
        "{WORKSPACES} working directories of {PER_WORKSPACE} accounts each, every one its own Terraform process \
         at `-parallelism={PARALLELISM}`, run `apply` at the same moment on one API key, then `destroy` (with its \
         refresh, as users run it) at the same moment, right after the last apply ended. The emulator is §6's: \
         {LIMIT} requests per key in one-minute windows that open at the key's first request, shared by every \
         process, one task at a time per key. Before the apply, another client of the key has spent {SPENT_BEFORE} \
         requests of the window. The processes never talk to each other: the server's `X-Rate-Limit-Remaining` \
         is all they share.\n"
    );
    let _ = writeln!(
        w,
        "**The floor** is §6's ideal client with all {} accounts through all {} slots, starting in the window as it \
         stood when the command started, plus Terraform's own cost (the same command on the same number of \
         `terraform_data` resources, in every directory at once: the slowest). The time is the slowest \
         workspace's: the moment the last one is done.\n",
        WORKSPACES * PER_WORKSPACE,
        WORKSPACES * PARALLELISM
    );
    let _ = writeln!(
        w,
        "| Op | Each workspace | Slowest | Floor (ideal + Terraform) | Time ratio | Requests | Minimum | Request ratio | Writes | Spent before | 429s | Not honoured | Failed runs | Accounts off |"
    );
    let _ = writeln!(
        w,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in runs {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} ({} + {}) | {:.2}× | {} | {} | {:.2}× | {} | {} | {} | {} | {} | {} |",
            r.op.name(),
            r.walls_ms
                .iter()
                .map(|ms| format!("{:.2}", ms / 1000.0))
                .collect::<Vec<_>>()
                .join(", "),
            secs(r.slowest_ms()),
            secs(r.floor_ms()),
            secs(r.ideal.ms),
            secs(r.terraform_ms),
            r.time_ratio(),
            r.requests,
            r.minimum_requests(),
            r.request_ratio(),
            r.writes,
            r.spent_at_start,
            r.throttled,
            r.unhonoured,
            r.failed.len(),
            r.accounts_after
        );
    }
    let _ = writeln!(w);
    for r in runs.iter().filter(|r| !r.failed.is_empty()) {
        for f in &r.failed {
            let _ = writeln!(w, "- {} failed: {f}", r.op.name());
        }
    }
    let _ = writeln!(
        w,
        "Each process paces itself from the count the server returns with every answer, so the four spend one \
         window together instead of each believing it has 400 to itself, and writes go first in every process. \
         They all read the same count, so they all poll at the same pace, whichever has fallen behind; while the \
         count shows others spending, a list bursts at most a second's worth of its pace, so no process takes \
         the window's start for itself. A process that finds the window spent asks again every few seconds \
         rather than waiting a minute. \"Accounts off\" is how far the API's count of live accounts \
         is from what the command should have left (all {} after the apply, none after the destroy).\n",
        WORKSPACES * PER_WORKSPACE
    );
    let _ = writeln!(
        w,
        "Each workspace's provider appends `workspace/<n>` to its `User-Agent` (`TF_APPEND_USER_AGENT`), so the \
         emulator's log tells whose every request was. A 429 is **not honoured** when the same workspace sent \
         another request that arrived more than {IN_FLIGHT_MS} ms after the 429 was answered (sooner, it was \
         already on its way) and before its `X-Rate-Limit-Retry-After-Seconds` had passed. The requests a \
         process has in flight when the window runs out may each meet a 429; none of them is a retry sent too \
         soon.\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(time_ms: u64, who: &str, status: u16, retry_after_ms: Option<u64>) -> Logged {
        Logged {
            method: "GET".to_owned(),
            path: "/tasks".to_owned(),
            status,
            time_ms,
            answered_ms: time_ms + 2,
            user_agent: Some(format!("terraform-provider-rediscloud/1 {who}")),
            retry_after_ms,
        }
    }

    #[test]
    fn a_429_is_unhonoured_only_when_its_own_client_sends_again_before_the_retry_after() {
        let refused = logged(1_000, "workspace/0", 429, Some(3_000));
        // Another workspace may send at once; this one's requests in flight may land just after.
        let honoured = [
            refused.clone(),
            logged(1_010, "workspace/1", 200, None),
            logged(1_050, "workspace/0", 429, Some(3_000)),
            logged(4_100, "workspace/0", 200, None),
        ];
        assert_eq!(unhonoured_429s(&honoured), 0);
        let too_soon = [refused, logged(2_500, "workspace/0", 200, None)];
        assert_eq!(unhonoured_429s(&too_soon), 1);
    }
}

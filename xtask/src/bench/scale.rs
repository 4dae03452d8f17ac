//! The scale section of `cargo xtask bench`: N accounts created and destroyed at Terraform
//! parallelism P under the real 400 requests/minute limit, measured against an ideal client
//! simulated under the emulator's own task-queue and rate-limit rules.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::rig::{Emulator, Kind, Logged, Tf, Workdirs};
use super::text::secs;
use crate::svg::{Bar, Panel};

/// Accounts per run.
pub const SIZES: [usize; 3] = [10, 100, 300];
/// Terraform `-parallelism` values: its default, and a user who raises it.
pub const PARALLELISMS: [usize; 2] = [10, 50];
/// Each task stage (received, then processing) in ms.
pub const STAGE_MS: u64 = 200;
/// Task completion → `active`, and task completion → gone, in ms.
pub const SETTLE_MS: u64 = 1000;
/// The real API's limit per key and fixed one-minute window.
pub const LIMIT: u32 = 400;
const WINDOW_MS: u64 = 60_000;
/// The fewest requests one create or one delete can take: the write, one task read when the
/// task is done, one account read when it is active (or gone).
pub const MIN_PER_RESOURCE: usize = 3;

pub const TARGET_TIME_RATIO: f64 = 1.2;
pub const TARGET_REQUEST_RATIO: f64 = 1.5;
/// The figure the targets are set on.
pub const TARGET_N: usize = 100;
pub const TARGET_P: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Apply,
    Destroy,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Apply => "apply",
            Op::Destroy => "destroy",
        }
    }
}

/// One measured command.
pub struct Run {
    pub op: Op,
    pub n: usize,
    pub p: usize,
    pub wall_ms: f64,
    /// The same command on `n` `terraform_data` resources: Terraform's own cost.
    pub terraform_ms: f64,
    /// The simulated ideal client's time from its first request to its last.
    pub ideal: Ideal,
    /// The same without any rate limit: the task queue's own bound, which no client can beat.
    pub queue_bound: Ideal,
    pub requests: usize,
    pub writes: usize,
    pub task_lists: usize,
    pub account_lists: usize,
    pub by_id: usize,
    pub throttled: usize,
    /// Requests the window this command started in had spent already.
    pub spent_at_start: u32,
    /// For an apply, the `terraform plan` run right before it: wall time and requests.
    pub plan_before: Option<(f64, usize)>,
}

impl Run {
    /// The ideal client's floor for this command: its simulated time plus Terraform's own.
    pub fn floor_ms(&self) -> f64 {
        self.ideal.ms + self.terraform_ms
    }

    pub fn time_ratio(&self) -> f64 {
        self.wall_ms / self.floor_ms()
    }

    /// Wall time against the queue's own bound plus Terraform's cost.
    pub fn bound_ratio(&self) -> f64 {
        self.wall_ms / (self.queue_bound.ms + self.terraform_ms)
    }

    pub fn minimum_requests(&self) -> usize {
        MIN_PER_RESOURCE * self.n
    }

    pub fn request_ratio(&self) -> f64 {
        self.requests as f64 / self.minimum_requests() as f64
    }

    pub fn per_resource(&self) -> f64 {
        self.requests as f64 / self.n as f64
    }
}

/// What the ideal client achieves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ideal {
    pub ms: f64,
    pub requests: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Step {
    /// A Terraform slot is free: send the next write.
    Write,
    /// The task is done: read it.
    TaskRead(usize),
    /// The account is active (or gone): read it, then free the slot.
    AccountRead(usize),
}

#[derive(PartialEq)]
struct Event {
    at: f64,
    seq: u64,
    step: Step,
}

impl Eq for Event {}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Earliest first from a max-heap; ties in the order they were scheduled.
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// The emulator's fixed-window limiter as the ideal client meets it, windows aligned to
/// `phase_ms` (where in its window the run starts).
struct Window {
    phase_ms: f64,
    limit: u32,
    index: u64,
    used: u32,
}

impl Window {
    /// When a request wished for at `at` may be sent: at once (and it is counted), or at the
    /// start of the first window with room left (the caller asks again then).
    fn admit(&mut self, at: f64) -> f64 {
        let wished = ((self.phase_ms + at) / WINDOW_MS as f64).floor() as u64;
        if wished > self.index {
            self.index = wished;
            self.used = 0;
        }
        if self.used >= self.limit {
            self.index += 1;
            self.used = 0;
        }
        let start = (self.index * WINDOW_MS) as f64 - self.phase_ms;
        let when = at.max(start);
        if when == at {
            self.used += 1;
        }
        when
    }
}

/// The ideal client: `n` writes through `p` slots, starting `spent` requests into its window
/// (what the command before it left spent, when the two run back to back); each sends its write the instant a slot is
/// free, reads the task the instant it is done and the account the instant it is active (or
/// gone), and frees its slot then. Tasks follow the emulator's queue (`MutState::enqueue`): a
/// task accepted at `t` starts processing at `max(t + stage, previous task done)` and is done
/// one stage later; the account settles `settle` after that. Every request passes the same
/// fixed-window limit the emulator applies; a request over it waits for the next window.
pub fn ideal(
    n: usize,
    p: usize,
    stage: u64,
    settle: u64,
    limit: u32,
    phase_ms: f64,
    spent: u32,
) -> Ideal {
    let (stage, settle) = (stage as f64, settle as f64);
    let mut window = Window {
        phase_ms,
        limit,
        index: (phase_ms / WINDOW_MS as f64).floor() as u64,
        used: spent.min(limit),
    };
    let mut events = BinaryHeap::new();
    let mut seq = 0;
    let mut push = |events: &mut BinaryHeap<Event>, at: f64, step: Step| {
        seq += 1;
        events.push(Event { at, seq, step });
    };
    for _ in 0..p.min(n) {
        push(&mut events, 0.0, Step::Write);
    }
    let (mut sent, mut requests, mut queue_free, mut end) = (0, 0, 0.0_f64, 0.0_f64);
    let mut done = vec![0.0; n];
    while let Some(Event { at, step, .. }) = events.pop() {
        if step == Step::Write && sent == n {
            continue;
        }
        let admitted = window.admit(at);
        if admitted > at {
            push(&mut events, admitted, step);
            continue;
        }
        requests += 1;
        end = end.max(at);
        match step {
            Step::Write => {
                let processing = (at + stage).max(queue_free);
                queue_free = processing + stage;
                done[sent] = queue_free;
                push(&mut events, queue_free, Step::TaskRead(sent));
                sent += 1;
            }
            Step::TaskRead(i) => push(&mut events, done[i] + settle, Step::AccountRead(i)),
            Step::AccountRead(_) => push(&mut events, at, Step::Write),
        }
    }
    Ideal { ms: end, requests }
}

/// Requests another client of the key has spent in the window each (N, P) sequence starts in:
/// users' runs rarely find a fresh window.
pub const SPENT_BEFORE: u32 = 100;

/// The window as it stands: `(ms into it, requests spent)`, for the ideal client to start in.
pub(super) fn standing(emulator: &Emulator) -> Result<(f64, u32)> {
    let w = emulator.spend(0)?;
    Ok((w.elapsed_ms(WINDOW_MS), w.spent(LIMIT)))
}

fn tally(
    op: Op,
    n: usize,
    p: usize,
    wall_ms: f64,
    terraform_ms: f64,
    (phase, spent): (f64, u32),
    log: &[Logged],
) -> Run {
    let get = |path: &str| {
        log.iter()
            .filter(|l| l.method == "GET" && l.path == path)
            .count()
    };
    Run {
        op,
        n,
        p,
        wall_ms,
        terraform_ms,
        ideal: ideal(n, p, STAGE_MS, SETTLE_MS, LIMIT, phase, spent),
        queue_bound: ideal(n, p, STAGE_MS, SETTLE_MS, u32::MAX, phase, 0),
        spent_at_start: spent,
        requests: log.len(),
        writes: log.iter().filter(|l| l.method != "GET").count(),
        task_lists: get("/tasks"),
        account_lists: get("/cloud-accounts"),
        by_id: log
            .iter()
            .filter(|l| l.method == "GET" && (l.path.matches('/').count() > 1))
            .count(),
        throttled: log.iter().filter(|l| l.status == 429).count(),
        plan_before: None,
    }
}

/// Runs every (N, P) pair back to back, as users run them: `plan`, `apply`, then `destroy`
/// without refresh, the first in a window another client has partly spent ([`SPENT_BEFORE`]),
/// each after it in the window the one before left.
pub fn measure(emulator_bin: &Path, tf_base: &Tf<'_>, dirs: &mut Workdirs) -> Result<Vec<Run>> {
    let emulator = Emulator::start_limited(emulator_bin, STAGE_MS, SETTLE_MS, SETTLE_MS, LIMIT)?;
    let tf = tf_base.pointed_at(&emulator);
    let mut runs = Vec::new();
    for p in PARALLELISMS {
        for n in SIZES {
            let parallelism = format!("-parallelism={p}");
            let data = dirs.fresh(Kind::Data, n)?;
            let apply_args = ["apply", "-auto-approve", "-input=false", "-no-color"];
            let destroy_args = [
                "destroy",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-refresh=false",
            ];
            let with_p = |args: &[&'static str]| {
                let mut v: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                v.push(parallelism.clone());
                v
            };
            let run = |dir: &Path, args: &[String]| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                tf.run(dir, &args, &[0]).map(|(ms, _)| ms)
            };
            let data_apply = run(&data, &with_p(&apply_args))?;
            let data_destroy = run(&data, &with_p(&destroy_args))?;
            let dir = dirs.fresh(Kind::Account, n)?;
            emulator.spend(SPENT_BEFORE)?;
            emulator.clear_log()?;
            let (plan_ms, _) = tf.run(
                &dir,
                &["plan", "-input=false", "-no-color", &parallelism],
                &[0],
            )?;
            let plan_requests = emulator.log()?.len();
            for (op, terraform_ms) in [(Op::Apply, data_apply), (Op::Destroy, data_destroy)] {
                let at_start = standing(&emulator)?;
                emulator.clear_log()?;
                let args = match op {
                    Op::Apply => with_p(&apply_args),
                    Op::Destroy => with_p(&destroy_args),
                };
                let wall_ms = run(&dir, &args)?;
                let log = emulator.log()?;
                let mut run = tally(op, n, p, wall_ms, terraform_ms, at_start, &log);
                if op == Op::Apply {
                    run.plan_before = Some((plan_ms, plan_requests));
                }
                println!(
                    "    N={n:<3} P={p:<2} {:<7} {} (floor {}: {:.2}×; queue bound {:.2}×; {} requests of its window spent before it), {} requests ({:.2}/resource, {:.2}× minimum; {} writes, {} task lists, {} account lists, {} by ID), {} × 429{}",
                    op.name(),
                    secs(run.wall_ms),
                    secs(run.floor_ms()),
                    run.time_ratio(),
                    run.bound_ratio(),
                    run.spent_at_start,
                    run.requests,
                    run.per_resource(),
                    run.request_ratio(),
                    run.writes,
                    run.task_lists,
                    run.account_lists,
                    run.by_id,
                    run.throttled,
                    run.plan_before.map_or(String::new(), |(ms, r)| format!(
                        "; the plan before it {} and {r} requests",
                        secs(ms)
                    ))
                );
                runs.push(run);
            }
        }
    }
    Ok(runs)
}

fn find(runs: &[Run], op: Op, n: usize, p: usize) -> Option<&Run> {
    runs.iter().find(|r| r.op == op && r.n == n && r.p == p)
}

/// Requests per resource never grow with N (5% slack for the fixed costs of a small run).
pub fn flat_or_falling(runs: &[Run], op: Op, p: usize) -> bool {
    let per: Vec<f64> = SIZES
        .iter()
        .filter_map(|&n| find(runs, op, n, p).map(Run::per_resource))
        .collect();
    per.windows(2).all(|w| w[1] <= w[0] * 1.05)
}

/// Summary-table rows for the targets of this section.
pub fn summary_rows(runs: &[Run], verdict: fn(bool) -> &'static str) -> String {
    let mut s = String::new();
    for op in [Op::Apply, Op::Destroy] {
        if let Some(r) = find(runs, op, TARGET_N, TARGET_P) {
            let _ = writeln!(
                s,
                "| {TARGET_N} accounts at parallelism {TARGET_P}, 400/min: {} time vs ideal client | {:.2}× ({} vs {}) | ≤ {TARGET_TIME_RATIO}× | {} |",
                op.name(),
                r.time_ratio(),
                secs(r.wall_ms),
                secs(r.floor_ms()),
                verdict(r.time_ratio() <= TARGET_TIME_RATIO)
            );
            let _ = writeln!(
                s,
                "| {TARGET_N} accounts at parallelism {TARGET_P}, 400/min: {} requests vs minimum | {:.2}× ({} vs {}), {} × 429 | ≤ {TARGET_REQUEST_RATIO}×, no 429 | {} |",
                op.name(),
                r.request_ratio(),
                r.requests,
                r.minimum_requests(),
                r.throttled,
                verdict(r.request_ratio() <= TARGET_REQUEST_RATIO && r.throttled == 0)
            );
        }
        for p in PARALLELISMS {
            let per: Vec<String> = SIZES
                .iter()
                .filter_map(|&n| find(runs, op, n, p).map(|r| format!("{:.2}", r.per_resource())))
                .collect();
            let _ = writeln!(
                s,
                "| {} requests per resource, N = {}, parallelism {p} | {} | flat or falling | {} |",
                op.name(),
                SIZES.map(|n| n.to_string()).join(" / "),
                per.join(" / "),
                verdict(flat_or_falling(runs, op, p))
            );
        }
    }
    s
}

/// The report's scale section.
pub fn section(runs: &[Run], number: usize) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "## {number}. Scale under the real rate limit\n");
    let _ = writeln!(
        w,
        "N accounts at Terraform `-parallelism` P against an emulator with the real API's limit of {LIMIT} \
         requests per minute per key (fixed one-minute windows that open at the key's first request, as \
         `EmulatorState::rate_check` counts them with `--rate-window-start first_request`, every list included), \
         task stages of {STAGE_MS} ms, one task at a time per key, and {} s from task completion to `active` (and \
         to gone). For each (N, P), back to back as users run them: `plan`, then `apply` of N accounts in a fresh \
         directory, then `destroy -refresh=false` (its refresh is §2's subject). Before the plan another client \
         of the key spends {SPENT_BEFORE} requests of the window (`POST /admin/rate/spend`); each command then \
         starts in the window the one before it left, and the ideal client of each starts with the same window: \
         as many requests spent and as far into it (\"Spent before\" below).\n",
        SETTLE_MS as f64 / 1000.0
    );
    let _ = writeln!(
        w,
        "**The floor** is what an ideal client would take: the same N writes through the same P slots, each \
         sending its write the instant a slot is free, reading the task the instant it is done and the account \
         the instant it is active or gone (three requests, the minimum), and freeing its slot then; every request \
         passes the same fixed window. It is simulated (`bench::scale::ideal`) under the emulator's own queue \
         rule: a task accepted at `t` starts processing at `max(t + stage, previous task done)`, so the queue \
         completes at most one task per {STAGE_MS} ms. Terraform's own cost, measured as the same command on N \
         `terraform_data` resources at the same parallelism, is added to it.\n"
    );
    let _ = writeln!(
        w,
        "| N | P | Op | Wall | Floor (ideal + Terraform) | Time ratio | vs queue bound | Requests | Minimum | Request ratio | Per resource | Writes | Task lists | Account lists | By ID | 429s | Spent before | Plan before it |"
    );
    let _ = writeln!(
        w,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for p in PARALLELISMS {
        for n in SIZES {
            for op in [Op::Apply, Op::Destroy] {
                let Some(r) = find(runs, op, n, p) else {
                    continue;
                };
                let _ = writeln!(
                    w,
                    "| {n} | {p} | {} | {} | {} ({} + {}) | {:.2}× | {:.2}× | {} | {} | {:.2}× | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
                    op.name(),
                    secs(r.wall_ms),
                    secs(r.floor_ms()),
                    secs(r.ideal.ms),
                    secs(r.terraform_ms),
                    r.time_ratio(),
                    r.bound_ratio(),
                    r.requests,
                    r.minimum_requests(),
                    r.request_ratio(),
                    r.per_resource(),
                    r.writes,
                    r.task_lists,
                    r.account_lists,
                    r.by_id,
                    r.throttled,
                    r.spent_at_start,
                    r.plan_before
                        .map_or("—".to_owned(), |(ms, requests)| format!(
                            "{}, {requests} requests",
                            secs(ms)
                        ))
                );
            }
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "The ideal client's three per-ID requests per resource are the issue's minimum, but not the least a \
         client can send: one list request answers for every waiting account. Where {LIMIT}/min binds the ideal \
         client (N = 300 needs {} requests, more than two windows' worth), a time ratio below 1 is possible and \
         means exactly that. **vs queue bound** compares with the same simulation without any rate limit, the \
         task queue's own bound that no client can beat; at N = 300 the gap to it is the requests this provider \
         spends beyond the {LIMIT} of the first window (see the request counts).\n",
        3 * SIZES[SIZES.len() - 1]
    );
    let _ = writeln!(
        w,
        "Requests per resource and the time ratio against N are plotted in the chart's last two panels. Every \
         wait of one provider process is served from shared list requests, so requests per resource fall as \
         N grows: the lists' cost is spread over every waiting account, while the minimum of three per-ID \
         requests is the same for each. Terraform starts a separate provider process for each command, and the \
         processes of one command share the key's budget through the server's `X-Rate-Limit-Remaining`.\n"
    );
    s
}

/// Chart panels: requests per resource and the time ratio, against N, per operation and P.
pub fn panels(runs: &[Run]) -> Vec<Panel> {
    let mut requests = Vec::new();
    let mut ratios = Vec::new();
    for op in [Op::Apply, Op::Destroy] {
        for p in PARALLELISMS {
            for n in SIZES {
                if let Some(r) = find(runs, op, n, p) {
                    let label = format!("{} P={p} N={n}", op.name());
                    requests.push(Bar::new(&label, r.per_resource(), 1));
                    ratios.push(Bar::new(&label, r.time_ratio(), 1));
                }
            }
        }
    }
    vec![
        Panel {
            title: format!(
                "Scale, {LIMIT}/min: API requests per resource against N (minimum {MIN_PER_RESOURCE})"
            ),
            unit: "",
            bars: requests,
            target: Some((
                MIN_PER_RESOURCE as f64 * TARGET_REQUEST_RATIO,
                format!("{TARGET_REQUEST_RATIO}× minimum"),
            )),
        },
        Panel {
            title: format!("Scale, {LIMIT}/min: wall time ÷ ideal-client floor against N"),
            unit: "×",
            bars: ratios,
            target: Some((TARGET_TIME_RATIO, format!("target {TARGET_TIME_RATIO}×"))),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_takes_two_stages_and_the_settle() {
        let i = ideal(1, 10, 200, 1000, 400, 0.0, 0);
        assert_eq!(
            i,
            Ideal {
                ms: 1400.0,
                requests: 3
            }
        );
    }

    #[test]
    fn the_queue_completes_one_task_per_stage() {
        // Ten writes at once: the k-th task is done at 400 + 200·k; the last settles 1 s later.
        let i = ideal(10, 10, 200, 1000, 400, 0.0, 0);
        assert_eq!(
            i,
            Ideal {
                ms: 400.0 + 200.0 * 9.0 + 1000.0,
                requests: 30
            }
        );
    }

    #[test]
    fn one_slot_serialises_every_write() {
        let i = ideal(3, 1, 200, 1000, 400, 0.0, 0);
        assert_eq!(i.ms, 3.0 * 1400.0 - 0.0);
    }

    #[test]
    fn a_spent_window_holds_requests_for_the_next() {
        // A limit of 2: the write and the task read fit; the account read waits for the window.
        let i = ideal(1, 1, 200, 1000, 2, 0.0, 0);
        assert_eq!(i.ms, 60_000.0);
        // Started 59.5 s into a window, the next one opens after 0.5 s and nothing waits long.
        let i = ideal(1, 1, 200, 1000, 2, 59_500.0, 0);
        assert_eq!(i.ms, 1400.0);
    }

    #[test]
    fn flatness_allows_falling_but_not_growing_costs() {
        let run = |n, requests| Run {
            op: Op::Apply,
            n,
            p: 10,
            wall_ms: 1.0,
            terraform_ms: 0.0,
            ideal: Ideal {
                ms: 1.0,
                requests: 0,
            },
            queue_bound: Ideal {
                ms: 1.0,
                requests: 0,
            },
            requests,
            writes: 0,
            task_lists: 0,
            account_lists: 0,
            by_id: 0,
            throttled: 0,
            spent_at_start: 0,
            plan_before: None,
        };
        let falling = [run(10, 40), run(100, 300), run(300, 800)];
        assert!(flat_or_falling(&falling, Op::Apply, 10));
        let growing = [run(10, 30), run(100, 400), run(300, 1500)];
        assert!(!flat_or_falling(&growing, Op::Apply, 10));
    }
}

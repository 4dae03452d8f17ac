//! Randomized lifecycle checker, in the spirit of Jepsen: proves the provider never loses, takes or
//! orphans a cloud account, under random operations and random API faults.
//!
//! Per seed it starts an in-process emulator with millisecond latencies and drives the provider's
//! `tfplugin6.Provider` trait directly through a simulated Terraform core
//! (`support::tfcore`) holding a few resource addresses. Each step picks an operation (create,
//! rename, plain and write-only credential rotation, replacement, `state rm` + import, refresh,
//! destroy, two concurrent creates with equal or different names, a "foreign" account created
//! behind Terraform's back, creates that reuse a foreign name, a provider restart) and a fault
//! schedule (connection drops before and after commit, 5xx before and — when the emulator supports
//! it — after commit, answers after the client's HTTP timeout for writes that landed, 504s whose
//! write lands later, 429 bursts with any retry-after, task-404 windows, task errors (some after
//! the create made its account), error final statuses, a slow queue against short timeouts,
//! StopProvider in mid-wait); half the seeds also see new tasks report `initialized`.
//!
//! The world also holds other API clients and a lagging API, drawn by the same schedule:
//! - another client's create interposed just before or just after our create's POST is applied
//!   (or, for a POST never applied, when it would have been), with our name and our access key,
//!   our name and another key, another name and our key, or another name and another key (and,
//!   now and then, another cloud provider), alone or with a dropped connection (before or after
//!   commit) or a 5xx on that same POST. Every account such a create makes is found through the
//!   emulator's request log (interposed entries' `taskId` → the task → its `accountId`) and
//!   registered as foreign;
//! - lag: new accounts answer 404 for a few hundred ms to 1.5 s after their task completed
//!   (`account_404_ms`) and the list omits them for as long again (`list_lag_ms`), sometimes
//!   against short timeouts;
//! - task ageing: for one step tasks leave `GET /v1/tasks[/{id}]` after 0–500 ms
//!   (`task_retention_ms`), sometimes against short timeouts.
//!
//! After every step the emulator is left to quiesce (late writes included, the lag over) and these
//! invariants are checked:
//!
//! 1. every live account the provider created is held by exactly one address's state (a
//!    `pending-create` id holds the account its private record's rule would find: absent from
//!    the snapshot before its POST, with its name, provider and key, made by a task newer than
//!    that POST; the ids of the older client are read too: `pending-task:<uuid>[,<uuid>…]` holds
//!    the account one of those tasks made with the state's key, `pending-create:after-<id>` the
//!    account made after that one with the state's name, provider and key);
//! 2. no account the provider did not create — the checker's foreign accounts and every account
//!    another client's interposed create made — is changed, deleted, or in any address's state
//!    after any step (a `pending-create` id resolved as in 1 counts). One exception, the
//!    documented residual risk of the ownership rule: another client's create carrying exactly
//!    the name, provider and access key of one of our creates and queued before it (interposed
//!    `before` our POST, or `after` a POST of ours that was never applied, which the world cannot
//!    tell apart) is indistinguishable from ours: the provider may adopt, change or delete it.
//!    Such a "twin" may still be held by at most one state, and is never counted as orphaned;
//! 3. after an apply without errors, the state equals what the API returns;
//! 4. no panic ("Provider Internal Error" or in the checker), no invalid plan, no inconsistent
//!    result after apply;
//! 5. no operation outlives its timeout by more than 2 s.
//!
//! A violation fails the test with the seed, the step log and a replay command. Commands:
//!
//! ```text
//! # the fixed suite (LIFECYCLE_SEEDS unset)
//! cargo test --test integration lifecycle:: -- --nocapture
//! # one seed, e.g. to replay a failure
//! LIFECYCLE_SEED=17 cargo test --test integration lifecycle:: -- --nocapture
//! # the long randomized run
//! LIFECYCLE_SEEDS=2000 LIFECYCLE_SEED_START=100000 cargo test --test integration lifecycle:: -- --nocapture
//! ```
//!
//! `real_terraform_never_adopts_a_foreign_account_after_an_ambiguous_create` replays the sharpest
//! finding with the real CLI (Terraform >= 1.14, e.g. through `TF_ACC_TERRAFORM`):
//! `cargo test --test integration lifecycle::real`.
//!
//! (`lifecycle::` rather than `lifecycle`: the secrets audit has a real-Terraform test whose name
//! also contains "lifecycle".) `LIFECYCLE_STEPS` changes the steps per seed,
//! `LIFECYCLE_PARALLEL` how many seeds run at once, and `LIFECYCLE_VERBOSE=1` prints the step log
//! of passing seeds too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pb::provider_server::Provider as _;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rediscloud_api::{PollPolicy, RetryPolicy};
use rediscloud_emulator::{EmulatorConfig, RunningEmulator, TASK_RETENTION_MS};
use serde_json::{Value as Json, json};
use terraform_provider_rediscloud::provider::{ClientTuning, RedisCloudProvider};
use tfplugin::framework::msgpack;
use tfplugin::framework::server::FrameworkServer;
use tfplugin::framework::value::{Type, Value};
use tfplugin::wire::proto::tfplugin6 as pb;

use super::support::tfcore::{Core, Instance, Outcome, Server, resource_type};

/// Seeds the suite runs when `LIFECYCLE_SEEDS` is unset.
const SUITE_SEEDS: u64 = 48;
/// Seeds that once found a bug, replayed by the suite besides the first [`SUITE_SEEDS`]:
/// - 500348: a create sent again after a 504 failed on its own, and the first POST, applied
///   late, made an account that no state held (fixed: such a create is recorded as pending).
/// - 805049: a refresh served from the list that proved the configuration, fetched before this
///   process's own update turned the account `active-error`, kept `active` in state (fixed: a
///   write of this process ends that list's use).
const REGRESSION_SEEDS: [u64; 2] = [500_348, 805_049];
/// Steps per seed unless `LIFECYCLE_STEPS` says otherwise.
const STEPS: usize = 14;
/// Seeds in flight at once unless `LIFECYCLE_PARALLEL` says otherwise.
const PARALLEL: usize = 8;
/// Resource addresses in the simulated configuration.
const ADDRESSES: [&str; 4] = ["a", "b", "c", "d"];
const API_KEY: &str = "lifecycle-access-key";
const SECRET_KEY: &str = "lifecycle-secret-key";
const LOGIN_URL: &str = "https://123456789012.signin.aws.amazon.com/console";
/// How long the checker waits for the emulator's queue to drain after a step.
const QUIESCE: Duration = Duration::from_secs(30);
/// Statuses of an account some lifecycle is still moving.
const TRANSITIONAL: [&str; 5] = [
    "draft",
    "pending",
    "change-draft",
    "change-pending",
    "delete-draft",
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn replay(seed: u64) -> String {
    format!("LIFECYCLE_SEED={seed} cargo test --test integration lifecycle:: -- --nocapture")
}

/// The fixed suite. Before the reconciliation module it failed on 23 of these 48 seeds (see
/// the commit adding it). Replays and long runs go through `lifecycle_from_env`.
#[test]
fn lifecycle_suite() {
    if std::env::var_os("LIFECYCLE_SEED").is_some() || std::env::var_os("LIFECYCLE_SEEDS").is_some()
    {
        return; // lifecycle_from_env runs those
    }
    run((0..SUITE_SEEDS).chain(REGRESSION_SEEDS).collect());
}

/// `LIFECYCLE_SEED=<n>` replays one seed; `LIFECYCLE_SEEDS=<count>` (from `LIFECYCLE_SEED_START`,
/// default 1000) is the long randomized run. Without either it does nothing.
#[test]
fn lifecycle_from_env() {
    let seeds: Vec<u64> = if let Some(seed) = env_u64("LIFECYCLE_SEED") {
        vec![seed]
    } else if let Some(n) = env_u64("LIFECYCLE_SEEDS") {
        let start = env_u64("LIFECYCLE_SEED_START").unwrap_or(1000);
        (start..start + n).collect()
    } else {
        return;
    };
    run(seeds);
}

#[derive(Default)]
struct Totals {
    steps: u64,
    faults: u64,
    /// The longest seed: (seconds, seed).
    slowest: (f64, u64),
}

/// A seed's totals and, when it failed, its report.
type SeedResult = (Totals, Option<String>);

struct Failure {
    seed: u64,
    report: String,
}

fn run(seeds: Vec<u64>) {
    use futures::StreamExt as _;
    let steps = env_u64("LIFECYCLE_STEPS").map_or(STEPS, |s| s as usize);
    let parallel = env_u64("LIFECYCLE_PARALLEL").map_or(PARALLEL, |p| p.max(1) as usize);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let count = seeds.len();
    let (totals, failures) = rt.block_on(async move {
        let results: Vec<(u64, Result<SeedResult, String>)> = futures::stream::iter(seeds)
            .map(|seed| async move {
                // A panic in the checker itself is a finding too (invariant 4).
                let r = tokio::spawn(run_seed(seed, steps)).await;
                (seed, r.map_err(|e| format!("the checker panicked: {e}")))
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut totals = Totals::default();
        let mut failures = Vec::new();
        for (seed, r) in results {
            match r {
                Ok((t, failure)) => {
                    totals.steps += t.steps;
                    totals.faults += t.faults;
                    if t.slowest.0 > totals.slowest.0 {
                        totals.slowest = t.slowest;
                    }
                    if let Some(report) = failure {
                        failures.push(Failure { seed, report });
                    }
                }
                Err(report) => failures.push(Failure {
                    seed,
                    report: format!("INVARIANT 4 (panic): {report}\nreplay: {}", replay(seed)),
                }),
            }
        }
        failures.sort_by_key(|f| f.seed);
        (totals, failures)
    });
    eprintln!(
        "lifecycle: {count} seeds, {} steps, {} faults injected, {:.1}s (slowest seed {} {:.1}s), {} failing seeds",
        totals.steps,
        totals.faults,
        started.elapsed().as_secs_f64(),
        totals.slowest.1,
        totals.slowest.0,
        failures.len()
    );
    if !failures.is_empty() {
        let mut msg = String::new();
        for f in &failures {
            let _ = writeln!(msg, "\n===== seed {} =====\n{}", f.seed, f.report);
        }
        let seeds: Vec<String> = failures.iter().map(|f| f.seed.to_string()).collect();
        panic!(
            "{msg}\nlifecycle: invariants violated for seeds {}",
            seeds.join(", ")
        );
    }
}

// ------------------------------------------------------------------ configuration

#[derive(Clone, Debug)]
enum Cred {
    Plain(String),
    WriteOnly(String, i64),
}

/// What the configuration says for one address.
#[derive(Clone, Debug)]
struct Desired {
    name: String,
    provider: &'static str,
    key_id: String,
    secret: Cred,
    password: Cred,
    /// Create/update/delete timeout for this step.
    timeout: &'static str,
}

const NORMAL_TIMEOUT: &str = "6s";
const SHORT_TIMEOUT: &str = "1s";

fn config_value(d: &Desired) -> Value {
    let Type::Object(attrs) = resource_type() else {
        unreachable!("the resource type is an object")
    };
    let mut m: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    set("name", Value::string(&d.name));
    set("provider_type", Value::string(d.provider));
    set("access_key_id", Value::string(&d.key_id));
    set("console_username", Value::string("console"));
    set("sign_in_login_url", Value::string(LOGIN_URL));
    for (plain, cred) in [
        ("access_secret_key", &d.secret),
        ("console_password", &d.password),
    ] {
        match cred {
            Cred::Plain(s) => set(plain, Value::string(s)),
            Cred::WriteOnly(s, v) => {
                set(&format!("{plain}_wo"), Value::string(s));
                set(&format!("{plain}_wo_version"), Value::Number((*v).into()));
            }
        }
    }
    let timeouts = [
        ("create", d.timeout),
        ("read", "5s"),
        ("update", d.timeout),
        ("delete", d.timeout),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Value::string(v)))
    .collect();
    set("timeouts", Value::Object(timeouts));
    Value::Object(m)
}

fn new_server() -> Server {
    FrameworkServer::new(RedisCloudProvider::tuned(ClientTuning {
        poll: PollPolicy {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(150),
            multiplier: 1.5,
            jitter: true,
            not_found_limit: 40,
            not_found_grace: Duration::from_millis(300),
            ..PollPolicy::default()
        },
        retry: RetryPolicy {
            attempts: 4,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            jitter: true,
        },
        http_timeout: Some(HTTP_TIMEOUT),
    }))
}

async fn configure(server: &Server, url: &str) -> Result<(), String> {
    let ty = Type::Object(
        ["url", "api_key", "secret_key"]
            .iter()
            .map(|k| ((*k).to_owned(), Type::String))
            .collect(),
    );
    let cfg = Value::Object(
        [
            ("url", url),
            ("api_key", API_KEY),
            ("secret_key", SECRET_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::string(v)))
        .collect(),
    );
    let resp = server
        .configure_provider(tonic::Request::new(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: Some(pb::DynamicValue {
                msgpack: msgpack::encode(&cfg, &ty).map_err(|e| e.to_string())?,
                json: vec![],
            }),
            client_capabilities: Some(pb::ClientCapabilities {
                write_only_attributes_allowed: true,
                ..Default::default()
            }),
        }))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    match resp.diagnostics.first() {
        Some(d) => Err(format!("{}: {}", d.summary, d.detail)),
        None => Ok(()),
    }
}

// ------------------------------------------------------------------ faults

/// One fault of a step's schedule.
#[derive(Clone, Debug)]
enum Fault {
    /// `POST /admin/faults` with this body.
    Http(Json),
    /// `PUT /admin/config` with this patch.
    Knobs(Json),
    /// `POST /admin/task-errors`; with `true`, a create fails only after making its account.
    TaskError(&'static str, bool),
    /// A short create/update/delete timeout while the queue is slow.
    SlowQueue(u64),
    /// StopProvider this long after the operation starts.
    Stop(Duration),
    /// `PUT /admin/config` with this patch (lag or task ageing); with `true`, against short
    /// create/update/delete timeouts.
    Lag(Json, bool),
    /// Another API client's create on our create's POST; resolved against the step's target
    /// when installed.
    Interpose(Interpose),
}

/// Another client's create, interposed on the first POST of our creates in a step.
#[derive(Clone, Debug)]
struct Interpose {
    same_name: bool,
    same_key: bool,
    same_provider: bool,
    /// Before (else after) our POST is applied.
    before: bool,
    /// A drop or status fault on that same POST (installed right after the interposition, and
    /// before the step's other faults, so that both fire on the same request).
    companion: Option<Json>,
}

impl Fault {
    fn describe(&self) -> String {
        match self {
            Fault::Http(j) | Fault::Knobs(j) => j.to_string(),
            Fault::TaskError(t, false) => format!("task error {t}"),
            Fault::TaskError(t, true) => {
                format!("task error {t} after the create made its account")
            }
            Fault::SlowQueue(ms) => format!("slow queue {ms}ms/stage, timeouts {SHORT_TIMEOUT}"),
            Fault::Stop(d) => format!("StopProvider after {}ms", d.as_millis()),
            Fault::Lag(j, short) => {
                format!("{j}{}", if *short { ", short timeouts" } else { "" })
            }
            Fault::Interpose(i) => format!("{i:?}"),
        }
    }
}

/// Task errors the real API can give any task (not-found types are left out: the emulator would
/// report them for accounts that exist, which the real API does not).
const TASK_ERRORS: [&str; 5] = [
    "CLOUD_ACCOUNT_INVALID_CREDS",
    "CLOUD_ACCOUNT_PERMISSION_FAILED",
    "CLOUD_ACCOUNT_ALLOCATION_FAILURE",
    "GENERAL_ERROR",
    "CLOUD_ACCOUNT_NOT_ACTIVE",
];

/// The provider's HTTP timeout in the checker: far above any answer of the in-process emulator,
/// below [`SLOW_ANSWER_MS`].
const HTTP_TIMEOUT: Duration = Duration::from_millis(1_000);
/// A write applied and then answered this late leaves the provider not knowing it landed.
const SLOW_ANSWER_MS: u64 = 1_500;

/// What the emulator under test accepts (emu-faults adds the second and third).
#[derive(Clone, Copy, Debug, Default)]
struct EmuCaps {
    commit_5xx: bool,
    huge_retry_after: bool,
}

// ------------------------------------------------------------------ the simulation

struct Address {
    label: &'static str,
    inst: Instance,
    desired: Option<Desired>,
}

#[derive(Clone, Debug, PartialEq)]
struct ForeignAccount {
    id: i64,
    name: String,
    provider: String,
    key: String,
    status: String,
}

struct Sim {
    seed: u64,
    rng: StdRng,
    emu: RunningEmulator,
    http: reqwest::Client,
    server: Arc<Server>,
    addrs: Vec<Address>,
    foreign: Vec<ForeignAccount>,
    /// Other clients' accounts the provider cannot tell from its own (see invariant 2), by id:
    /// what made them.
    twins: BTreeMap<i64, String>,
    /// The address last noted as holding a twin.
    twins_held: BTreeMap<i64, &'static str>,
    /// Interposed creates' tasks already registered.
    interposed_tasks: BTreeSet<String>,
    /// This step's interpositions: the tasks that existed before them, and the intents (name,
    /// key, provider) of the step's creates.
    interposing: Option<StepCreates>,
    log: Vec<String>,
    counter: u64,
    caps: EmuCaps,
    baseline: Json,
    totals: Totals,
}

/// What a step that interposes another client's create knows of its own creates.
struct StepCreates {
    tasks_before: BTreeSet<String>,
    intents: Vec<(String, String, String)>,
}

/// Runs one seed; `Some(report)` on the first step that violates an invariant.
async fn run_seed(seed: u64, steps: usize) -> SeedResult {
    let began = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let stage = rng.random_range(5..=20);
    let cfg = EmulatorConfig {
        port: 0,
        api_key: API_KEY.to_owned(),
        secret_key: SECRET_KEY.to_owned(),
        task_stage_ms: stage,
        activation_ms: 10,
        task_404_ms: rng.random_range(0..=20),
        // Half the seeds see new tasks report `initialized` before `received`.
        initialized_ms: if rng.random_bool(0.5) {
            rng.random_range(1..=30)
        } else {
            0
        },
        delete_ms: 5,
        rate_limit_per_minute: 1_000_000,
        quiet: true,
        ..EmulatorConfig::default()
    };
    let baseline = json!({
        "task_stage_ms": cfg.task_stage_ms,
        "task_404_ms": cfg.task_404_ms,
        "final_status": "active",
        "final_status_count": null,
        "account_404_ms": 0,
        "list_lag_ms": 0,
        "task_retention_ms": TASK_RETENTION_MS,
    });
    let emu = match rediscloud_emulator::start(cfg).await {
        Ok(e) => e,
        Err(e) => {
            return (
                Totals::default(),
                Some(format!("emulator did not start: {e}")),
            );
        }
    };
    let server = Arc::new(new_server());
    if let Err(e) = configure(&server, &emu.base_url()).await {
        return (Totals::default(), Some(format!("ConfigureProvider: {e}")));
    }
    let mut sim = Sim {
        seed,
        rng,
        emu,
        http: reqwest::Client::new(),
        server,
        addrs: ADDRESSES
            .iter()
            .map(|label| Address {
                label,
                inst: Instance::default(),
                desired: None,
            })
            .collect(),
        foreign: Vec::new(),
        twins: BTreeMap::new(),
        twins_held: BTreeMap::new(),
        interposed_tasks: BTreeSet::new(),
        interposing: None,
        log: Vec::new(),
        counter: 0,
        caps: EmuCaps::default(),
        baseline,
        totals: Totals::default(),
    };
    sim.caps = sim.probe_caps().await;
    let mut failure = None;
    for step in 1..=steps {
        sim.totals.steps += 1;
        let violations = sim.step(step).await;
        if !violations.is_empty() {
            // The emulator's request log (method, path, status, whether applied; never bodies)
            // shows what the provider sent and what it was told.
            let requests = sim.admin_get("/requests").await;
            let mut report = sim.report(&violations);
            if let Some(list) = requests["requests"].as_array() {
                let _ = write!(
                    report,
                    "\n--- emulator requests (last {}):",
                    list.len().min(60)
                );
                for r in list.iter().skip(list.len().saturating_sub(60)) {
                    let _ = write!(report, "\n    {r}");
                }
            }
            failure = Some(report);
            break;
        }
    }
    if failure.is_none() && std::env::var_os("LIFECYCLE_VERBOSE").is_some() {
        eprintln!("===== seed {seed} passed =====\n{}", sim.log.join("\n"));
    }
    let Sim {
        emu, mut totals, ..
    } = sim;
    emu.shutdown().await;
    totals.slowest = (began.elapsed().as_secs_f64(), seed);
    (totals, failure)
}

/// The operations a step can run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Create,
    Rename,
    RotatePlain,
    RotateWriteOnly,
    Replace,
    Import,
    Refresh,
    Destroy,
    ConcurrentCreate { same_name: bool },
    Foreign,
    CreateWithForeignName,
    Restart,
    Reapply,
}

impl Sim {
    fn fresh(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn new_desired(&mut self) -> Desired {
        let n = self.fresh();
        let seed = self.seed;
        let provider = if self.rng.random_bool(0.75) {
            "AWS"
        } else {
            "GCP"
        };
        let wo = self.rng.random_bool(0.4);
        let cred = |s: String| {
            if wo {
                Cred::WriteOnly(s, 1)
            } else {
                Cred::Plain(s)
            }
        };
        Desired {
            name: format!("lc-{seed}-{n}"),
            provider,
            key_id: format!("AKIALC{seed}X{n}"),
            secret: cred(format!("secret-{n}")),
            password: cred(format!("password-{n}")),
            timeout: NORMAL_TIMEOUT,
        }
    }

    fn free(&self) -> Vec<usize> {
        (0..self.addrs.len())
            .filter(|i| self.addrs[*i].inst.state.is_null())
            .collect()
    }

    fn held(&self) -> Vec<usize> {
        (0..self.addrs.len())
            .filter(|i| !self.addrs[*i].inst.state.is_null() && self.addrs[*i].desired.is_some())
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.random_range(0..from.len())])
    }

    fn choose_op(&mut self) -> Op {
        let r = self.rng.random_range(0..100);
        let op = match r {
            0..=16 => Op::Create,
            17..=25 => Op::Rename,
            26..=34 => Op::RotatePlain,
            35..=43 => Op::RotateWriteOnly,
            44..=50 => Op::Replace,
            51..=55 => Op::Import,
            56..=59 => Op::Refresh,
            60..=68 => Op::Destroy,
            69..=77 => Op::ConcurrentCreate {
                same_name: self.rng.random_bool(0.5),
            },
            78..=83 => Op::Foreign,
            84..=90 => Op::CreateWithForeignName,
            91..=94 => Op::Restart,
            _ => Op::Reapply,
        };
        // Fall back to something possible in the current state.
        let free = self.free().len();
        let held = self.held().len();
        match op {
            Op::Create if free == 0 => Op::Destroy,
            Op::ConcurrentCreate { .. } if free < 2 => {
                if held > 0 {
                    Op::Destroy
                } else {
                    Op::Create
                }
            }
            Op::CreateWithForeignName if self.foreign.is_empty() => Op::Foreign,
            Op::CreateWithForeignName if free == 0 => Op::Destroy,
            Op::Rename | Op::RotatePlain | Op::RotateWriteOnly | Op::Replace | Op::Destroy
                if held == 0 =>
            {
                Op::Create
            }
            Op::Import if held == 0 || free == 0 => Op::Reapply,
            op => op,
        }
    }

    /// A step's faults; `creates` are the addresses whose apply may POST a create (another
    /// client's create can only be interposed on those).
    fn choose_faults(&mut self, op: Op, creates: &[usize]) -> Vec<Fault> {
        if matches!(op, Op::Foreign | Op::Restart) {
            return Vec::new();
        }
        let n = match self.rng.random_range(0..100) {
            0..=29 => 0,
            30..=74 => 1,
            _ => 2,
        };
        let own_method = match op {
            Op::Create | Op::ConcurrentCreate { .. } | Op::CreateWithForeignName => "POST",
            Op::Destroy => "DELETE",
            Op::Replace => {
                if self.rng.random_bool(0.5) {
                    "DELETE"
                } else {
                    "POST"
                }
            }
            Op::Rename | Op::RotatePlain | Op::RotateWriteOnly => "PUT",
            _ => "GET",
        };
        let mut faults = Vec::new();
        for _ in 0..n {
            let method = if self.rng.random_bool(0.7) {
                own_method
            } else {
                ["POST", "PUT", "DELETE", "GET"][self.rng.random_range(0..4)]
            };
            let count = if self.rng.random_bool(0.75) { 1 } else { 2 };
            let prefix = "/v1/cloud-accounts";
            let f = match self.rng.random_range(0..15) {
                0 => Fault::Http(
                    json!({"drop": "before_commit", "method": method, "path_prefix": prefix, "count": count}),
                ),
                1 | 2 => Fault::Http(
                    json!({"drop": "after_commit", "method": method, "path_prefix": prefix, "count": count}),
                ),
                3 => {
                    let status = [500, 503][self.rng.random_range(0..2)];
                    Fault::Http(json!({
                        "status": status, "method": method, "path_prefix": prefix, "count": count,
                    }))
                }
                4 if self.caps.commit_5xx && self.rng.random_bool(0.3) => {
                    if self.rng.random_bool(0.5) {
                        // Applied, then answered after the client's HTTP timeout.
                        Fault::Http(json!({
                            "latency_ms": SLOW_ANSWER_MS, "commit": true,
                            "method": method, "path_prefix": prefix, "count": count,
                        }))
                    } else {
                        // Answered 504 at once, applied later: before or after the grace.
                        let late_ms = self.rng.random_range(20..=900);
                        Fault::Http(json!({
                            "status": 504, "commit_after_ms": late_ms,
                            "method": method, "path_prefix": prefix, "count": count,
                        }))
                    }
                }
                4 if self.caps.commit_5xx => {
                    let status = [408, 500, 502, 503, 504][self.rng.random_range(0..5)];
                    Fault::Http(json!({
                        "status": status, "commit": true,
                        "method": method, "path_prefix": prefix, "count": count,
                    }))
                }
                4 | 5 => {
                    let mut f = json!({"status": 429, "method": method, "path_prefix": "/v1/", "count": self.rng.random_range(1..=3)});
                    match self.rng.random_range(0..10) {
                        0..=2 => {}
                        3..=5 => f["retry_after_s"] = json!(0),
                        6..=7 => f["retry_after_s"] = json!(1),
                        8 if self.caps.huge_retry_after => {
                            f["retry_after_s"] = serde_json::from_str("1e20").expect("number")
                        }
                        // Longer than any timeout the checker sets.
                        _ => f["retry_after_s"] = json!(10),
                    }
                    Fault::Http(f)
                }
                6 => {
                    let ms = [100, 250, 600, 1500][self.rng.random_range(0..4)];
                    Fault::Knobs(json!({ "task_404_ms": ms }))
                }
                7 => Fault::TaskError(
                    TASK_ERRORS[self.rng.random_range(0..TASK_ERRORS.len())],
                    self.rng.random_bool(0.3),
                ),
                8 => {
                    let status = ["error", "active-error"][self.rng.random_range(0..2)];
                    Fault::Knobs(json!({ "final_status": status, "final_status_count": 1 }))
                }
                9 => Fault::SlowQueue(self.rng.random_range(400..=1200)),
                10 => Fault::Stop(Duration::from_millis(self.rng.random_range(5..=500))),
                11 | 12 if !creates.is_empty() => Fault::Interpose(self.interpose()),
                11..=13 => self.lag(),
                _ => {
                    // Tasks leave the API's sight after a few hundred ms at most (they still run).
                    let ms = [0, 50, 200, 500][self.rng.random_range(0..4)];
                    Fault::Lag(
                        json!({ "task_retention_ms": ms }),
                        self.rng.random_bool(0.5),
                    )
                }
            };
            faults.push(f);
        }
        // Other clients create often: a create step sees one in a fifth of the cases more.
        if !creates.is_empty() && self.rng.random_bool(0.2) {
            let f = Fault::Interpose(self.interpose());
            faults.push(f);
        }
        faults
    }

    fn interpose(&mut self) -> Interpose {
        let companion = match self.rng.random_range(0..10) {
            0..=3 => None,
            4 | 5 => Some(json!({"drop": "before_commit"})),
            6 | 7 => Some(json!({"drop": "after_commit"})),
            8 if self.caps.commit_5xx => Some(json!({"status": 502, "commit": true})),
            _ => {
                let status = [500, 503][self.rng.random_range(0..2)];
                Some(json!({ "status": status }))
            }
        };
        Interpose {
            same_name: self.rng.random_bool(0.5),
            same_key: self.rng.random_bool(0.5),
            same_provider: self.rng.random_bool(0.85),
            before: self.rng.random_bool(0.5),
            companion,
        }
    }

    /// Reads of new accounts lag: by id, then in the list (sometimes one of the two only).
    fn lag(&mut self) -> Fault {
        let mut ms = || self.rng.random_range(200..=1_500u64);
        let (by_id, list) = (ms(), ms());
        let patch = match self.rng.random_range(0..4) {
            0 => json!({ "account_404_ms": by_id }),
            1 => json!({ "list_lag_ms": list }),
            _ => json!({ "account_404_ms": by_id, "list_lag_ms": list }),
        };
        Fault::Lag(patch, self.rng.random_bool(0.4))
    }

    /// The addresses of `targets` whose apply may POST a create: those without an account yet
    /// (a pending create may be sent again) and those being replaced.
    fn create_targets(&self, op: Op, targets: &[usize]) -> Vec<usize> {
        if op == Op::Destroy {
            return Vec::new();
        }
        targets
            .iter()
            .copied()
            .filter(|&i| {
                op == Op::Replace
                    || self.addrs[i]
                        .inst
                        .id()
                        .is_none_or(|id| id.parse::<i64>().is_err())
            })
            .collect()
    }

    /// The admin fault bodies of an interposition on the POST of `target`'s create.
    fn resolve_interpose(&mut self, i: &Interpose, target: usize) -> Vec<Json> {
        let n = self.fresh();
        let seed = self.seed;
        let d = self.addrs[target]
            .desired
            .clone()
            .expect("a create target has a desired config");
        let name = if i.same_name {
            d.name.clone()
        } else {
            format!("other-{seed}-{n}")
        };
        let key = if i.same_key {
            d.key_id.clone()
        } else {
            format!("AKIAOTHER{seed}X{n}")
        };
        let provider = match (i.same_provider, d.provider) {
            (true, p) => p,
            (false, "AWS") => "GCP",
            (false, _) => "AWS",
        };
        let on = json!({"method": "POST", "path_prefix": "/v1/cloud-accounts", "count": 1});
        let mut write = json!({
            "interpose": {"name": name, "access_key_id": key, "provider": provider},
            "when": if i.before { "before" } else { "after" },
        });
        if i.same_key {
            // An access key belongs to one AWS account, whose sign-in URL is ours too.
            write["interpose"]["sign_in_login_url"] = json!(LOGIN_URL);
        }
        merge(&mut write, &on);
        let mut out = vec![write];
        if let Some(c) = &i.companion {
            let mut c = c.clone();
            merge(&mut c, &on);
            out.push(c);
        }
        out
    }

    /// Runs one step and returns its violations (empty when every invariant holds).
    async fn step(&mut self, step: usize) -> Vec<String> {
        let op = self.choose_op();
        let mut line = format!("step {step}: {op:?}");
        let plan = self.prepare(op, &mut line);
        let creates = plan
            .as_deref()
            .map(|t| self.create_targets(op, t))
            .unwrap_or_default();
        let mut faults = self.choose_faults(op, &creates);
        // Interpositions (each with its companion) first: the first POST gets them all, and the
        // companion is that POST's one status or drop fault.
        faults.sort_by_key(|f| !matches!(f, Fault::Interpose(_)));
        self.interposing = None;
        let mut stop = None;
        let mut short = false;
        for f in &faults {
            let accepted = match f {
                Fault::Http(body) => self.admin_post("/faults", body).await,
                Fault::Knobs(patch) => self.admin_put_config(patch).await,
                Fault::TaskError(ty, after_create) => {
                    self.admin_post(
                        "/task-errors",
                        &json!({"type": ty, "count": 1, "after_create": after_create}),
                    )
                    .await
                }
                Fault::SlowQueue(ms) => {
                    short = true;
                    self.admin_put_config(&json!({"task_stage_ms": ms})).await
                }
                Fault::Stop(d) => {
                    stop = Some(*d);
                    true
                }
                Fault::Lag(patch, short_timeouts) => {
                    short |= *short_timeouts;
                    self.admin_put_config(patch).await
                }
                Fault::Interpose(i) => {
                    if self.interposing.is_none() {
                        // Which tasks are older than the step's creates (see `register_interposed`).
                        let tasks_before = match self.admin_state().await {
                            Ok(s) => s["tasks"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                                .collect(),
                            Err(e) => return vec![format!("CHECKER: {e}")],
                        };
                        let intents = creates
                            .iter()
                            .filter_map(|&t| self.addrs[t].desired.as_ref())
                            .map(|d| (d.name.clone(), d.key_id.clone(), d.provider.to_owned()))
                            .collect();
                        self.interposing = Some(StepCreates {
                            tasks_before,
                            intents,
                        });
                    }
                    let target = self.pick(&creates).expect("interposed only on creates");
                    let bodies = self.resolve_interpose(i, target);
                    let mut all = true;
                    for (k, b) in bodies.iter().enumerate() {
                        all &= self.admin_post("/faults", b).await;
                        let _ = write!(line, "\n    fault: {b}");
                        if k == 0 {
                            let _ = write!(line, " (on [{}]'s create)", self.addrs[target].label);
                        } else {
                            let _ = write!(line, " (on the same POST)");
                        }
                    }
                    if all {
                        self.totals.faults += 1;
                    } else {
                        let _ = write!(line, "\n    fault REJECTED by the emulator (above)");
                    }
                    continue;
                }
            };
            if accepted {
                self.totals.faults += 1;
                let _ = write!(line, "\n    fault: {}", f.describe());
            } else {
                let _ = write!(
                    line,
                    "\n    fault REJECTED by the emulator: {}",
                    f.describe()
                );
            }
        }
        let outcomes = match plan {
            Some(targets) => self.execute(op, targets, stop, short, &mut line).await,
            None => self.run_special(op, &mut line).await,
        };
        for (label, o) in &outcomes {
            for t in &o.trace {
                let _ = write!(line, "\n    [{label}] {t}");
            }
            for e in &o.errors {
                let _ = write!(line, "\n    [{label}] error: {}", truncate(e, 300));
            }
            let inst = &self.addr(label).inst;
            let _ = write!(
                line,
                "\n    [{label}] state: {}{}",
                inst.id().unwrap_or("none"),
                if inst.tainted { " (tainted)" } else { "" }
            );
        }
        self.log.push(line);
        let mut violations: Vec<String> = outcomes
            .iter()
            .flat_map(|(label, o)| o.violations.iter().map(move |v| format!("[{label}] {v}")))
            .map(|v| classify(&v))
            .collect();
        violations.extend(self.check(&outcomes).await);
        violations
    }

    fn addr(&self, label: &str) -> &Address {
        self.addrs
            .iter()
            .find(|a| a.label == label)
            .expect("known address")
    }

    /// Sets the desired configuration an apply or destroy works towards and returns its
    /// addresses; `None` for the operations [`Sim::run_special`] runs.
    fn prepare(&mut self, op: Op, line: &mut String) -> Option<Vec<usize>> {
        let mut targets: Vec<usize> = Vec::new();
        match op {
            Op::Create => {
                let free = self.free();
                if let Some(i) = self.pick(&free) {
                    let d = self.new_desired();
                    self.addrs[i].desired = Some(d);
                    targets.push(i);
                }
            }
            Op::ConcurrentCreate { same_name } => {
                let mut free = self.free();
                let Some(i) = self.pick(&free) else {
                    return Some(targets);
                };
                free.retain(|x| *x != i);
                let Some(j) = self.pick(&free) else {
                    return Some(targets);
                };
                let di = self.new_desired();
                let mut dj = self.new_desired();
                if same_name {
                    dj.name = di.name.clone();
                }
                self.addrs[i].desired = Some(di);
                self.addrs[j].desired = Some(dj);
                targets.extend([i, j]);
            }
            Op::CreateWithForeignName => {
                let free = self.free();
                let Some(i) = self.pick(&free) else {
                    return Some(targets);
                };
                let f = self.foreign[self.rng.random_range(0..self.foreign.len())].clone();
                let mut d = self.new_desired();
                d.name = f.name.clone();
                let _ = write!(line, " (name of foreign account {})", f.id);
                self.addrs[i].desired = Some(d);
                targets.push(i);
            }
            Op::Rename | Op::RotatePlain | Op::RotateWriteOnly | Op::Replace => {
                let held = self.held();
                let Some(i) = self.pick(&held) else {
                    return Some(targets);
                };
                let n = self.fresh();
                let change_key = self.rng.random_bool(0.3);
                let both = self.rng.random_bool(0.5);
                let seed = self.seed;
                let d = self.addrs[i].desired.as_mut().expect("held has desired");
                match op {
                    Op::Rename => d.name = format!("lc-{seed}-{n}"),
                    Op::RotatePlain => {
                        d.secret = Cred::Plain(format!("secret-{n}"));
                        if both {
                            d.password = Cred::Plain(format!("password-{n}"));
                        }
                        if change_key {
                            d.key_id = format!("AKIALC{seed}X{n}");
                        }
                    }
                    Op::RotateWriteOnly => {
                        let bump = |c: &Cred, s: String| match c {
                            Cred::WriteOnly(_, v) => Cred::WriteOnly(s, v + 1),
                            Cred::Plain(_) => Cred::WriteOnly(s, 1),
                        };
                        d.secret = bump(&d.secret, format!("secret-{n}"));
                        if both {
                            d.password = bump(&d.password, format!("password-{n}"));
                        }
                    }
                    _ => {
                        d.provider = if d.provider == "AWS" { "GCP" } else { "AWS" };
                    }
                }
                targets.push(i);
            }
            Op::Reapply => {
                targets.extend((0..self.addrs.len()).filter(|i| self.addrs[*i].desired.is_some()))
            }
            Op::Destroy => {
                let held = self.held();
                if let Some(i) = self.pick(&held) {
                    targets.push(i);
                }
            }
            Op::Refresh | Op::Import | Op::Foreign | Op::Restart => return None,
        }
        Some(targets)
    }

    /// Refresh, `state rm` + import, a foreign account, a provider restart.
    async fn run_special(&mut self, op: Op, line: &mut String) -> Vec<(&'static str, Outcome)> {
        match op {
            Op::Refresh => {
                let server = self.server.clone();
                let core = Core { server: &server };
                let mut outs = Vec::new();
                for a in &mut self.addrs {
                    let mut out = Outcome::default();
                    if !a.inst.state.is_null() {
                        core.refresh(&mut a.inst, &mut out).await;
                        outs.push((a.label, out));
                    }
                }
                outs
            }
            Op::Import => {
                // Only a numeric id can be imported (not a pending one).
                let mut held = self.held();
                held.retain(|i| {
                    self.addrs[*i]
                        .inst
                        .id()
                        .is_some_and(|id| id.parse::<i64>().is_ok())
                });
                let free = self.free();
                let (Some(from), Some(to)) = (self.pick(&held), self.pick(&free)) else {
                    return Vec::new();
                };
                let Some(id) = self.addrs[from].inst.id().map(str::to_owned) else {
                    return Vec::new();
                };
                let _ = write!(
                    line,
                    " (state rm {} id {id}; import into {})",
                    self.addrs[from].label, self.addrs[to].label
                );
                let kept = std::mem::take(&mut self.addrs[from].inst);
                let desired = self.addrs[from].desired.take();
                let server = self.server.clone();
                let core = Core { server: &server };
                let mut out = Outcome::default();
                core.import(&mut self.addrs[to].inst, &id, &mut out).await;
                if self.addrs[to].inst.state.is_null() {
                    // The import failed: the user puts the state back as it was.
                    self.addrs[from].inst = kept;
                    self.addrs[from].desired = desired;
                    let _ = write!(line, "; import failed, state restored");
                } else {
                    self.addrs[to].desired = desired;
                }
                vec![(self.addrs[to].label, out)]
            }
            Op::Foreign => {
                match self.create_foreign(None).await {
                    Ok(f) => {
                        let _ = write!(line, " -> foreign account {} {:?}", f.id, f.name);
                        self.foreign.push(f);
                    }
                    Err(e) => {
                        let _ = write!(line, " -> could not create a foreign account: {e}");
                    }
                }
                Vec::new()
            }
            Op::Restart => {
                let server = Arc::new(new_server());
                if let Err(e) = configure(&server, &self.emu.base_url()).await {
                    let mut out = Outcome::default();
                    out.violations
                        .push(format!("ConfigureProvider after restart: {e}"));
                    return vec![("provider", out)];
                }
                self.server = server;
                Vec::new()
            }
            _ => unreachable!("{op:?} is an apply or a destroy"),
        }
    }

    /// Applies (or destroys) the targets at once, under `short` timeouts when a fault wants them.
    async fn execute(
        &mut self,
        op: Op,
        targets: Vec<usize>,
        stop: Option<Duration>,
        short: bool,
        line: &mut String,
    ) -> Vec<(&'static str, Outcome)> {
        let timeout = if short { SHORT_TIMEOUT } else { NORMAL_TIMEOUT };
        for &i in &targets {
            if let Some(d) = self.addrs[i].desired.as_mut() {
                d.timeout = timeout;
            }
            let a = &self.addrs[i];
            let d = a.desired.as_ref().expect("target has a desired config");
            let _ = write!(
                line,
                "\n    [{}] {} {} key {} secret {} password {}",
                a.label,
                d.name,
                d.provider,
                d.key_id,
                cred_kind(&d.secret),
                cred_kind(&d.password)
            );
        }
        let server = self.server.clone();
        let mut work: Vec<(usize, Instance, Value)> = targets
            .iter()
            .map(|&i| {
                let cfg = config_value(self.addrs[i].desired.as_ref().expect("desired"));
                (i, std::mem::take(&mut self.addrs[i].inst), cfg)
            })
            .collect();
        let destroy = op == Op::Destroy;
        let ops = work.iter_mut().map(|(_, inst, cfg)| {
            let server = &server;
            async move {
                let core = Core { server };
                let mut out = Outcome::default();
                if destroy {
                    core.destroy(inst, &mut out).await;
                } else {
                    core.apply(inst, cfg, &mut out).await;
                }
                out
            }
        });
        let all = futures::future::join_all(ops);
        let outs = match stop {
            None => all.await,
            Some(after) => {
                let stopper = async {
                    tokio::time::sleep(after).await;
                    let _ = server
                        .stop_provider(tonic::Request::new(pb::stop_provider::Request {}))
                        .await;
                };
                tokio::join!(all, stopper).0
            }
        };
        let mut result = Vec::new();
        for ((i, inst, _), out) in work.into_iter().zip(outs) {
            self.addrs[i].inst = inst;
            if destroy && self.addrs[i].inst.state.is_null() {
                self.addrs[i].desired = None;
            }
            // The next apply goes back to normal timeouts (a timeouts-only update).
            if let Some(d) = self.addrs[i].desired.as_mut() {
                d.timeout = NORMAL_TIMEOUT;
            }
            result.push((self.addrs[i].label, out));
        }
        result
    }

    // -------------------------------------------------------------- invariants

    async fn check(&mut self, outcomes: &[(&'static str, Outcome)]) -> Vec<String> {
        let mut v = Vec::new();
        if let Err(e) = self.settle().await {
            v.push(format!("CHECKER: {e}"));
            return v;
        }
        let (admin, api) = match (self.admin_state().await, self.api_accounts().await) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                v.push(format!("CHECKER: {e}"));
                return v;
            }
        };
        let tasks = admin["tasks"].as_array().cloned().unwrap_or_default();
        v.extend(self.register_interposed(&tasks, &api).await);
        // Which account each address's state holds.
        let mut holders: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        let foreign_ids: Vec<i64> = self.foreign.iter().map(|f| f.id).collect();
        for a in &self.addrs {
            let Some(id) = a.inst.id() else { continue };
            if let Some(n) = held_account(&a.inst, id, &tasks, &api, &foreign_ids) {
                holders.entry(n).or_default().push(a.label);
            }
        }
        // 2: accounts the provider did not create are untouched and in no state, after every
        // step (twins excepted, see the header).
        for f in &self.foreign {
            match api.get(&f.id) {
                None => v.push(format!(
                    "INVARIANT 2 (foreign deleted): foreign account {} {:?} no longer exists",
                    f.id, f.name
                )),
                Some(now) => {
                    let seen = foreign_view(now);
                    if &seen != f {
                        v.push(format!(
                            "INVARIANT 2 (foreign changed): foreign account {} was {f:?}, is now {seen:?}",
                            f.id
                        ));
                    }
                }
            }
            if let Some(by) = holders.get(&f.id) {
                v.push(format!(
                    "INVARIANT 2 (foreign adopted): foreign account {} {:?} is in the state of {}",
                    f.id,
                    f.name,
                    by.join(", ")
                ));
            }
        }
        for (id, what) in &self.twins {
            if let Some(by) = holders.get(id).filter(|by| by.len() == 1) {
                if self.twins_held.insert(*id, by[0]) == Some(by[0]) {
                    continue; // noted already
                }
                let note = format!(
                    "    note: account {id} ({what}) is in the state of {}: indistinguishable from the provider's own create, the documented residual risk",
                    by[0]
                );
                if let Some(last) = self.log.last_mut() {
                    last.push('\n');
                    last.push_str(&note);
                }
            }
        }
        // 1: every live account the provider created is in exactly one state.
        for (id, acc) in &api {
            let foreign = self.foreign.iter().any(|f| f.id == *id);
            if *id == 1 || foreign || acc["status"] == "deleted" {
                continue;
            }
            match holders.get(id).map_or(0, Vec::len) {
                // A twin is another client's: no state need hold it.
                0 if self.twins.contains_key(id) => {}
                0 => v.push(format!(
                    "INVARIANT 1 (orphaned): account {id} {} ({}) exists but no state holds it",
                    acc["name"], acc["status"]
                )),
                1 => {}
                _ => v.push(format!(
                    "INVARIANT 1 (taken twice): account {id} is in the states of {}",
                    holders[id].join(", ")
                )),
            }
        }
        // 3: a successful apply leaves state equal to the API.
        for (label, o) in outcomes {
            if !o.applied_ok || o.failed() {
                continue;
            }
            let state = &self.addr(label).inst.state;
            let Some(id) = state
                .attr("id")
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
            else {
                v.push(format!(
                    "INVARIANT 3 (state differs from API): [{label}] applied without errors but its id is {:?}",
                    state.attr("id")
                ));
                continue;
            };
            let Some(acc) = api.get(&id) else {
                v.push(format!(
                    "INVARIANT 3 (state differs from API): [{label}] applied without errors, but account {id} does not exist"
                ));
                continue;
            };
            for (attr, field) in [
                ("name", "name"),
                ("provider_type", "provider"),
                ("access_key_id", "accessKeyId"),
                ("status", "status"),
                ("aws_console_role_arn", "awsConsoleRoleArn"),
                ("aws_user_arn", "awsUserArn"),
                ("sign_in_login_url", "signInLoginUrl"),
            ] {
                let api_value = acc[field].as_str();
                if attr == "sign_in_login_url" && api_value.is_none() {
                    continue; // not returned for every account
                }
                if state.attr(attr).as_str() != api_value {
                    v.push(format!(
                        "INVARIANT 3 (state differs from API): [{label}] account {id}: state {attr} = {:?}, API {field} = {api_value:?}",
                        state.attr(attr).as_str()
                    ));
                }
            }
        }
        v
    }

    /// Registers every account another client's interposed create made since the last step as
    /// foreign (or as a twin, see the header), and reports one the provider already deleted or
    /// changed. The request log names the interposed writes' tasks; the tasks name the accounts.
    async fn register_interposed(
        &mut self,
        tasks: &[Json],
        api: &BTreeMap<i64, Json>,
    ) -> Vec<String> {
        let mut v = Vec::new();
        let requests = self.admin_get("/requests").await;
        let Some(list) = requests["requests"].as_array() else {
            return vec![format!(
                "CHECKER: GET /admin/requests: {}",
                truncate(&requests.to_string(), 200)
            )];
        };
        let new: Vec<String> = list
            .iter()
            .filter(|r| r["interposed"] == true)
            .filter_map(|r| r["taskId"].as_str())
            .filter(|t| !self.interposed_tasks.contains(*t))
            .map(str::to_owned)
            .collect();
        self.interposed_tasks.extend(new.iter().cloned());
        let mut notes = Vec::new();
        for task_id in new {
            let Some((pos, task)) = tasks
                .iter()
                .enumerate()
                .find(|(_, t)| t["id"].as_str() == Some(&task_id))
            else {
                v.push(format!(
                    "CHECKER: the interposed task {task_id} is not in /admin/state"
                ));
                continue;
            };
            let Some(id) = task["accountId"]
                .as_i64()
                .filter(|_| task["command"] == "cloudAccountCreateRequest")
            else {
                notes.push(format!(
                    "another client's task {task_id} made no account ({}{})",
                    task["status"].as_str().unwrap_or("?"),
                    task["error"]
                        .as_str()
                        .map(|e| format!(", {e}"))
                        .unwrap_or_default()
                ));
                continue;
            };
            let c = &task["changes"];
            let (name, key, provider) = (
                c["name"].as_str().unwrap_or_default(),
                c["accessKeyId"].as_str().unwrap_or_default(),
                c["provider"].as_str().unwrap_or("AWS"),
            );
            // A twin carries the intent of one of this step's creates, and no create of ours
            // with that name and key was queued in this step before it: our POST was applied
            // after it or never, and the provider cannot tell it from its own.
            let twin = self.interposing.as_ref().is_some_and(|step| {
                step.intents
                    .iter()
                    .any(|(n, k, p)| n == name && k == key && p == provider)
                    && !tasks[..pos].iter().any(|t| {
                        let id = t["id"].as_str().unwrap_or_default();
                        t["command"] == "cloudAccountCreateRequest"
                            && !step.tasks_before.contains(id)
                            && !self.interposed_tasks.contains(id)
                            && t["changes"]["name"].as_str() == Some(name)
                            && t["changes"]["accessKeyId"].as_str() == Some(key)
                    })
            });
            let what =
                format!("another client's create {name:?} {provider} key {key}, task {task_id}");
            notes.push(format!(
                "account {id}: {what}{}",
                if twin { " — a twin of ours" } else { "" }
            ));
            if twin {
                self.twins.insert(id, what);
                continue;
            }
            let Some(acc) = api
                .get(&id)
                .filter(|a| !matches!(a["status"].as_str(), Some("deleted" | "delete-draft")))
            else {
                v.push(format!(
                    "INVARIANT 2 (foreign deleted): account {id}, {what}, was deleted"
                ));
                continue;
            };
            let seen = foreign_view(acc);
            if (
                seen.name.as_str(),
                seen.key.as_str(),
                seen.provider.as_str(),
            ) != (name, key, provider)
            {
                v.push(format!(
                    "INVARIANT 2 (foreign changed): account {id}, {what}, is now {seen:?}"
                ));
            }
            self.foreign.push(seen);
        }
        if let Some(last) = self.log.last_mut() {
            for n in notes {
                let _ = write!(last, "\n    interposed: {n}");
            }
        }
        v
    }

    /// Clears faults, restores the knobs, and waits (bounded) until no task is queued or running
    /// and no account is between statuses.
    async fn settle(&mut self) -> Result<(), String> {
        let url = format!("{}/faults", self.emu.admin_url());
        self.http
            .delete(url)
            .send()
            .await
            .map_err(|e| format!("clearing faults: {e}"))?;
        let baseline = self.baseline.clone();
        if !self.admin_put_config(&baseline).await {
            return Err("restoring the emulator's knobs failed".to_owned());
        }
        let started = Instant::now();
        loop {
            let s = self.admin_state().await?;
            let busy_task = s["tasks"].as_array().into_iter().flatten().any(|t| {
                matches!(
                    t["status"].as_str(),
                    Some("received" | "processing-in-progress")
                )
            });
            let busy_account = s["accounts"].as_array().into_iter().flatten().any(|a| {
                a["status"]
                    .as_str()
                    .is_some_and(|st| TRANSITIONAL.contains(&st))
            });
            // A write answered already and still to be applied (a late commit) lands first.
            let late = s["lateCommitsInFlight"].as_u64().unwrap_or(0) > 0;
            // New accounts are found by id and listed, and the list shows every update and
            // delete (the emulator's clock is this machine's).
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let lagging = s["accounts"].as_array().into_iter().flatten().any(|a| {
                a["visibleMs"].as_u64().unwrap_or(0) > now
                    || a["listedMs"].as_u64().unwrap_or(0) > now
                    || a["listedAs"]["untilMs"].as_u64().unwrap_or(0) > now
            });
            if !busy_task && !busy_account && !late && !lagging {
                return Ok(());
            }
            if started.elapsed() > QUIESCE {
                return Err(format!(
                    "the emulator did not quiesce within {QUIESCE:?}: {}",
                    truncate(&s.to_string(), 2000)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn report(&self, violations: &[String]) -> String {
        let mut r = String::new();
        for v in violations {
            let _ = writeln!(r, "{v}");
        }
        let _ = writeln!(r, "--- step log (seed {}):", self.seed);
        for l in &self.log {
            let _ = writeln!(r, "{l}");
        }
        let _ = write!(r, "replay: {}", replay(self.seed));
        r
    }

    // -------------------------------------------------------------- emulator access

    async fn admin_post(&self, path: &str, body: &Json) -> bool {
        let url = format!("{}{path}", self.emu.admin_url());
        matches!(
            self.http.post(url).json(body).send().await,
            Ok(r) if r.status().is_success()
        )
    }

    async fn admin_put_config(&self, patch: &Json) -> bool {
        let url = format!("{}/config", self.emu.admin_url());
        matches!(
            self.http.put(url).json(patch).send().await,
            Ok(r) if r.status().is_success()
        )
    }

    /// An admin API answer, or `null` when it cannot be had.
    async fn admin_get(&self, path: &str) -> Json {
        let url = format!("{}{path}", self.emu.admin_url());
        match self.http.get(url).send().await {
            Ok(r) => r.json().await.unwrap_or(Json::Null),
            Err(_) => Json::Null,
        }
    }

    async fn admin_state(&self) -> Result<Json, String> {
        let url = format!("{}/state", self.emu.admin_url());
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET /admin/state: {e}"))?;
        r.json().await.map_err(|e| format!("GET /admin/state: {e}"))
    }

    /// Every account as the public API shows it, by id.
    async fn api_accounts(&self) -> Result<BTreeMap<i64, Json>, String> {
        let r = self
            .http
            .get(format!("{}/cloud-accounts", self.emu.base_url()))
            .header("x-api-key", API_KEY)
            .header("x-api-secret-key", SECRET_KEY)
            .send()
            .await
            .map_err(|e| format!("GET /v1/cloud-accounts: {e}"))?;
        let body: Json = r
            .json()
            .await
            .map_err(|e| format!("GET /v1/cloud-accounts: {e}"))?;
        Ok(body["cloudAccounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a["id"].as_i64()?, a.clone())))
            .collect())
    }

    /// Which fault kinds this emulator accepts. The 5xx-after-commit fault is recognised by a
    /// status today's emulator rejects (502) and by the echo of `commit`.
    async fn probe_caps(&self) -> EmuCaps {
        let url = format!("{}/faults", self.emu.admin_url());
        let probe = |body: &'static str| {
            let http = self.http.clone();
            let url = url.clone();
            async move {
                match http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
                    _ => String::new(),
                }
            }
        };
        let commit =
            probe(r#"{"status":502,"commit":true,"path_prefix":"/v1/lifecycle-probe","count":1}"#)
                .await;
        let huge = probe(
            r#"{"status":429,"retry_after_s":1e20,"path_prefix":"/v1/lifecycle-probe","count":1}"#,
        )
        .await;
        let _ = self.http.delete(&url).send().await;
        EmuCaps {
            commit_5xx: commit.contains("commit"),
            huge_retry_after: !huge.is_empty(),
        }
    }

    /// Creates an account behind the provider's back through the public API, and waits for it.
    async fn create_foreign(&mut self, name: Option<String>) -> Result<ForeignAccount, String> {
        let n = self.fresh();
        let seed = self.seed;
        let name = name.unwrap_or_else(|| format!("foreign-{seed}-{n}"));
        let key = format!("AKIAFOREIGN{seed}X{n}");
        let provider = if self.rng.random_bool(0.5) {
            "AWS"
        } else {
            "GCP"
        };
        let base = self.emu.base_url();
        let mut last = String::new();
        // A task error injected by an earlier step may still be queued: try again.
        for _ in 0..4 {
            let r = self
                .http
                .post(format!("{base}/cloud-accounts"))
                .header("x-api-key", API_KEY)
                .header("x-api-secret-key", SECRET_KEY)
                .json(&json!({
                    "name": name, "provider": provider, "accessKeyId": key,
                    "accessSecretKey": "foreign-secret", "consoleUsername": "foreign",
                    "consolePassword": "foreign-password", "signInLoginUrl": LOGIN_URL,
                }))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let task: Json = r.json().await.map_err(|e| e.to_string())?;
            let Some(task_id) = task["taskId"].as_str() else {
                return Err(format!("no task: {task}"));
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            let done = loop {
                if Instant::now() > deadline {
                    return Err(format!("task {task_id} did not finish"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                let r = self
                    .http
                    .get(format!("{base}/tasks/{task_id}"))
                    .header("x-api-key", API_KEY)
                    .header("x-api-secret-key", SECRET_KEY)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    continue; // not visible yet
                }
                let t: Json = r.json().await.map_err(|e| e.to_string())?;
                if let Some("processing-completed" | "processing-error") = t["status"].as_str() {
                    break t;
                }
            };
            let Some(id) = done["response"]["resourceId"].as_i64() else {
                last = done["response"].to_string();
                continue;
            };
            self.settle().await?;
            let api = self.api_accounts().await?;
            let acc = api
                .get(&id)
                .ok_or(format!("account {id} vanished after its create"))?;
            // Even one that ended in an error status (a knob from an earlier step) must stay as it is.
            return Ok(foreign_view(acc));
        }
        Err(format!("the create task kept failing: {last}"))
    }
}

/// The account the state of `inst` (whose id is `id`) holds, if any: a numeric id, or the
/// account a pending id's rule finds among `api` (see invariant 1 in the header).
fn held_account(
    inst: &Instance,
    id: &str,
    tasks: &[Json],
    api: &BTreeMap<i64, Json>,
    foreign: &[i64],
) -> Option<i64> {
    if let Ok(n) = id.parse::<i64>() {
        return Some(n);
    }
    let create_task_of = |n: i64| {
        tasks.iter().filter(move |t| {
            t["accountId"].as_i64() == Some(n) && t["command"] == "cloudAccountCreateRequest"
        })
    };
    if id == "pending-create" {
        // A create not settled yet: its record, in private state, holds the account its rule
        // would find: absent from the snapshot, with its name, provider and key, made by a task
        // that did not exist before its POST, and (the world knows what the provider cannot)
        // not another client's. A pending create adopts nothing: until it resolves to an ID it
        // holds only what its own POST made.
        let record: Json = serde_json::from_slice::<Json>(&inst.private)
            .ok()
            .map(|p| p["pending_create"].clone())
            .unwrap_or(Json::Null);
        let before_accounts: Vec<i64> = record["before"]["accounts"]
            .as_array()
            .map(|v| v.iter().filter_map(Json::as_i64).collect())
            .unwrap_or_default();
        let before_tasks: Vec<&str> = record["before"]["create_tasks"]
            .as_array()
            .map(|v| v.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let intent = &record["intent"];
        let (name, key) = (intent["name"].as_str(), intent["access_key_id"].as_str());
        let provider = intent["provider"].as_str().unwrap_or("AWS");
        return api
            .iter()
            .find(|(n, acc)| {
                !before_accounts.contains(n)
                    && !foreign.contains(n)
                    && acc["name"].as_str() == name
                    && acc["accessKeyId"].as_str() == key
                    && acc["provider"].as_str() == Some(provider)
                    && create_task_of(**n)
                        .any(|t| !before_tasks.contains(&t["id"].as_str().unwrap_or("")))
            })
            .map(|(n, _)| *n);
    }
    // The older client's pending ids, kept so that this checker runs against it too.
    let attr = |k: &str| inst.state.attr(k).as_str().map(str::to_owned);
    let (name, key, provider) = (
        attr("name"),
        attr("access_key_id"),
        attr("provider_type").unwrap_or_else(|| "AWS".to_owned()),
    );
    if let Some(uuids) = id.strip_prefix("pending-task:") {
        // One candidate task, or several when creates of one name raced: the account a
        // candidate made with this state's access key (keys are unique) is held.
        let made: Vec<i64> = uuids
            .split(',')
            .filter_map(|uuid| {
                tasks
                    .iter()
                    .find(|t| t["id"].as_str() == Some(uuid))
                    // A failed create names the account it made before failing.
                    .filter(|t| {
                        t["status"] == "processing-completed" || t["status"] == "processing-error"
                    })
                    .and_then(|t| t["accountId"].as_i64())
            })
            .collect();
        return made
            .iter()
            .copied()
            .find(|n| api.get(n).and_then(|acc| acc["accessKeyId"].as_str()) == key.as_deref());
    }
    if let Some(after) = id
        .strip_prefix("pending-create:after-")
        .and_then(|n| n.parse::<i64>().ok())
    {
        // A create whose answer was lost: the account made after `after` with this state's
        // name, provider and access key.
        return api
            .iter()
            .find(|(n, acc)| {
                **n > after
                    && acc["accessKeyId"].as_str() == key.as_deref()
                    && acc["name"].as_str() == name.as_deref()
                    && acc["provider"].as_str() == Some(provider.as_str())
            })
            .map(|(n, _)| *n);
    }
    None
}

fn foreign_view(acc: &Json) -> ForeignAccount {
    let s = |k: &str| acc[k].as_str().unwrap_or_default().to_owned();
    ForeignAccount {
        id: acc["id"].as_i64().unwrap_or_default(),
        name: s("name"),
        provider: s("provider"),
        key: s("accessKeyId"),
        status: s("status"),
    }
}

fn cred_kind(c: &Cred) -> String {
    match c {
        Cred::Plain(_) => "plain".to_owned(),
        Cred::WriteOnly(_, v) => format!("wo v{v}"),
    }
}

/// Tags a violation from the Terraform core with its invariant.
fn classify(v: &str) -> String {
    if v.contains("outlived its deadline") {
        format!("INVARIANT 5 (deadline): {v}")
    } else if v.contains("inconsistent result") {
        format!("INVARIANT 4 (inconsistent result): {v}")
    } else if v.contains("invalid plan") {
        format!("INVARIANT 4 (invalid plan): {v}")
    } else if v.contains(super::support::tfcore::INTERNAL_ERROR) {
        format!("INVARIANT 4 (panic): {v}")
    } else {
        format!("INVARIANT 4 (protocol): {v}")
    }
}

/// Adds the fields of `from` (an object) to `into` (an object).
fn merge(into: &mut Json, from: &Json) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ------------------------------------------------------------------ real Terraform

/// The checker's "foreign adopted" finding replayed with the real `terraform` CLI and the built
/// provider against the emulator binary: an account Terraform does not manage exists; a create
/// configured with the same name has its POST's connection dropped after commit. Whatever the
/// apply reports, the foreign account must stay out of state, unchanged, and survive a destroy.
#[test]
fn real_terraform_never_adopts_a_foreign_account_after_an_ambiguous_create() {
    use super::proof_faults::{account_block, state_accounts, workdir_for};
    use super::support::Emulator;

    let emulator = Emulator::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::new();
    let name = "lifecycle-foreign";
    let post = http
        .post(format!("{}/cloud-accounts", emulator.api_url()))
        .header("x-api-key", emulator.access_key())
        .header("x-api-secret-key", emulator.secret_key())
        .json(&json!({
            "name": name, "provider": "AWS", "accessKeyId": "AKIAFOREIGNREAL",
            "accessSecretKey": "foreign-secret", "consoleUsername": "foreign",
            "consolePassword": "foreign-password", "signInLoginUrl": LOGIN_URL,
        }))
        .send();
    let status = rt.block_on(post).expect("POST /v1/cloud-accounts").status();
    assert!(
        status.is_success(),
        "creating the foreign account: {status}"
    );
    let foreign = |emulator: &Emulator| {
        emulator
            .accounts()
            .into_iter()
            .find(|a| a["name"] == name && a["accessKeyId"] == "AKIAFOREIGNREAL")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        match foreign(&emulator) {
            Some(a) if a["status"] == "active" => break a,
            _ if Instant::now() > deadline => panic!("the foreign account never became active"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let id = before["id"].as_u64().expect("numeric id");

    emulator.fault(
        json!({"drop": "after_commit", "method": "POST", "path_prefix": "/v1/cloud-accounts"}),
    );
    let workdir = workdir_for("lifecycle_foreign_real", &emulator);
    workdir.write_config(&account_block("mine", name, "AKIAMINEREAL", ""));
    workdir.init().assert_success();
    let apply = workdir.apply();
    let held: Vec<u64> = state_accounts(&workdir).iter().map(|(i, _)| *i).collect();
    assert!(
        !held.contains(&id),
        "the foreign account {id} was adopted into state {held:?}:\n{apply}"
    );
    let destroy = workdir.destroy();
    let after = foreign(&emulator)
        .unwrap_or_else(|| panic!("the foreign account {id} is gone:\n{apply}\n{destroy}"));
    for k in ["id", "name", "accessKeyId", "status", "provider"] {
        assert_eq!(after[k], before[k], "foreign account {id}: {k} changed");
    }
}

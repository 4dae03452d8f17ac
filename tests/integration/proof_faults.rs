//! Proof under faults: real Terraform applies (create, update, delete) against the emulator while it
//! injects 5xx bursts, 429 storms, dropped connections, slowness, task 404s, task errors, bad final
//! statuses, a restart, and a SIGINT to Terraform. After every run, state and emulator must agree.
//!
//! Also hosts the helpers the other `proof_*` modules share (state/emulator agreement, diagnostics
//! matching, a background Terraform process).
//!
//! Long fuzz run: the property tests over every RPC request decoder (tests/integration/grpc.rs) and
//! the value codecs and raw-state upgrader (crates/tfplugin/src/framework) read PROPTEST_CASES (the gRPC one costs
//! about 60 ms per case in a debug build, so 100000 cases run for over an hour), e.g.
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release --lib framework::
//! PROPTEST_CASES=100000 cargo test --release --test integration -- grpc::arbitrary_bytes_never_panic_the_server
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{
    Emulator, TfOutput, Workdir, find_resource_values, resource_addresses, strip_ansi, terraform,
};

// ---------------------------------------------------------------------------------------------
// Shared helpers for the proof_* modules.
// ---------------------------------------------------------------------------------------------

/// The resource type under test.
pub(super) const TYPE: &str = "rediscloud_cloud_account";

/// A valid account block named `label`, with `extra` lines appended inside it.
pub(super) fn account_block(label: &str, name: &str, key_id: &str, extra: &str) -> String {
    format!(
        r#"
resource "rediscloud_cloud_account" "{label}" {{
  name              = "{name}"
  provider_type     = "AWS"
  access_key_id     = "{key_id}"
  access_secret_key = "proof-not-a-secret"
  console_username  = "proof-console"
  console_password  = "proof-not-a-password"
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
{extra}}}
"#
    )
}

/// A work directory whose provider environment points at `emulator`, with a `versions.tf` naming
/// the provider's source (configurations then go to `main.tf`).
pub(super) fn workdir_for(name: &str, emulator: &Emulator) -> Workdir {
    let workdir = emulator
        .provider_env()
        .iter()
        .fold(Workdir::new(name), |w, (k, v)| w.env(k, v));
    workdir.write_file(
        "versions.tf",
        "terraform {\n  required_providers {\n    rediscloud = {\n      source = \"redislabs/rediscloud\"\n    }\n  }\n}\n",
    );
    workdir
}

/// Terraform's human output with the diagnostic frame (`│`, `╷`, `╵`) removed and all whitespace
/// collapsed, so phrases match even where Terraform wrapped a line.
pub(super) fn squash(text: &str) -> String {
    strip_ansi(text)
        .replace(['│', '╷', '╵'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts that the command's output contains every phrase (whitespace-insensitive).
#[track_caller]
pub(super) fn assert_phrases(output: &TfOutput, phrases: &[&str]) {
    let text = squash(&output.combined());
    let missing: Vec<&&str> = phrases
        .iter()
        .filter(|p| !text.contains(&squash(p)))
        .collect();
    assert!(missing.is_empty(), "output lacks {missing:?}:\n{output}");
}

/// `(id, tainted)` of every cloud account instance in the work directory's state file (read
/// directly: cheaper than `terraform show -json`, and it is what Terraform persisted).
#[track_caller]
pub(super) fn state_accounts(workdir: &Workdir) -> Vec<(u64, bool)> {
    let Some(raw) = workdir.state_file() else {
        return Vec::new();
    };
    let state: Value = serde_json::from_str(&raw)
        .unwrap_or_else(|err| panic!("terraform.tfstate is not JSON: {err}\n{raw}"));
    let mut out = Vec::new();
    for resource in state["resources"].as_array().into_iter().flatten() {
        if resource["type"] != TYPE || resource["mode"] != "managed" {
            continue;
        }
        for instance in resource["instances"].as_array().into_iter().flatten() {
            let id = &instance["attributes"]["id"];
            let id = id.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                panic!("state holds an instance without a numeric id (lost ID): {instance}")
            });
            out.push((id, instance["status"] == "tainted"));
        }
    }
    out
}

/// Live (not deleted) accounts other than Redis's internal account 1, by id, with their names.
#[track_caller]
pub(super) fn live_accounts(emulator: &Emulator) -> BTreeMap<u64, String> {
    emulator
        .accounts()
        .iter()
        .filter(|a| a["status"] != "deleted")
        .filter_map(|a| {
            let id = a["id"].as_u64()?;
            (id != 1).then(|| (id, a["name"].as_str().unwrap_or_default().to_owned()))
        })
        .collect()
}

/// The invariants every run must keep, whatever failed:
/// - no orphan: every live account is tracked in state (no lost ID);
/// - no duplicate: live account names are unique, and state tracks each id once.
///
/// With `exact`, state also tracks nothing that is gone (after a successful run); otherwise a
/// stale id is allowed, because the next refresh removes it.
#[track_caller]
pub(super) fn assert_agreement(workdir: &Workdir, emulator: &Emulator, exact: bool, when: &str) {
    let tracked = state_accounts(workdir);
    let ids: BTreeSet<u64> = tracked.iter().map(|(id, _)| *id).collect();
    let live = live_accounts(emulator);
    assert_eq!(
        ids.len(),
        tracked.len(),
        "{when}: state tracks an account twice: {tracked:?}"
    );
    let orphans: Vec<(&u64, &String)> = live.iter().filter(|(id, _)| !ids.contains(id)).collect();
    assert!(
        orphans.is_empty(),
        "{when}: orphaned accounts (live in Redis Cloud, not in state): {orphans:?}; state: {tracked:?}"
    );
    let mut names = BTreeSet::new();
    let duplicates: Vec<&String> = live.values().filter(|n| !names.insert(*n)).collect();
    assert!(
        duplicates.is_empty(),
        "{when}: duplicate accounts named {duplicates:?}: {live:?}"
    );
    if exact {
        // What Terraform reports (`terraform show -json`) is what it persisted.
        let shown = workdir.show_json();
        let shown: BTreeSet<u64> = resource_addresses(&shown)
            .into_iter()
            .filter(|a| a.starts_with(&format!("{TYPE}.")))
            .filter_map(|a| {
                let values = find_resource_values(&shown, &a)?;
                values["id"].as_str()?.parse().ok()
            })
            .collect();
        assert_eq!(
            shown, ids,
            "{when}: `terraform show -json` disagrees with the state file"
        );
        let stale: Vec<&u64> = ids.iter().filter(|id| !live.contains_key(id)).collect();
        assert!(
            stale.is_empty(),
            "{when}: state tracks accounts that do not exist: {stale:?}; live: {live:?}"
        );
    }
}

/// `DELETE` on an admin path (the harness only wraps GET, PUT and POST).
#[track_caller]
pub(super) fn admin_delete(emulator: &Emulator, path: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", emulator.port()))
        .unwrap_or_else(|err| panic!("connecting to the emulator admin API: {err}"));
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap_or_else(|err| panic!("DELETE {path}: {err}"));
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "DELETE {path}: {response}"
    );
}

/// A Terraform command running in the background, in its own process group (so a signal reaches
/// Terraform and the provider plugin, as Ctrl-C in a terminal does).
pub(super) struct Running {
    child: Child,
    command: String,
    stdout: thread::JoinHandle<String>,
    stderr: thread::JoinHandle<String>,
    started: Instant,
}

impl Running {
    /// Starts `terraform <args>` in `workdir` with the same isolation as `Workdir::run`, plus `env`.
    #[track_caller]
    pub(super) fn start(workdir: &Workdir, env: &[(String, String)], args: &[&str]) -> Running {
        let mut cmd = Command::new(terraform());
        cmd.args(args).current_dir(workdir.path());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if (key.starts_with("TF_") && !key.starts_with("TF_LOG"))
                || key.starts_with("REDISCLOUD_")
            {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", workdir.path().join("cli.tfrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let command = format!("terraform {}", args.join(" "));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("could not start `{command}`: {err}"));
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        Running {
            child,
            command,
            stdout,
            stderr,
            started: Instant::now(),
        }
    }

    /// Sends SIGINT to the whole process group, as a terminal's Ctrl-C does.
    #[track_caller]
    pub(super) fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.child.id())])
            .status()
            .unwrap_or_else(|err| panic!("kill -INT: {err}"));
        assert!(status.success(), "kill -INT failed for {}", self.command);
    }

    /// Waits for the command, killing its process group after `timeout`.
    #[track_caller]
    pub(super) fn wait(mut self, timeout: Duration) -> TfOutput {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(err) => panic!("waiting for `{}`: {err}", self.command),
            }
        };
        if status.is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
        let output = TfOutput {
            command: self.command,
            status: status.and_then(|s| s.code()),
            stdout: strip_ansi(&self.stdout.join().unwrap_or_default()),
            stderr: strip_ansi(&self.stderr.join().unwrap_or_default()),
            elapsed: self.started.elapsed(),
        };
        assert!(status.is_some(), "timed out after {timeout:?}:\n{output}");
        output
    }
}

/// Polls `condition` every 10 ms for up to `limit`.
#[track_caller]
pub(super) fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what} after {limit:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// The API requests (`/v1/...`) the emulator logged from index `from` on.
#[track_caller]
pub(super) fn requests_since(emulator: &Emulator, from: usize) -> Vec<Value> {
    emulator.requests().into_iter().skip(from).collect()
}

fn count_status(requests: &[Value], status: u64) -> usize {
    requests.iter().filter(|r| r["status"] == status).count()
}

// ---------------------------------------------------------------------------------------------
// The fault matrix.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Create,
    Update,
    Delete,
}

const PHASES: [Phase; 3] = [Phase::Create, Phase::Update, Phase::Delete];

impl Phase {
    fn write_method(self) -> &'static str {
        match self {
            Phase::Create => "POST",
            Phase::Update => "PUT",
            Phase::Delete => "DELETE",
        }
    }

    /// The account status that shows the provider is waiting after its task completed.
    fn waiting_status(self) -> &'static str {
        match self {
            Phase::Create => "pending",
            Phase::Update => "change-pending",
            Phase::Delete => "deleted",
        }
    }
}

/// What a phase must end in.
enum Expect {
    Success,
    /// Terraform fails, and its output carries every phrase: what happened and what to do.
    Failure(&'static [&'static str]),
}

/// What happens while the phase's command runs.
#[derive(Clone, Copy, PartialEq)]
enum During {
    Nothing,
    /// Restart the emulator (same port and state file) once the phase's write was accepted.
    RestartEmulator,
    /// SIGINT to Terraform's process group once the provider waits for the account's status.
    Interrupt,
}

struct Case {
    name: &'static str,
    /// Emulator flags beyond the harness defaults.
    args: &'static [&'static str],
    /// Arms the fault right before the phase's command.
    arm: fn(&Emulator, Phase),
    during: During,
    expect: fn(Phase) -> Expect,
    /// Extra evidence from the requests the phase sent (before any recovery run).
    evidence: fn(Phase, &[Value]),
}

fn no_evidence(_: Phase, _: &[Value]) {}

fn always_succeeds(_: Phase) -> Expect {
    Expect::Success
}

/// A write fault only (GETs unaffected).
fn on_write(emulator: &Emulator, phase: Phase, fault: Value) {
    let mut fault = fault;
    fault["method"] = json!(phase.write_method());
    fault["path_prefix"] = json!("/v1/cloud-accounts");
    emulator.fault(fault);
}

/// How many requests of the phase's write method reached the API (dropped ones included).
fn writes_sent(phase: Phase, reqs: &[Value]) -> usize {
    reqs.iter()
        .filter(|r| r["method"] == phase.write_method())
        .count()
}

const CASES: &[Case] = &[
    Case {
        name: "bursts_of_500_and_503_on_reads",
        args: &[],
        arm: |e, _| {
            e.fault(json!({"status": 500, "count": 2, "method": "GET"}));
            e.fault(json!({"status": 503, "count": 1, "method": "GET"}));
        },
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 500), 2, "{phase:?}: {reqs:?}");
            assert_eq!(count_status(reqs, 503), 1, "{phase:?}: {reqs:?}");
        },
    },
    // A 5xx or 408 to a write is ambiguous: the provider reconciles, then sends it again
    // only when certain that the first one changed nothing.
    Case {
        name: "error_500_on_the_write",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"status": 500, "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 500), 1, "{phase:?}: {reqs:?}");
            assert_eq!(
                writes_sent(phase, reqs),
                2,
                "{phase:?}: sent again once: {reqs:?}"
            );
        },
    },
    Case {
        name: "error_503_on_the_write",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"status": 503, "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 503), 1, "{phase:?}: {reqs:?}");
            assert_eq!(writes_sent(phase, reqs), 2, "{phase:?}: {reqs:?}");
        },
    },
    Case {
        name: "error_502_after_commit",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"status": 502, "commit": true, "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 502), 1, "{phase:?}: {reqs:?}");
            if phase == Phase::Create {
                assert_eq!(
                    writes_sent(phase, reqs),
                    1,
                    "the committed create was sent again: {reqs:?}"
                );
            }
        },
    },
    Case {
        name: "error_504_after_commit",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"status": 504, "commit": true, "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 504), 1, "{phase:?}: {reqs:?}");
            if phase == Phase::Create {
                assert_eq!(
                    writes_sent(phase, reqs),
                    1,
                    "the committed create was sent again: {reqs:?}"
                );
            }
        },
    },
    Case {
        name: "error_408_before_commit",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"status": 408, "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 408), 1, "{phase:?}: {reqs:?}");
            assert_eq!(writes_sent(phase, reqs), 2, "{phase:?}: {reqs:?}");
        },
    },
    Case {
        name: "storm_of_429_with_retry_after",
        args: &[],
        arm: |e, _| {
            e.fault(json!({"status": 429, "count": 3, "retry_after_s": 1}));
        },
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            assert_eq!(count_status(reqs, 429), 3, "{phase:?}: {reqs:?}");
            // Every request after a 429 waited the server's retry-after (1 s).
            for pair in reqs.windows(2) {
                if pair[0]["status"] == 429 {
                    let gap = pair[1]["timeMs"]
                        .as_u64()
                        .unwrap_or(0)
                        .saturating_sub(pair[0]["timeMs"].as_u64().unwrap_or(0));
                    assert!(
                        gap >= 950,
                        "{phase:?}: next request only {gap} ms after a 429: {reqs:?}"
                    );
                }
            }
        },
    },
    Case {
        name: "connection_dropped_before_commit",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"drop": "before_commit", "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            let dropped = reqs.iter().filter(|r| r["status"].is_null()).count();
            assert_eq!(dropped, 1, "{phase:?}: {reqs:?}");
        },
    },
    Case {
        name: "connection_dropped_after_commit",
        args: &[],
        arm: |e, phase| on_write(e, phase, json!({"drop": "after_commit", "count": 1})),
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            if phase == Phase::Create {
                // Reconciled by name: the POST was never repeated.
                let posts = reqs.iter().filter(|r| r["method"] == "POST").count();
                assert_eq!(posts, 1, "the committed create was sent again: {reqs:?}");
            }
        },
    },
    Case {
        name: "connection_dropped_before_then_after_commit",
        args: &[],
        arm: |e, phase| {
            on_write(e, phase, json!({"drop": "before_commit", "count": 1}));
            on_write(e, phase, json!({"drop": "after_commit", "count": 1}));
        },
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            if phase == Phase::Create {
                // Re-sent exactly once, after proving the first was not applied.
                let posts = reqs.iter().filter(|r| r["method"] == "POST").count();
                assert_eq!(posts, 2, "{reqs:?}");
            }
        },
    },
    Case {
        name: "slow_responses",
        args: &[],
        arm: |e, _| {
            e.fault(json!({"latency_ms": 400, "count": 3}));
        },
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            let slow = reqs
                .iter()
                .filter(|r| r["durationMs"].as_u64().unwrap_or(0) >= 400)
                .count();
            assert_eq!(slow, 3, "{phase:?}: {reqs:?}");
        },
    },
    Case {
        name: "long_task_404_window",
        args: &[],
        arm: |e, _| {
            e.config(json!({"task_404_ms": 2000}));
        },
        during: During::Nothing,
        expect: always_succeeds,
        evidence: |phase, reqs| {
            // The task is missing from the shared task list for 2 s: the waits keep polling
            // the list through the window rather than giving up.
            let list_polls = reqs.iter().filter(|r| r["path"] == "/v1/tasks").count();
            assert!(
                list_polls >= 3,
                "{phase:?}: the task list was polled only {list_polls} times: {reqs:?}"
            );
        },
    },
    Case {
        name: "task_processing_error",
        args: &[],
        arm: |e, phase| {
            let ty = match phase {
                Phase::Create => "CLOUD_ACCOUNT_INVALID_CREDS",
                Phase::Update => "CLOUD_ACCOUNT_PERMISSION_FAILED",
                Phase::Delete => "CLOUD_ACCOUNT_USED",
            };
            e.task_errors(json!({"type": ty, "count": 1}));
        },
        during: During::Nothing,
        expect: |phase| {
            Expect::Failure(match phase {
                Phase::Create => &[
                    "Error: Unable to Create Cloud Account",
                    "failed with status processing-error",
                    "CLOUD_ACCOUNT_INVALID_CREDS",
                    "Quote task ID",
                    "could not authenticate",
                    "Nothing was created",
                ],
                Phase::Update => &[
                    "Error: Unable to Update Cloud Account",
                    "failed with status processing-error",
                    "CLOUD_ACCOUNT_PERMISSION_FAILED",
                    "lacks permissions",
                    "left as it was before this apply",
                ],
                Phase::Delete => &[
                    "Error: Unable to Delete Cloud Account",
                    "failed with status processing-error",
                    "CLOUD_ACCOUNT_USED",
                    "still used by a subscription",
                    "run `terraform destroy` (or apply) again",
                ],
            })
        },
        evidence: no_evidence,
    },
    Case {
        name: "active_error_status",
        args: &[],
        arm: |e, phase| {
            if phase == Phase::Delete {
                // A broken account must still be deletable.
                for id in live_accounts(e).keys() {
                    e.set_status(*id, "active-error");
                }
            } else {
                e.config(json!({"final_status": "active-error", "final_status_count": 1}));
            }
        },
        during: During::Nothing,
        expect: |phase| match phase {
            Phase::Create => Expect::Failure(&[
                "Error: Unable to Create Cloud Account",
                "reached status \"active-error\"",
                "cannot use its credentials",
                "marked tainted",
            ]),
            Phase::Update => Expect::Failure(&[
                "Error: Unable to Update Cloud Account",
                "reached status \"active-error\"",
                "cannot use its credentials",
                "recorded in state",
            ]),
            Phase::Delete => Expect::Success,
        },
        evidence: no_evidence,
    },
    Case {
        name: "emulator_restarted_mid_apply",
        args: &[
            "--task-stage-ms",
            "300",
            "--activation-ms",
            "800",
            "--delete-ms",
            "300",
        ],
        arm: |_, _| {},
        during: During::RestartEmulator,
        expect: always_succeeds,
        evidence: no_evidence,
    },
    Case {
        name: "sigint_while_waiting",
        args: &[],
        arm: |e, _| {
            e.config(json!({"activation_ms": 60_000, "delete_ms": 60_000}));
        },
        during: During::Interrupt,
        expect: |phase| {
            Expect::Failure(match phase {
                Phase::Create => &[
                    "Error: Unable to Create Cloud Account",
                    "cancelled while waiting for cloud account",
                    "to become active",
                    "Terraform was interrupted",
                    "marked tainted",
                ],
                Phase::Update => &[
                    "Error: Unable to Update Cloud Account",
                    "cancelled while waiting for cloud account",
                    "Terraform was interrupted",
                    "recorded in state",
                ],
                Phase::Delete => &[
                    "Error: Unable to Delete Cloud Account",
                    "cancelled while waiting for cloud account",
                    "to be deleted",
                    "Terraform was interrupted",
                    "may still be deleting",
                ],
            })
        },
        evidence: no_evidence,
    },
];

/// Longest a provider may take to hand back after Ctrl-C (it only has to save state).
const PROMPT_STOP: Duration = Duration::from_secs(10);

fn run_case(name: &str) {
    let case = CASES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no fault case {name}"));
    let state_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("proof-{name}-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&state_file);
    let mut emulator = Emulator::start_with_state_file(&state_file, case.args);
    let workdir = workdir_for(&format!("proof_{name}"), &emulator);
    let env = emulator.provider_env();
    // `PUT /admin/config {}` returns the knobs unchanged: the baseline to restore after a fault.
    let baseline = emulator.config(json!({}));
    let account = format!("proof-{}", name.replace('_', "-"));

    for phase in PHASES {
        let when = format!("{name}/{phase:?}");
        let args: &[&str] = match phase {
            Phase::Create => {
                workdir.write_config(&account_block("test", &account, "AKIAPROOF0001", ""));
                &["apply", "-input=false", "-no-color", "-auto-approve"]
            }
            Phase::Update => {
                workdir.write_config(&account_block(
                    "test",
                    &format!("{account}-renamed"),
                    "AKIAPROOF0001",
                    "",
                ));
                &["apply", "-input=false", "-no-color", "-auto-approve"]
            }
            Phase::Delete => &["destroy", "-input=false", "-no-color", "-auto-approve"],
        };
        let logged_before = emulator.requests().len();
        (case.arm)(&emulator, phase);
        let running = Running::start(&workdir, &env, args);
        let output = match case.during {
            During::Nothing => running.wait(Duration::from_secs(120)),
            During::RestartEmulator => {
                let method = phase.write_method();
                wait_until(
                    &format!("{when}: the {method}"),
                    Duration::from_secs(60),
                    || {
                        requests_since(&emulator, logged_before).iter().any(|r| {
                            r["method"] == method && r["status"].as_u64().is_some_and(|s| s < 300)
                        })
                    },
                );
                emulator.restart();
                running.wait(Duration::from_secs(120))
            }
            During::Interrupt => {
                let status = phase.waiting_status();
                wait_until(
                    &format!("{when}: an account in status {status}"),
                    Duration::from_secs(60),
                    || emulator.accounts().iter().any(|a| a["status"] == status),
                );
                // Let the provider settle into its poll loop before interrupting.
                thread::sleep(Duration::from_millis(300));
                let interrupted = Instant::now();
                running.interrupt();
                let output = running.wait(Duration::from_secs(60));
                eprintln!(
                    "{when}: Terraform exited {:.2?} after SIGINT",
                    interrupted.elapsed()
                );
                assert!(
                    interrupted.elapsed() < PROMPT_STOP,
                    "{when}: Terraform took {:?} to stop after SIGINT:\n{output}",
                    interrupted.elapsed()
                );
                output
            }
        };
        (case.evidence)(phase, &requests_since(&emulator, logged_before));

        match (case.expect)(phase) {
            Expect::Success => {
                assert!(output.success(), "{when}: expected success:\n{output}");
            }
            Expect::Failure(phrases) => {
                assert!(!output.success(), "{when}: expected a failure:\n{output}");
                assert_phrases(&output, phrases);
                assert_agreement(&workdir, &emulator, false, &format!("{when} (failed run)"));
                if case.during == During::Interrupt && phase != Phase::Delete {
                    // The ID reached state although the wait was cut short.
                    let live: Vec<u64> = live_accounts(&emulator).into_keys().collect();
                    let tracked: Vec<u64> =
                        state_accounts(&workdir).iter().map(|(id, _)| *id).collect();
                    assert_eq!(tracked, live, "{when}: state after SIGINT");
                }
                // Fault gone: running the same command again converges.
                admin_delete(&emulator, "/admin/faults");
                emulator.config(baseline.clone());
                let retry = workdir.run(args);
                assert!(
                    retry.success(),
                    "{when}: the rerun after the fault failed:\n{retry}"
                );
            }
        }
        admin_delete(&emulator, "/admin/faults");
        emulator.config(baseline.clone());
        assert_agreement(&workdir, &emulator, true, &when);
        match phase {
            Phase::Create | Phase::Update => {
                assert_eq!(
                    state_accounts(&workdir).len(),
                    1,
                    "{when}: one account in state"
                );
                let names: Vec<String> = live_accounts(&emulator).into_values().collect();
                let want = if phase == Phase::Create {
                    account.clone()
                } else {
                    format!("{account}-renamed")
                };
                assert_eq!(names, [want], "{when}: the account's name");
            }
            Phase::Delete => {
                assert!(
                    state_accounts(&workdir).is_empty(),
                    "{when}: state is empty"
                );
                assert!(live_accounts(&emulator).is_empty(), "{when}: nothing left");
            }
        }
    }
    drop(emulator);
    let _ = std::fs::remove_file(&state_file);
}

/// One `#[test]` per table row, so rows run in parallel and fail independently.
macro_rules! fault_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*

        #[test]
        fn every_case_has_a_test() {
            let tested = [$(stringify!($name)),*];
            for case in CASES {
                assert!(tested.contains(&case.name), "fault case {} has no #[test]", case.name);
            }
        }
    };
}

fault_tests!(
    bursts_of_500_and_503_on_reads,
    error_500_on_the_write,
    error_503_on_the_write,
    error_502_after_commit,
    error_504_after_commit,
    error_408_before_commit,
    storm_of_429_with_retry_after,
    connection_dropped_before_commit,
    connection_dropped_after_commit,
    connection_dropped_before_then_after_commit,
    slow_responses,
    long_task_404_window,
    task_processing_error,
    active_error_status,
    emulator_restarted_mid_apply,
    sigint_while_waiting,
);

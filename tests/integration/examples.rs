//! Every example under `examples/` is formatted, valid, and applied (or at
//! least planned) against the emulator with real Terraform.

use std::path::{Path, PathBuf};

use super::support::files::copy_tree;
use super::support::{Emulator, Workdir};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(examples().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn workdir(name: &str, emulator: &Emulator) -> Workdir {
    let mut w = Workdir::new(name);
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w
}

/// Copies `examples/` into a workdir, keeping the examples' sibling `modules/` reachable.
#[track_caller]
fn copy_examples(to: &Path) {
    copy_tree(&examples(), to).unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn examples_are_formatted_and_valid() {
    let w = Workdir::new("examples_fmt");
    let dir = examples();
    w.run(&[
        "fmt",
        "-check",
        "-recursive",
        "-diff",
        dir.to_str().expect("utf-8 path"),
    ])
    .assert_success();
    for root in [
        "provider",
        "resources/rediscloud_cloud_account",
        "data-sources/rediscloud_cloud_account",
        "byoa-aws",
        "write-only",
        "byoa-multi-env",
        "modules/byoa-aws",
    ] {
        let w = Workdir::new("examples_validate");
        copy_examples(&w.path().join("examples"));
        let chdir = format!("-chdir=examples/{root}");
        w.run(&[&chdir, "init", "-backend=false"]).assert_success();
        w.run(&[&chdir, "validate"])
            .assert_success()
            .assert_matches("The configuration is valid");
    }
}

/// Every applicable example, applied one after another on ONE emulator and all kept alive until the end:
/// each example has its own name and its own access key, as Redis Cloud accepts each IAM access key once
/// (a shared key made the second apply fail with `CLOUD_ACCOUNT_ACCESS_KEY_EXISTS`).
#[test]
fn examples_apply_one_after_another_on_one_emulator() {
    let emulator = Emulator::start(&[]);
    let mut applied: Vec<(Workdir, Option<&str>)> = Vec::new();

    // resources/: the docs page's resource, then its data source, import block and import command.
    let w = workdir("examples_resource", &emulator)
        .env("TF_VAR_aws_secret_access_key", "example-secret")
        .env("TF_VAR_console_password", "example-password");
    w.write_config(&read("resources/rediscloud_cloud_account/resource.tf"));
    w.apply().assert_success();
    let id = w.output_json()["cloud_account_id"]["value"]
        .as_str()
        .expect("id output")
        .to_owned();
    w.plan_detailed().assert_code(0);
    applied.push((w, None));

    // The data source finds the account the resource example created.
    let d = workdir("examples_data_source", &emulator);
    d.write_config(&read(
        "data-sources/rediscloud_cloud_account/data-source.tf",
    ));
    d.apply().assert_success();
    assert_eq!(
        d.output_json()["cloud_account_id"]["value"].as_str(),
        Some(id.as_str())
    );

    // The import block and the import command, pointed at the real ID.
    let i = workdir("examples_import_block", &emulator)
        .env("TF_VAR_aws_secret_access_key", "example-secret")
        .env("TF_VAR_console_password", "example-password");
    i.write_config(&read("resources/rediscloud_cloud_account/resource.tf"));
    i.write_file(
        "import.tf",
        &read("resources/rediscloud_cloud_account/import-block.tf").replace("12345", &id),
    );
    i.plan().assert_success().assert_matches("1 to import");
    let c = workdir("examples_import_cli", &emulator)
        .env("TF_VAR_aws_secret_access_key", "example-secret")
        .env("TF_VAR_console_password", "example-password");
    c.write_config(&read("resources/rediscloud_cloud_account/resource.tf"));
    let line = read("resources/rediscloud_cloud_account/import.sh")
        .lines()
        .find(|l| l.starts_with("terraform import"))
        .expect("import command")
        .replace("12345", &id);
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    c.run(&args)
        .assert_success()
        .assert_matches("Import successful");

    // byoa-aws: the module plus a data-source lookup (what `cargo xtask demo` applies).
    let b = workdir("examples_byoa", &emulator)
        .env("TF_VAR_secret_access_key", "module-secret")
        .env("TF_VAR_console_password", "module-password");
    copy_examples(&b.path().join("examples"));
    let byoa = "-chdir=examples/byoa-aws";
    b.run(&[byoa, "init"]).assert_success();
    b.run(&[byoa, "apply", "-auto-approve", "-input=false"])
        .assert_success();
    let out = b.run(&[byoa, "output", "-json"]);
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout).expect("outputs");
    assert_eq!(outputs["status"]["value"], "active");
    assert!(
        outputs["aws_user_arn"]["value"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::"))
    );
    b.run(&[byoa, "plan", "-detailed-exitcode", "-input=false"])
        .assert_code(0);
    applied.push((b, Some(byoa)));

    // write-only: the secrets never reach the state.
    let secret = "wo-secret-never-stored";
    let wo = workdir("examples_write_only", &emulator)
        .env("TF_VAR_secret_access_key", secret)
        .env("TF_VAR_console_password", "wo-password-never-stored");
    wo.write_config(&read("write-only/main.tf"));
    wo.apply().assert_success();
    let state = wo.state_file().expect("state file");
    assert!(!state.contains(secret) && !state.contains("wo-password-never-stored"));
    assert_eq!(wo.output_json()["status"]["value"], "active");
    applied.push((wo, None));

    // byoa-multi-env: one account per environment through the module's for_each.
    let m = workdir("examples_multi_env", &emulator)
        .env(
            "TF_VAR_secret_access_keys",
            r#"{"dev":"dev-secret","staging":"staging-secret","production":"production-secret"}"#,
        )
        .env(
            "TF_VAR_console_passwords",
            r#"{"dev":"dev-password","staging":"staging-password","production":"production-password"}"#,
        );
    copy_examples(&m.path().join("examples"));
    let multi = "-chdir=examples/byoa-multi-env";
    m.run(&[multi, "init"]).assert_success();
    m.run(&[multi, "apply", "-auto-approve", "-input=false"])
        .assert_success();
    let out = m.run(&[multi, "output", "-json"]);
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout).expect("outputs");
    let ids = outputs["cloud_account_ids"]["value"]
        .as_object()
        .expect("cloud_account_ids map");
    let mut envs: Vec<&str> = ids.keys().map(String::as_str).collect();
    envs.sort_unstable();
    assert_eq!(envs, ["dev", "production", "staging"]);
    for env in envs {
        assert_eq!(outputs["statuses"]["value"][env], "active", "{env}");
    }
    m.run(&[multi, "plan", "-detailed-exitcode", "-input=false"])
        .assert_code(0);
    applied.push((m, Some(multi)));

    // All seven accounts live side by side (plus the internal account 1).
    let names: Vec<String> = emulator
        .accounts()
        .iter()
        .filter(|a| a["status"] != "deleted")
        .filter_map(|a| a["name"].as_str().map(str::to_owned))
        .collect();
    for name in [
        "production-byoa",
        "demo-byoa",
        "write-only-byoa",
        "byoa-dev",
        "byoa-staging",
        "byoa-production",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    assert_eq!(emulator.live_account_ids().len(), 1 + 6, "{names:?}");

    for (w, chdir) in applied.iter().rev() {
        match chdir {
            Some(chdir) => w
                .run(&[chdir, "destroy", "-auto-approve", "-input=false"])
                .assert_success(),
            None => w.destroy().assert_success(),
        };
    }
    assert!(emulator.live_account_ids().iter().all(|id| *id == 1));
}

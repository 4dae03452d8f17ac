//! Every example under `examples/` is formatted, valid, and applied (or at
//! least planned) against the emulator with real Terraform.

use std::path::{Path, PathBuf};

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

/// Copies `examples/<dir>` into the workdir, keeping sibling `modules/` reachable.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
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
        "modules/byoa-aws",
    ] {
        let w = Workdir::new("examples_validate");
        copy_tree(&dir, &w.path().join("examples"));
        let chdir = format!("-chdir=examples/{root}");
        w.run(&[&chdir, "init", "-backend=false"]).assert_success();
        w.run(&[&chdir, "validate"])
            .assert_success()
            .assert_matches("The configuration is valid");
    }
}

#[test]
fn resource_data_source_and_import_examples_apply() {
    let emulator = Emulator::start(&[]);
    let w = workdir("examples_resource", &emulator)
        .env("TF_VAR_aws_secret_access_key", "example-secret")
        .env("TF_VAR_console_password", "example-password");
    w.write_config(&read("resources/rediscloud_cloud_account/resource.tf"));
    w.apply().assert_success();
    let outputs = w.output_json();
    let id = outputs["cloud_account_id"]["value"]
        .as_str()
        .expect("id output")
        .to_owned();
    w.plan_detailed().assert_code(0);

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

    w.destroy().assert_success();
    assert!(emulator.live_account_ids().iter().all(|id| *id == 1));
}

#[test]
fn byoa_module_and_write_only_examples_apply() {
    let emulator = Emulator::start(&[]);
    let w = workdir("examples_byoa", &emulator)
        .env("TF_VAR_secret_access_key", "module-secret")
        .env("TF_VAR_console_password", "module-password");
    copy_tree(&examples(), &w.path().join("examples"));
    let chdir = "-chdir=examples/byoa-aws";
    w.run(&[chdir, "init"]).assert_success();
    w.run(&[chdir, "apply", "-auto-approve", "-input=false"])
        .assert_success();
    let out = w.run(&[chdir, "output", "-json"]);
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout).expect("outputs");
    assert_eq!(outputs["status"]["value"], "active");
    assert!(
        outputs["aws_user_arn"]["value"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::"))
    );
    w.run(&[chdir, "plan", "-detailed-exitcode", "-input=false"])
        .assert_code(0);
    w.run(&[chdir, "destroy", "-auto-approve", "-input=false"])
        .assert_success();

    let secret = "wo-secret-never-stored";
    let wo = workdir("examples_write_only", &emulator)
        .env("TF_VAR_secret_access_key", secret)
        .env("TF_VAR_console_password", "wo-password-never-stored");
    wo.write_config(&read("write-only/main.tf"));
    wo.apply().assert_success();
    let state = wo.state_file().expect("state file");
    assert!(!state.contains(secret) && !state.contains("wo-password-never-stored"));
    assert_eq!(wo.output_json()["status"]["value"], "active");
    wo.destroy().assert_success();
    assert!(emulator.live_account_ids().iter().all(|id| *id == 1));
}

//! Every fenced snippet of `README.md` runs here as written, and a snippet without a test fails the suite.
//!
//! Each fenced block in the README carries a marker on the line just before it, `<!-- snippet: NAME -->`
//! (invisible when rendered). [`every_readme_block_is_run_by_a_test`] fails when a block has no marker, when a
//! marker has no block, or when no test in this file takes the block with `snippet("NAME")`; so adding a snippet
//! means adding its test. Guides under `examples/` may not hold fenced blocks of their own: they embed files
//! (`{{ codefile ... }}`) that their tests run.
//!
//! How each kind of block runs:
//!
//! - **Shell blocks** run with `bash --noprofile --norc -eo pipefail` (a failing command fails the snippet) in a
//!   fresh directory, with the Terraform under test, the built provider and the emulator first on PATH and none
//!   of the caller's `TF_*` or `REDISCLOUD_*` settings ([`Sandbox`]). What a reader is assumed to have already
//!   done is given as environment (an emulator's `REDISCLOUD_*` exports, the configuration's `TF_VAR_*` values,
//!   a CLI configuration for the built provider), and `terraform apply`'s approval prompt is answered `yes` on
//!   stdin, as the reader would. A snippet that leaves a process running fails.
//! - **HCL blocks**: the provider block and the resource block of "Configuration reference" are, together, a
//!   complete configuration (the README says so); it is what the real-API, import and TF_LOG snippets run
//!   against. The write-only block is the same resource with write-only secrets; its one non-literal line, the
//!   `# ... name, provider_type, ... as in the Configuration reference` comment, is completed with exactly the
//!   attribute lines it names, taken from the resource block.
//!   The `query-list` block is a query file (`*.tfquery.hcl`): it runs next to the provider block alone, against
//!   accounts created through the REST API, and the configuration it generates is finished as the text after it
//!   says, with the write-only block's variables.
//!
//! Special cases:
//!
//! - `cargo xtask test` is the command running this suite: it is not run again (that would recurse); the test
//!   checks that CI's `.ci/run` invokes exactly it.
//! - `cargo xtask demo` is not run: it builds release binaries with cargo, which would wait for the lock this
//!   `cargo test` holds, and takes minutes. Its parts are covered elsewhere: `examples.rs` applies
//!   `examples/byoa-aws` (what the demo applies) and `release.rs` installs from the filesystem mirror the demo
//!   packages. Here the test checks what only the demo's own code decides: that it gives every variable
//!   `examples/byoa-aws` requires, and starts the emulator with flags the emulator has.
//! - `cargo xtask install` is not run either (a release build, for the same reasons as the demo). Its layout is
//!   made by the very function it calls (`xtask/src/install.rs`), from this suite's build, under a `HOME` inside
//!   the sandbox; the `own-config` snippet then runs as written (`~/terraform-provider-rediscloud/...`,
//!   `~/my-byoa`) with none of the sandbox's own links to the provider: only `env.sh` can make `terraform init`
//!   find it.
//! - The real-API snippets keep their `...` placeholders and run literally: the emulator they talk to is
//!   started with `--api-key ... --secret-key ...`, so those very keys authenticate. The one thing the test
//!   supplies is `REDISCLOUD_URL`, the emulator's address instead of the real API's. The real-API test command
//!   (`REDISCLOUD_ACC_REAL=1 ... cargo xtask test`) is not recursed either: its environment, exactly as written,
//!   is given to one acceptance test of this binary (the binary `cargo xtask test` runs), which must then run in
//!   its real-API mode against that URL.
//! - The TF_LOG snippets run, and the test checks that Terraform parsed the provider's hclog JSON lines (level,
//!   message, and the `tf_rpc`, `tf_resource_type` and `tf_req_id` fields the README names), and that no secret
//!   reached either log.
//! - The `--debug` note is prose, not a block; [`a_debug_provider_reads_its_own_shell_not_terraforms`] checks it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::support::{
    Emulator, PROVIDER_BIN, Sandbox, Workdir, emulator_bin, run_command, terraform,
};

use super::release::package;

#[path = "../../xtask/src/install.rs"]
mod install;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// One fenced block of a Markdown file.
#[derive(Debug)]
struct Block {
    /// From the `<!-- snippet: NAME -->` line right before the opening fence, if there is one.
    name: Option<String>,
    lang: String,
    body: String,
    /// 1-based line of the opening fence.
    line: usize,
}

/// The fenced blocks of `markdown`, with their markers; panics on a marker that no block follows.
#[track_caller]
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(name) = marker(line) {
            let next = lines.get(i + 1).copied().unwrap_or("");
            assert!(
                next.trim_start().starts_with("```"),
                "line {}: marker `{name}` is not directly followed by a fenced block",
                i + 1
            );
        }
        let Some(lang) = line.trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim_start() != "```" {
            body.push(lines[i]);
            i += 1;
        }
        assert!(i < lines.len(), "line {}: unclosed fenced block", start + 1);
        blocks.push(Block {
            name: start
                .checked_sub(1)
                .and_then(|p| marker(lines[p]))
                .map(str::to_owned),
            lang: lang.trim().to_owned(),
            body: body.join("\n") + "\n",
            line: start + 1,
        });
        i += 1;
    }
    blocks
}

fn marker(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("<!-- snippet:")?
        .strip_suffix("-->")
        .map(str::trim)
}

/// The README block marked `name`, exactly as written.
#[track_caller]
fn snippet(name: &str) -> String {
    fenced_blocks(&repo_file("README.md"))
        .into_iter()
        .find(|b| b.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("README.md has no block marked `<!-- snippet: {name} -->`"))
        .body
}

/// The configuration the README's "Configuration reference" blocks make together.
fn reference_configuration() -> String {
    format!(
        "{}\n{}",
        snippet("config-provider"),
        snippet("config-resource")
    )
}

/// The three exports the emulator prints, as a reader's shell has them after `eval`.
fn with_exports(sandbox: Sandbox, emulator: &Emulator) -> Sandbox {
    sandbox
        .env("REDISCLOUD_URL", emulator.api_url())
        .env("REDISCLOUD_ACCESS_KEY", emulator.access_key())
        .env("REDISCLOUD_SECRET_KEY", emulator.secret_key())
}

/// The live (not deleted) accounts whose name is `name`.
fn live_named<'a>(accounts: &'a [Value], name: &str) -> Vec<&'a Value> {
    accounts
        .iter()
        .filter(|a| a["name"] == name && a["status"] != "deleted")
        .collect()
}

#[test]
fn every_readme_block_is_run_by_a_test() {
    let readme = repo_file("README.md");
    let source = repo_file("tests/integration/readme.rs");
    let blocks = fenced_blocks(&readme);
    assert!(
        blocks.len() >= 9,
        "found only {} blocks: is the fence parser broken?",
        blocks.len()
    );
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for block in &blocks {
        let Some(name) = &block.name else {
            problems.push(format!(
                "README.md line {}: a ```{} block without a `<!-- snippet: NAME -->` marker on the line before it",
                block.line, block.lang
            ));
            continue;
        };
        if !names.insert(name.clone()) {
            problems.push(format!(
                "README.md line {}: marker `{name}` is used twice",
                block.line
            ));
        }
        if !source.contains(&format!("snippet(\"{name}\")")) {
            problems.push(format!(
                "README.md line {}: no test in tests/integration/readme.rs runs `snippet(\"{name}\")`",
                block.line
            ));
        }
    }
    for guide in markdown_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")) {
        let text = std::fs::read_to_string(&guide).expect("guide");
        for block in fenced_blocks(&text) {
            problems.push(format!(
                "{} line {}: a fenced block in a guide; embed a tested file with {{{{ codefile ... }}}} instead",
                guide.display(),
                block.line
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn markdown_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(markdown_under(&path));
        } else if path.file_name().is_some_and(|n| {
            n.to_string_lossy().ends_with(".md") || n.to_string_lossy().ends_with(".md.tmpl")
        }) {
            found.push(path);
        }
    }
    found
}

#[test]
fn the_fence_parser_reads_markers_languages_and_bodies() {
    let md =
        "text\n<!-- snippet: one -->\n```sh\necho 1\n```\n\n```terraform\nx = 1\n\ny = 2\n```\n";
    let blocks = fenced_blocks(md);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (
            blocks[0].name.as_deref(),
            blocks[0].lang.as_str(),
            blocks[0].body.as_str(),
            blocks[0].line
        ),
        (Some("one"), "sh", "echo 1\n", 3)
    );
    assert_eq!(
        (
            blocks[1].name.as_deref(),
            blocks[1].lang.as_str(),
            blocks[1].body.as_str()
        ),
        (None, "terraform", "x = 1\n\ny = 2\n")
    );
    let stale = std::panic::catch_unwind(|| fenced_blocks("<!-- snippet: lost -->\ntext\n"));
    assert!(stale.is_err(), "a marker without its block must fail");
}

/// The commands of a shell block: comments and blank lines dropped, continuation lines joined.
fn commands(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        let code = match line.find(" #") {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let code = code.trim();
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head.trim());
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let command = std::mem::take(&mut pending);
        if !command.trim().is_empty() {
            out.push(command.trim().to_owned());
        }
    }
    out
}

#[test]
fn quick_start_is_the_ci_command_and_the_demo_is_covered() {
    assert_eq!(
        commands(&snippet("quick-start")),
        ["cargo xtask demo", "cargo xtask test"]
    );

    // `cargo xtask test` is what runs this suite: CI must run exactly it.
    let ci = repo_file(".ci/run");
    let last = ci
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .expect(".ci/run has a command");
    assert_eq!(last, "exec cargo xtask test", "{ci}");

    // `cargo xtask demo` applies examples/byoa-aws: it must give every variable that has no default ...
    let demo = repo_file("xtask/src/demo.rs");
    assert!(
        demo.contains(".join(\"byoa-aws\")"),
        "the demo no longer applies examples/byoa-aws; update this test and the README"
    );
    let given: BTreeSet<String> = demo
        .split("\"TF_VAR_")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect();
    let required = required_variables(&repo_file("examples/byoa-aws/main.tf"));
    assert_eq!(
        given, required,
        "the demo's TF_VAR_* must be exactly the required variables of examples/byoa-aws"
    );
    // ... and start the emulator with flags it has.
    let args = demo
        .split("const EMULATOR_ARGS")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("EMULATOR_ARGS in demo.rs");
    let help = run_command(
        Command::new(emulator_bin()).arg("--help"),
        Duration::from_secs(30),
    );
    help.assert_success();
    let flags: Vec<&str> = args.split('"').filter(|s| s.starts_with("--")).collect();
    assert!(flags.len() >= 4, "{args}");
    for flag in flags {
        assert!(
            help.stdout.contains(flag),
            "the demo passes {flag}, which `rediscloud-emulator --help` does not list"
        );
    }
}

/// Names of the `variable` blocks in `hcl` that have no `default`.
fn required_variables(hcl: &str) -> BTreeSet<String> {
    hcl.split("\nvariable \"")
        .skip(1)
        .filter_map(|rest| {
            let (name, body) = rest.split_once('"')?;
            let body = body.split("\n}").next().unwrap_or("");
            (!body.lines().any(|l| l.trim_start().starts_with("default"))).then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn configuration_reference_applies_with_the_real_api_snippet() {
    // The snippet exports the literal `...` keys: this emulator accepts exactly those.
    let api = Emulator::start(&["--api-key", "...", "--secret-key", "..."]);
    let sandbox = Sandbox::new("readme_real_api")
        .with_dev_overrides()
        .env("REDISCLOUD_URL", api.api_url())
        .env("TF_VAR_aws_secret_access_key", "readme-secret")
        .env("TF_VAR_console_password", "readme-password");
    sandbox.write("main.tf", &reference_configuration());
    let out = sandbox.run("", &snippet("real-api"), "yes\n");
    out.assert_success()
        .assert_matches("Terraform has been successfully initialized")
        .assert_matches("Apply complete! Resources: 1 added");
    let accounts = api.accounts();
    let created = live_named(&accounts, "production-byoa");
    assert_eq!(created.len(), 1, "{accounts:?}");
    assert_eq!(created[0]["status"], "active");
    assert_eq!(created[0]["accessKeyId"], "AKIAIOSFODNN7EXAMPLE");
}

#[test]
fn real_api_test_command_runs_the_acceptance_tests_against_the_api_it_names() {
    let words: Vec<String> = commands(&snippet("real-api-tests"))
        .concat()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let split = words
        .iter()
        .position(|w| !w.contains('='))
        .expect("a command after the variables");
    assert_eq!(words[split..], ["cargo", "xtask", "test"]);
    let env: Vec<(&str, &str)> = words[..split]
        .iter()
        .map(|w| w.split_once('=').expect("NAME=value"))
        .collect();
    let value = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("the snippet does not set {name}"))
    };
    assert_eq!(value("REDISCLOUD_ACC_REAL"), "1");

    let api = Emulator::start(&[
        "--api-key",
        value("REDISCLOUD_ACCESS_KEY"),
        "--secret-key",
        value("REDISCLOUD_SECRET_KEY"),
    ]);
    // One acceptance test of this very binary, with the snippet's environment and the API's URL.
    let exe = std::env::current_exe().expect("test binary");
    let out = run_command(
        Command::new(exe)
            .args([
                "--exact",
                "integration::acc_cloud_account::acc_cloud_account_basic",
                "--nocapture",
            ])
            .envs(env.iter().copied())
            .env("REDISCLOUD_URL", api.api_url()),
        Duration::from_secs(300),
    );
    out.assert_success()
        .assert_matches(r"test result: ok\. 1 passed")
        .assert_matches(r"SKIP \(real API\)");
    // It really went to that API, with those keys: created and deleted an account there.
    assert!(api.writes_count() >= 2, "{:?}", api.requests());
    assert_eq!(api.live_account_ids(), [1]);
}

#[test]
fn emulator_ci_snippet_runs_end_to_end_from_a_clean_directory() {
    // No emulator, no REDISCLOUD_*, no CLI configuration: the snippet sets all of it up and stops its emulator.
    let sandbox = Sandbox::new("readme_emulator_ci");
    sandbox.copy_examples();
    let out = sandbox.run("examples/byoa-aws", &snippet("emulator-ci"), "");
    out.assert_success()
        .assert_matches("Apply complete! Resources: 1 added")
        .assert_matches("Destroy complete! Resources: 1 destroyed");
}

#[test]
fn import_snippet_creates_through_the_rest_api_and_imports() {
    let emulator = Emulator::start(&[]);
    let sandbox = with_exports(Sandbox::new("readme_import"), &emulator).with_dev_overrides();
    sandbox.write("main.tf", &reference_configuration());
    let out = sandbox.run("", &snippet("import"), "");
    out.assert_success()
        .assert_matches("Import successful")
        .assert_matches(r"Plan: 0 to add, 1 to change, 0 to destroy");
    let accounts = emulator.accounts();
    let imported = live_named(&accounts, "production-byoa");
    assert_eq!(imported.len(), 1, "{accounts:?}");
    let state = std::fs::read_to_string(sandbox.work().join("terraform.tfstate")).expect("state");
    assert!(
        state.contains(&format!("\"id\": \"{}\"", imported[0]["id"])),
        "the state holds another account:\n{state}"
    );
}

#[test]
fn query_snippets_find_existing_accounts_and_generate_their_import() {
    let emulator = Emulator::start(&[]);
    let production = emulator.create_account("production-byoa", "AWS", "AKIAIOSFODNN7EXAMPLE");
    emulator.create_account("staging-byoa", "AWS", "AKIASTAGINGEXAMPLE");
    let writes = emulator.writes_count();
    let sandbox = with_exports(Sandbox::new("readme_query"), &emulator).with_dev_overrides();
    sandbox.write("main.tf", &snippet("config-provider"));
    sandbox.write("accounts.tfquery.hcl", &snippet("query-list"));
    let out = sandbox.run("", &snippet("query-generate"), "");
    out.assert_success().assert_matches(&format!(
        r"list\.rediscloud_cloud_account\.production\s+id={production}\s+production-byoa \({production}\)"
    ));
    assert!(!out.stdout.contains("staging-byoa"), "{out}");
    assert_eq!(emulator.writes_count(), writes, "a query only reads");
    let generated =
        std::fs::read_to_string(sandbox.work().join("generated.tf")).expect("generated.tf");
    assert_eq!(generated.matches("import {").count(), 1, "{generated}");

    // The README's finishing script, as written: resources named after their accounts, secrets from variables.
    sandbox
        .run("", &snippet("query-finish"), "")
        .assert_success();
    assert!(!sandbox.work().join("generated.tf").exists());
    let accounts =
        std::fs::read_to_string(sandbox.work().join("accounts.tf")).expect("accounts.tf");
    for line in [
        "resource \"rediscloud_cloud_account\" \"production_byoa\" {",
        "access_secret_key_wo         = var.production_byoa_access_secret_key",
        "console_password_wo          = var.production_byoa_console_password",
        "console_username             = var.production_byoa_console_username",
        "to       = rediscloud_cloud_account.production_byoa",
    ] {
        assert!(accounts.contains(line), "no `{line}` in:\n{accounts}");
    }
    // `terraform query` still runs beside the finished configuration, with no secret given.
    sandbox
        .run("", "terraform query -no-color", "")
        .assert_success()
        .assert_matches("production-byoa");
    // A plan without the values stops on the write-only attribute the configuration uses.
    let bare = sandbox.run("", "terraform plan -input=false -no-color", "");
    assert!(bare.status != Some(0), "{bare}");
    bare.assert_matches("Missing Attribute Configuration")
        .assert_matches("access_secret_key_wo");

    sandbox.run("", &snippet("query-fill"), "").assert_success();
    let template =
        std::fs::read_to_string(sandbox.work().join("secrets.tfvars")).expect("secrets.tfvars");
    // What the reader writes into the copy: a value for each empty string.
    let filled = template
        .lines()
        .map(|l| {
            l.replace(
                "\"\"",
                &format!("\"{}\"", l.split_whitespace().next().unwrap_or("v")),
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(template.matches("= \"\"").count(), 3, "{template}");
    sandbox.write("secrets.tfvars", &filled);
    let out = sandbox.run("", &snippet("query-apply"), "");
    out.assert_success()
        .assert_matches(r"Plan: 1 to import, 0 to add, 1 to change, 0 to destroy\.")
        .assert_matches(r"Apply complete! Resources: 1 imported, 0 added, 1 changed, 0 destroyed\.")
        .assert_matches("No changes");
    assert_eq!(
        emulator.live_account_ids().len(),
        3,
        "nothing created or deleted"
    );
}

/// The write-only block with its `# ... <attributes> as in ...` line replaced by those attribute lines of the
/// reference resource block.
#[track_caller]
fn complete_write_only(write_only: &str, reference: &str) -> String {
    let mut out = String::new();
    let mut completed = false;
    for line in write_only.lines() {
        let Some(rest) = line.trim_start().strip_prefix("# ...") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let listed = rest.split(" as in ").next().unwrap_or("");
        let names: Vec<&str> = listed
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "and")
            .collect();
        assert!(!names.is_empty(), "`{line}` names no attribute");
        for name in names {
            let source = reference
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name) && l.contains('='))
                .unwrap_or_else(|| panic!("the reference resource has no `{name}` line"));
            out.push_str(source);
            out.push('\n');
        }
        completed = true;
    }
    assert!(
        completed,
        "the write-only block has no `# ...` line to complete"
    );
    out
}

#[test]
fn write_only_snippet_keeps_the_secrets_out_of_the_state() {
    let config = format!(
        "{}\n{}",
        snippet("config-provider"),
        complete_write_only(&snippet("write-only"), &snippet("config-resource"))
    );
    let emulator = Emulator::start(&[]);
    let secret = "readme-wo-secret-never-stored";
    let password = "readme-wo-password-never-stored";
    let mut w = Workdir::new("readme_write_only")
        .env("TF_VAR_secret_access_key", secret)
        .env("TF_VAR_console_password", password);
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(&config);
    w.apply().assert_success();
    let state = w.state_file().expect("state file");
    assert!(
        !state.contains(secret) && !state.contains(password),
        "{state}"
    );
    let accounts = emulator.accounts();
    let created = live_named(&accounts, "production-byoa");
    assert_eq!(created.len(), 1, "{accounts:?}");
    assert_eq!(created[0]["status"], "active");
    w.plan_detailed().assert_code(0);
}

#[test]
fn tf_log_snippets_show_the_providers_structured_lines() {
    let emulator = Emulator::start(&[]);
    let secret = "readme-log-secret";
    let password = "readme-log-password";
    let sandbox = with_exports(Sandbox::new("readme_tf_log"), &emulator)
        .with_dev_overrides()
        .env("TF_VAR_aws_secret_access_key", secret)
        .env("TF_VAR_console_password", password);
    sandbox.write("main.tf", &reference_configuration());
    let out = sandbox.run("", &snippet("tf-log"), "yes\n");
    out.assert_success()
        .assert_matches("Apply complete! Resources: 1 added");

    // The apply's provider lines, at DEBUG, on stderr: parsed by Terraform (no raw JSON keys), with the fields
    // the README names, one per API call.
    let ours: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-rediscloud:"))
        .collect();
    assert!(!ours.is_empty(), "no provider lines on stderr:\n{out}");
    assert!(
        ours.iter().all(|l| !l.contains("\"@level\"")),
        "raw JSON:\n{out}"
    );
    assert!(
        ours.iter().all(|l| !l.contains("[TRACE]")),
        "TRACE at DEBUG:\n{out}"
    );
    assert!(
        ours.iter().any(|l| l.contains("tf_rpc=ApplyResourceChange")
            && l.contains("tf_resource_type=rediscloud_cloud_account")
            && l.contains("tf_req_id=")),
        "no line with tf_rpc, tf_resource_type and tf_req_id:\n{}",
        ours.join("\n")
    );
    assert!(
        ours.iter().any(|l| l.contains("method=POST")
            && l.contains("/cloud-accounts")
            && l.contains("status=")),
        "no API call line:\n{}",
        ours.join("\n")
    );
    assert!(
        ours.iter().any(|l| l.to_lowercase().contains("wait")),
        "no wait line:\n{}",
        ours.join("\n")
    );

    // The plan's trace, in tf.log.
    let log = std::fs::read_to_string(sandbox.work().join("tf.log")).expect("tf.log");
    let traced: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-rediscloud:"))
        .collect();
    assert!(
        traced
            .iter()
            .any(|l| l.contains("tf_rpc=PlanResourceChange")),
        "no provider plan lines in tf.log"
    );
    assert!(traced.iter().all(|l| !l.contains("\"@level\"")));
    for text in [&out.stdout, &out.stderr, &log] {
        for literal in [
            secret,
            password,
            emulator.secret_key(),
            emulator.access_key(),
        ] {
            assert!(!text.contains(literal), "a log holds {literal:?}");
        }
    }
}

#[test]
fn a_debug_provider_reads_its_own_shell_not_terraforms() {
    // The provider's shell points at one emulator, Terraform's shell at another.
    let providers_api = Emulator::start(&[]);
    let terraforms_api = Emulator::start(&[]);
    let mut cmd = Command::new(PROVIDER_BIN);
    cmd.arg("--debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("TF_") || key.starts_with("REDISCLOUD_") {
            cmd.env_remove(&*key);
        }
    }
    cmd.envs(providers_api.provider_env())
        .env("TF_LOG_PROVIDER", "DEBUG");
    let mut provider = cmd.spawn().expect("start provider --debug");
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = provider.stderr.take().expect("stderr");
    let sink = Arc::clone(&log);
    let collector = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        *sink.lock().expect("log") = text;
    });
    let mut banner = BufReader::new(provider.stdout.take().expect("stdout")).lines();
    let explanation = banner.next().and_then(Result::ok).unwrap_or_default();
    assert!(
        explanation.contains("from this shell, not from Terraform's"),
        "the debug banner does not say where settings are read: {explanation}"
    );
    let reattach = banner
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("TF_REATTACH_PROVIDERS='")
                .map(|v| v.trim_end_matches('\'').to_owned())
        })
        .expect("TF_REATTACH_PROVIDERS line");

    let mut w = Workdir::new("readme_debug_shell")
        .env("TF_REATTACH_PROVIDERS", &reattach)
        .env("TF_VAR_aws_secret_access_key", "debug-secret")
        .env("TF_VAR_console_password", "debug-password");
    for (k, v) in terraforms_api.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(&reference_configuration());
    let applied = w.apply();
    let _ = provider.kill();
    let _ = provider.wait();
    let _ = collector.join();
    applied.assert_success();

    assert_eq!(
        live_named(&providers_api.accounts(), "production-byoa").len(),
        1,
        "the account must land where the debug provider's shell points"
    );
    assert_eq!(
        terraforms_api.writes_count(),
        0,
        "Terraform's REDISCLOUD_* reached the debug provider"
    );
    // Its log went to its own stderr, as hclog JSON, at the level its own shell set.
    let log = log.lock().expect("log").clone();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("\"@level\":\"debug\"")),
        "no hclog JSON debug line on the debug provider's stderr:\n{log}"
    );
}

#[test]
fn own_configuration_snippet_runs_this_build_and_never_the_registry_s() {
    assert_eq!(commands(&snippet("install")), ["cargo xtask install"]);
    let sandbox = Sandbox::new("readme_own_config");
    let home = sandbox.work();
    let version = env!("CARGO_PKG_VERSION");
    install::lay_out(
        &home.join("terraform-provider-rediscloud/.tools/provider"),
        Path::new(PROVIDER_BIN),
        emulator_bin(),
        terraform(),
        version,
    )
    .expect("laying out the install");
    // The reader's configuration as the official provider's users write it, without a version pin.
    sandbox.write("my-byoa/main.tf", &reference_configuration());
    let out = sandbox
        .env("HOME", &home.display().to_string())
        .run("", &snippet("own-config"), "");
    out.assert_success()
        .assert_matches(&format!(r"Installed redislabs/rediscloud v{version}"))
        .assert_matches(&format!(
            r"\+ provider registry\.terraform\.io/redislabs/rediscloud v{version}"
        ));
    assert!(
        snippet("own-config").contains(&format!("redislabs/rediscloud v{version}")),
        "the README names the version `terraform version` must list"
    );
}

#[test]
fn a_configuration_pinned_to_the_official_provider_follows_the_readme_to_this_build() {
    let section = repo_file("README.md");
    let section = section
        .split("## Use this provider from your own configuration")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README's own-configuration section");
    let sandbox = Sandbox::new("readme_pinned");
    let layout = install::lay_out(
        &sandbox.work().join("install"),
        Path::new(PROVIDER_BIN),
        emulator_bin(),
        terraform(),
        env!("CARGO_PKG_VERSION"),
    )
    .expect("laying out the install");
    let sandbox = sandbox.env(
        "TF_CLI_CONFIG_FILE",
        &layout.cli_config.display().to_string(),
    );
    let pinned = reference_configuration().replacen(
        "source = \"redislabs/rediscloud\"",
        "source  = \"redislabs/rediscloud\"\n      version = \"~> 2.0\"",
        1,
    );
    assert!(pinned.contains("~> 2.0"), "{pinned}");
    sandbox.write("cfg/main.tf", &pinned);
    // The README quotes Terraform's errors word for word, so that a reader can search for them: without a lock
    // file, and with the one the official provider left behind.
    let init_fails_with = |quoted: &str, version: &str| {
        assert!(
            section.contains(&quoted.replace("{v}", "2.x.y")),
            "the README does not quote `{quoted}`:\n{section}"
        );
        let quoted = quoted.replace("{v}", version);
        let failed = sandbox.run("cfg", "terraform init -input=false -no-color", "");
        assert!(failed.status != Some(0), "{failed}");
        let said = format!("{}{}", failed.stdout, failed.stderr)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(said.contains(&quoted), "{said}");
    };
    init_fails_with(
        "no available releases match the given constraints ~> 2.0",
        "",
    );
    sandbox.write(
        "cfg/.terraform.lock.hcl",
        "provider \"registry.terraform.io/redislabs/rediscloud\" {\n  version     = \"2.1.0\"\n  constraints = \"~> 2.0\"\n  hashes = [\n    \"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\n  ]\n}\n",
    );
    init_fails_with(
        "the previously-selected version {v} is no longer available",
        "2.1.0",
    );

    // What the README says to do: the new constraint, then `terraform init -upgrade`.
    assert!(
        section.contains("`version = \">= 0.1.0\"`")
            && section.contains("`terraform init -upgrade`"),
        "{section}"
    );
    sandbox.write("cfg/main.tf", &pinned.replace("\"~> 2.0\"", "\">= 0.1.0\""));
    let upgraded = sandbox.run("cfg", "terraform init -upgrade -input=false -no-color", "");
    upgraded
        .assert_success()
        .assert_matches(r"Installed redislabs/rediscloud v0\.1\.0");
    let lock =
        std::fs::read_to_string(sandbox.work().join("cfg/.terraform.lock.hcl")).expect("lock");
    assert!(
        lock.contains("version     = \"0.1.0\"") && !lock.contains("AAAA"),
        "{lock}"
    );
}

/// The architecture graph is the crates' own: one node per workspace package, a solid arrow for
/// each dependency between them, a dotted one for each dev-dependency, and `proto/` built by
/// the crate the graph says.
#[test]
fn architecture_graph_matches_the_workspace_manifests() {
    let graph = snippet("architecture");
    // Nodes: `id["<package> (<path>): ..."]`.
    let mut nodes: BTreeMap<String, String> = BTreeMap::new();
    for line in graph.lines().map(str::trim) {
        if let Some((id, label)) = line.split_once("[\"") {
            let package = label.split([' ', ':']).next().unwrap_or_default();
            nodes.insert(id.to_owned(), package.to_owned());
        }
    }
    let mut drawn = BTreeSet::new();
    for line in graph.lines().map(str::trim) {
        let (from, to, kind) = if let Some((a, b)) = line.split_once(" --> ") {
            (a, b, "normal")
        } else if let Some((a, rest)) = line.split_once(" -. ") {
            let (_, b) = rest.split_once(" .-> ").expect("a dotted edge ends in .->");
            (a, b, "dev")
        } else {
            continue;
        };
        let name = |id: &str| {
            nodes
                .get(id)
                .cloned()
                .unwrap_or_else(|| panic!("no node {id}"))
        };
        drawn.insert((name(from), name(to), kind));
    }
    // What the manifests say.
    let manifests = [
        ("terraform-provider-rediscloud", "Cargo.toml"),
        ("tfplugin", "crates/tfplugin/Cargo.toml"),
        ("rediscloud-api", "crates/rediscloud-api/Cargo.toml"),
        (
            "rediscloud-emulator",
            "crates/rediscloud-emulator/Cargo.toml",
        ),
    ];
    let internal: Vec<&str> = manifests.iter().map(|(p, _)| *p).collect();
    let mut declared = BTreeSet::new();
    for (package, path) in manifests {
        let text = repo_file(path);
        let mut section = "";
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
                continue;
            }
            let kind = match section {
                "[dependencies]" => "normal",
                "[dev-dependencies]" => "dev",
                _ => continue,
            };
            if let Some(dep) = internal.iter().find(|d| {
                line.strip_prefix(**d)
                    .is_some_and(|rest| rest.starts_with(['.', ' ', '=']))
            }) {
                declared.insert((package.to_owned(), (*dep).to_owned(), kind));
            }
        }
        assert!(
            nodes.values().any(|n| n == package),
            "the graph has no node for the package {package}"
        );
    }
    // `proto/` is built by the crate the graph points at it from.
    let proto: Vec<_> = drawn
        .iter()
        .filter(|(_, to, _)| to == "proto/")
        .cloned()
        .collect();
    assert_eq!(proto.len(), 1, "{drawn:?}");
    assert!(
        repo_file("crates/tfplugin/build.rs").contains("../../proto/tfplugin6.proto")
            && proto[0].0 == "tfplugin",
        "{proto:?}"
    );
    drawn.retain(|(_, to, _)| to != "proto/");
    assert_eq!(
        drawn, declared,
        "the graph (left) and the manifests (right) differ"
    );
}

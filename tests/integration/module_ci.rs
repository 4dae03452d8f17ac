//! Module authors' CI: the workflow in `examples/ci/module-tests.yml` (rendered into `docs/guides/`), whose test
//! step runs here exactly as written: `terraform test` of `examples/modules/byoa-aws` against the emulator,
//! including the taken-name case that must fail.

use std::collections::BTreeSet;
use std::path::Path;

use super::support::{MIN_TERRAFORM, Sandbox, version_at_least};

const WORKFLOW: &str = "examples/ci/module-tests.yml";

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// One step of a workflow job, as far as these tests read it.
#[derive(Debug, Default, PartialEq)]
struct WorkflowStep {
    name: Option<String>,
    id: Option<String>,
    uses: Option<String>,
    working_directory: Option<String>,
    /// The `run: |` script, de-indented as YAML does.
    run: Option<String>,
    /// `with:` entries.
    with: Vec<(String, String)>,
}

/// The steps of the workflow's (single) job. This reads the block style the file uses (`- name:` items,
/// `key: value` scalars, `run: |` literal blocks, a `with:` map) and nothing more; the parser test below pins it.
fn workflow_steps(yaml: &str) -> Vec<WorkflowStep> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let start = lines
        .iter()
        .position(|l| l.trim() == "steps:")
        .expect("a steps: list");
    let item_indent = lines[start + 1..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .expect("a first step");
    let mut steps: Vec<WorkflowStep> = Vec::new();
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            i += 1;
            continue;
        }
        if indent(line) < item_indent {
            break;
        }
        let mut text = line.trim_start();
        if indent(line) == item_indent {
            text = text.strip_prefix("- ").expect("a `- ` step item");
            steps.push(WorkflowStep::default());
        }
        let step = steps.last_mut().expect("a step");
        let key_indent = indent(line) + line.trim_start().len() - text.len();
        let (key, value) = text.split_once(':').expect("key: value");
        let value = value.trim();
        match (key, value) {
            ("run", "|") => {
                let mut body = Vec::new();
                i += 1;
                while i < lines.len()
                    && (lines[i].trim().is_empty() || indent(lines[i]) > key_indent)
                {
                    body.push(lines[i]);
                    i += 1;
                }
                while body.last().is_some_and(|l| l.trim().is_empty()) {
                    body.pop();
                }
                let cut = body
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .map_or(0, |l| indent(l));
                let script: Vec<&str> = body
                    .iter()
                    .map(|l| if l.trim().is_empty() { "" } else { &l[cut..] })
                    .collect();
                step.run = Some(script.join("\n") + "\n");
                continue;
            }
            ("with", "") => {
                i += 1;
                while i < lines.len() && indent(lines[i]) > key_indent {
                    let (k, v) = lines[i].trim().split_once(':').expect("with entry");
                    step.with.push((k.trim().to_owned(), v.trim().to_owned()));
                    i += 1;
                }
                continue;
            }
            ("name", v) => step.name = Some(v.to_owned()),
            ("id", v) => step.id = Some(v.to_owned()),
            ("uses", v) => step.uses = Some(v.to_owned()),
            ("working-directory", v) => step.working_directory = Some(v.to_owned()),
            (other, v) => panic!("unexpected step key `{other}: {v}`"),
        }
        i += 1;
    }
    steps
}

#[track_caller]
fn step<'a>(steps: &'a [WorkflowStep], id_or_name: &str) -> &'a WorkflowStep {
    steps
        .iter()
        .find(|s| s.id.as_deref() == Some(id_or_name) || s.name.as_deref() == Some(id_or_name))
        .unwrap_or_else(|| panic!("{WORKFLOW} has no step `{id_or_name}`"))
}

#[test]
fn the_workflow_parser_reads_steps_scripts_and_inputs() {
    let yaml = "jobs:\n  j:\n    steps:\n      - uses: a/b@v1\n\n      - uses: c/d@v2\n        with:\n          version: 1.2.3\n          flag: false\n      - name: Script\n        id: s\n        # a comment\n        working-directory: sub/dir\n        run: |\n          echo one\n\n          if true; then\n            echo two\n          fi\n";
    let steps = workflow_steps(yaml);
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0].uses.as_deref(), Some("a/b@v1"));
    assert_eq!(
        steps[1].with,
        [
            ("version".to_owned(), "1.2.3".to_owned()),
            ("flag".to_owned(), "false".to_owned())
        ]
    );
    assert_eq!(
        steps[2],
        WorkflowStep {
            name: Some("Script".to_owned()),
            id: Some("s".to_owned()),
            working_directory: Some("sub/dir".to_owned()),
            run: Some("echo one\n\nif true; then\n  echo two\nfi\n".to_owned()),
            ..WorkflowStep::default()
        }
    );
}

/// The test step's script, run as written where the step runs it, with the three binaries on PATH (what the
/// install step provides): `terraform test` passes, the taken-name directory fails as it must, and every account
/// the tests created was deleted by `terraform test`'s own cleanup.
#[test]
fn workflow_test_step_runs_terraform_test_of_the_module_against_the_emulator() {
    let steps = workflow_steps(&repo_file(WORKFLOW));
    let test = step(&steps, "module-tests");
    let dir = test
        .working_directory
        .as_deref()
        .expect("the test step's working-directory");
    let script = test.run.as_deref().expect("the test step's script");

    let sandbox = Sandbox::new("module_ci_workflow");
    sandbox.copy_examples();
    // GitHub Actions runs `shell: bash` steps with `bash --noprofile --norc -eo pipefail`, as the sandbox does.
    let out = sandbox.run(dir, script, "");
    out.assert_success()
        .assert_matches(r"Success! [1-9][0-9]* passed, 0 failed")
        .assert_matches("tests/expect-error failed as expected");

    // The emulator's log, printed by the step's trap: every account created was deleted again.
    let created: BTreeSet<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("created as draft"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let deleted: BTreeSet<&str> = out
        .stdout
        .lines()
        .filter(|l| l.ends_with("-> deleted"))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(2)
                .map(|id| id.trim_end_matches(':'))
        })
        .collect();
    assert!(
        created.len() >= 2,
        "expected the module test's and the taken-name test's accounts:\n{out}"
    );
    assert_eq!(created, deleted, "accounts left behind:\n{out}");
    for name in ["\"module-test-byoa\"", "\"module-test-taken\""] {
        assert!(out.stdout.contains(name), "no account {name}:\n{out}");
    }
}

/// What the steps before the test step provide, as far as this repository decides it: the package `cargo install`
/// names has the two binaries the script runs, and the pinned Terraform is one the suite supports.
#[test]
fn workflow_installs_what_its_test_step_runs() {
    let steps = workflow_steps(&repo_file(WORKFLOW));
    let install = step(
        &steps,
        "Install terraform-provider-rediscloud and rediscloud-emulator",
    );
    let script = install.run.as_deref().expect("install script");
    // The provider's package and the emulator's, each with its binary, named in that order.
    let manifests = [
        ("terraform-provider-rediscloud", repo_file("Cargo.toml")),
        (
            "rediscloud-emulator",
            repo_file("crates/rediscloud-emulator/Cargo.toml"),
        ),
    ];
    let packages: Vec<&str> = manifests
        .iter()
        .map(|(_, cargo)| {
            cargo
                .lines()
                .skip_while(|l| l.trim() != "[package]")
                .find_map(|l| l.strip_prefix("name = "))
                .map(|n| n.trim_matches('"'))
                .expect("package name")
        })
        .collect();
    assert!(
        script.contains("cargo install") && script.contains(&format!(" {}\n", packages.join(" "))),
        "the install step must `cargo install` the packages {packages:?}:\n{script}"
    );
    assert!(script.contains(">> \"$GITHUB_PATH\""), "{script}");
    // Built once per provider commit: the cache's key names the commit the install builds, and a hit skips the
    // build.
    let cache = step(
        &steps,
        "Cache terraform-provider-rediscloud and rediscloud-emulator",
    );
    assert!(
        cache
            .uses
            .as_deref()
            .is_some_and(|u| u.starts_with("actions/cache@")),
        "{cache:?}"
    );
    let with = |key: &str| {
        cache
            .with
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the cache step has no `{key}`"))
    };
    assert!(
        with("key").contains("env.REDISCLOUD_PROVIDER_REV"),
        "{cache:?}"
    );
    assert!(
        script.contains("--rev \"$REDISCLOUD_PROVIDER_REV\""),
        "{script}"
    );
    assert!(
        script.contains(&format!("--root {}", with("path")))
            && script.contains(&format!("echo {}/bin", with("path"))),
        "the install step must install into, and put on PATH, the directory the cache keeps:\n{script}"
    );
    assert!(script.contains("steps.cache.outputs.cache-hit"), "{script}");
    for (bin, cargo) in &manifests {
        assert!(
            cargo.contains(&format!("[[bin]]\nname = \"{bin}\"")),
            "the package that provides {bin} has no such binary"
        );
    }
    let setup = steps
        .iter()
        .find(|s| {
            s.uses
                .as_deref()
                .is_some_and(|u| u.starts_with("hashicorp/setup-terraform@"))
        })
        .expect("a setup-terraform step");
    let version = setup
        .with
        .iter()
        .find(|(k, _)| k == "terraform_version")
        .map(|(_, v)| v.as_str())
        .expect("a pinned terraform_version");
    assert!(version_at_least(version, MIN_TERRAFORM), "{version}");
    // The wrapper would turn terraform's exit codes and output into a Node script's.
    assert!(
        setup
            .with
            .contains(&("terraform_wrapper".to_owned(), "false".to_owned()))
    );
}

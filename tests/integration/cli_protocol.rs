//! The provider binary as Terraform sees it: init through dev_overrides,
//! validate, the schema Terraform reads, and JSON logs Terraform parses.

use std::path::Path;

use super::support::{Emulator, Workdir};

const CONFIG: &str = r#"
terraform {
  required_providers {
    rediscloud = {
      source = "redislabs/rediscloud"
    }
  }
}

provider "rediscloud" {}

resource "rediscloud_cloud_account" "a" {
  name              = "cli-protocol"
  provider_type     = "AWS"
  access_key_id     = "AKIAIOSFODNN7EXAMPLE"
  access_secret_key = "not-a-real-secret"
  console_username  = "console"
  console_password  = "not-a-real-password"
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
}
"#;

#[test]
fn terraform_loads_validates_and_reads_the_schema() {
    let w = Workdir::new("cli_schema");
    w.write_config(CONFIG);
    w.init().assert_success();
    w.validate()
        .assert_success()
        .assert_matches("The configuration is valid");
    let out = w.run(&["providers", "schema", "-json"]);
    out.assert_success();
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema JSON");
    let p = &schema["provider_schemas"]["registry.terraform.io/redislabs/rediscloud"];
    for attr in ["api_key", "secret_key"] {
        assert_eq!(
            p["provider"]["block"]["attributes"][attr]["sensitive"], true,
            "{attr}"
        );
    }
    let r = &p["resource_schemas"]["rediscloud_cloud_account"]["block"]["attributes"];
    for attr in [
        "access_secret_key",
        "console_password",
        "access_secret_key_wo",
        "console_password_wo",
    ] {
        assert_eq!(r[attr]["sensitive"], true, "{attr}");
    }
    for attr in ["access_secret_key_wo", "console_password_wo"] {
        assert_eq!(r[attr]["write_only"], true, "{attr}");
    }
    assert_eq!(r["id"]["computed"], true);
    assert_eq!(
        p["resource_identity_schemas"]["rediscloud_cloud_account"]["attributes"]["id"]["required_for_import"],
        true
    );
    assert!(p["data_source_schemas"]["rediscloud_cloud_account"].is_object());
}

/// Compares `text` with the committed fixture `name`, or rewrites the fixture when `UPDATE_FIXTURES` is set.
fn assert_fixture(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, text).expect("write fixture");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != text {
        let first = committed
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(text.lines().count()));
        panic!(
            "{name} differs from what the provider serves, first at line {}:\n  committed: {:?}\n  served:    {:?}\nRun with UPDATE_FIXTURES=1 only if the change is intended.",
            first + 1,
            committed.lines().nth(first),
            text.lines().nth(first)
        );
    }
}

/// The schema Terraform reads (`terraform providers schema -json`) is exactly the committed one: a refactoring of how
/// schemas are declared cannot change what users' configurations and states are checked against.
#[test]
fn served_schema_matches_the_committed_fixture() {
    let w = Workdir::new("cli_schema_fixture");
    w.write_config(CONFIG);
    let out = w.run(&["providers", "schema", "-json"]);
    out.assert_success();
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema JSON");
    let pretty = serde_json::to_string_pretty(&schema).expect("JSON") + "\n";
    assert_fixture("provider-schema.json", &pretty);
}

/// What the served schema cannot show (plan behaviour and validators) is the committed one too.
#[test]
fn plan_behaviour_and_validators_match_the_committed_fixture() {
    use tfplugin::framework::provider::Provider;
    let provider = terraform_provider_rediscloud::provider::RedisCloudProvider::new();
    let mut text = format!("provider: {:#?}\n", provider.schema());
    for r in provider.resources() {
        text += &format!("resource {}: {:#?}\n", r.type_name(), r.schema());
        text += &format!("identity {}: {:#?}\n", r.type_name(), r.identity_schema());
    }
    for d in provider.data_sources() {
        text += &format!("data source {}: {:#?}\n", d.type_name(), d.schema());
    }
    for l in provider.list_resources() {
        text += &format!("list resource {}: {:#?}\n", l.type_name(), l.schema());
    }
    assert_fixture("schema-behaviour.txt", &text);
}

#[test]
fn provider_logs_reach_terraform_as_structured_lines_at_their_level() {
    let emulator = Emulator::start(&[]);
    let log = std::env::temp_dir().join(format!("rediscloud-trace-{}.log", std::process::id()));
    let mut w = Workdir::new("cli_trace")
        .env("TF_LOG", "trace")
        .env("TF_LOG_PATH", log.to_str().expect("utf-8 path"));
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(CONFIG);
    w.plan().assert_success();
    let text = std::fs::read_to_string(&log).expect("TF_LOG_PATH file");
    let _ = std::fs::remove_file(&log);
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("provider.terraform-provider-rediscloud"))
        .collect();
    assert!(!ours.is_empty(), "no provider lines in the trace log");
    // Parsed lines keep their level and message, with fields as key=value;
    // an unparsed line would still show the raw JSON keys.
    assert!(
        ours.iter().any(|l| l.contains(
            "[DEBUG] provider.terraform-provider-rediscloud: served request GetProviderSchema in "
        ) && l.contains("tf_rpc=GetProviderSchema")),
        "no parsed debug line for GetProviderSchema:\n{}",
        ours.join("\n")
    );
    assert!(
        ours.iter().all(|l| !l.contains("\"@level\"")),
        "raw JSON line:\n{}",
        ours.join("\n")
    );
    assert!(!text.contains("not-a-real-secret") && !text.contains(emulator.secret_key()));
}

#[test]
fn debug_mode_serves_terraform_through_tf_reattach_providers() {
    use std::io::BufRead as _;
    let emulator = Emulator::start(&[]);
    let mut provider = std::process::Command::new(super::support::PROVIDER_BIN)
        .arg("--debug")
        .envs(emulator.provider_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start provider --debug");
    let stdout = provider.stdout.take().expect("stdout");
    let reattach = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("TF_REATTACH_PROVIDERS='")
                .map(|v| v.trim_end_matches('\'').to_owned())
        })
        .expect("TF_REATTACH_PROVIDERS line");
    let mut w = Workdir::new("cli_reattach").env("TF_REATTACH_PROVIDERS", &reattach);
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(CONFIG);
    // Several Terraform processes (validate, plan) reuse the one debug process.
    w.validate().assert_success();
    w.plan().assert_success().assert_matches("1 to add");
    let _ = provider.kill();
    let _ = provider.wait();
}

#[test]
fn a_person_running_the_binary_gets_an_explanation_not_a_hang() {
    let out = std::process::Command::new(super::support::PROVIDER_BIN)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .expect("run provider");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing may go to stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Terraform") && err.contains("--debug"),
        "{err}"
    );
}

#[test]
fn the_provider_does_not_outlive_the_process_that_launched_it() {
    // A shell launches the provider in the background and exits a moment later,
    // as a Terraform that was killed would: the provider must notice and stop.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' >/dev/null 2>&1 & echo $!; sleep 1",
            super::support::PROVIDER_BIN
        ))
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .output()
        .expect("launch through sh");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(pid.parse::<u32>().is_ok(), "no pid: {out:?}");
    let status = format!("/proc/{pid}/status");
    let started = std::time::Instant::now();
    let gone = loop {
        let alive = std::fs::read_to_string(&status)
            .map(|s| {
                !s.lines()
                    .any(|l| l.starts_with("State:") && l.contains("Z"))
            })
            .unwrap_or(false);
        if !alive {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let last = std::fs::read_to_string(&status).unwrap_or_default();
    if !gone {
        let _ = std::process::Command::new("kill").arg(&pid).status();
    }
    assert!(
        gone,
        "the orphaned provider {pid} was still running after 10 s: {:?}",
        last.lines()
            .filter(|l| l.starts_with("State") || l.starts_with("PPid"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_malformed_tokio_worker_threads_does_not_stop_the_provider() {
    // Terraform hands its environment to every provider process. The async runtime reads
    // TOKIO_WORKER_THREADS itself and panics on anything but a positive integer.
    let emulator = Emulator::start(&[]);
    for value in ["all", "0"] {
        let mut w = Workdir::new("cli_worker_threads").env("TOKIO_WORKER_THREADS", value);
        for (k, v) in emulator.provider_env() {
            w = w.env(&k, &v);
        }
        w.write_config(CONFIG);
        w.plan().assert_success().assert_matches("1 to add");
    }
}

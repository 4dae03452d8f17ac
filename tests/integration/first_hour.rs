//! What a new user meets through real Terraform when something is off: a base URL without
//! `/v1`, a `REDISCLOUD_URL` without a scheme, a long wait at the default log level, and a
//! timeout that cannot be met.

use regex::Regex;

use super::support::{Emulator, TfOutput, Workdir};

fn config(name: &str, key: &str, timeouts: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rediscloud = {{
      source = "redislabs/rediscloud"
    }}
  }}
}}

resource "rediscloud_cloud_account" "a" {{
  name              = "{name}"
  provider_type     = "AWS"
  access_key_id     = "{key}"
  access_secret_key = "not-a-real-secret"
  console_username  = "console"
  console_password  = "not-a-real-password"
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
{timeouts}}}
"#
    )
}

/// A work directory pointing at `emulator`, logging at `level` to `tf.log` inside it.
fn workdir(name: &str, emulator: &Emulator, level: &str) -> Workdir {
    let mut w = Workdir::new(name);
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    let log = w.path().join("tf.log");
    w.env("TF_LOG", level)
        .env("TF_LOG_PATH", log.to_str().expect("utf-8 path"))
}

fn log_of(w: &Workdir) -> String {
    std::fs::read_to_string(w.path().join("tf.log")).unwrap_or_default()
}

/// Terraform's output with line wrapping undone.
fn squashed(out: &TfOutput) -> String {
    out.combined()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_url_without_v1_is_named_in_the_error_and_the_debug_log_with_a_hint() {
    let emulator = Emulator::start(&[]);
    let wrong = emulator.api_url().trim_end_matches("/v1").to_owned();
    let w = workdir("first_hour_no_v1", &emulator, "DEBUG").env("REDISCLOUD_URL", &wrong);
    w.write_config(&config("no-v1", "AKIAFIRSTHOURNOV1", ""));
    let out = w.apply();
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    assert!(
        text.contains(&format!("GET {wrong}/cloud-accounts answered HTTP 404")),
        "{text}"
    );
    assert!(
        text.contains("does `url` / `REDISCLOUD_URL` end in `/v1`?"),
        "{text}"
    );
    // The DEBUG line says the same in its message, whatever order Terraform prints fields in.
    let log = log_of(&w);
    let line = format!(
        "[DEBUG] provider.terraform-provider-rediscloud: GET {wrong}/cloud-accounts: HTTP 404 in "
    );
    assert!(log.contains(&line), "no `{line}` in the log");
    assert_eq!(emulator.writes_count(), 0, "a wrong URL must write nothing");
}

#[test]
fn a_redis_cloud_url_without_a_scheme_is_named_with_its_value() {
    let emulator = Emulator::start(&[]);
    let bare = format!("localhost:{}/v1", emulator.port());
    let w = workdir("first_hour_bare_url", &emulator, "OFF").env("REDISCLOUD_URL", &bare);
    w.write_config(&config("bare-url", "AKIAFIRSTHOURBARE", ""));
    let out = w.plan();
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    for phrase in [
        "Invalid REDISCLOUD_URL Environment Variable".to_owned(),
        "The REDISCLOUD_URL environment variable must be an absolute http:// or https:// URL"
            .to_owned(),
        format!("got: \"{bare}\""),
        "including `/v1`".to_owned(),
    ] {
        assert!(text.contains(&phrase), "no `{phrase}` in: {text}");
    }
    assert!(emulator.requests().is_empty(), "{:?}", emulator.requests());
}

#[test]
fn a_long_wait_logs_its_progress_at_info() {
    // Activation takes 2.5 s; the test-only knob asks for progress every 400 ms.
    let emulator = Emulator::start(&["--activation-ms", "2500"]);
    let w = workdir("first_hour_progress", &emulator, "INFO")
        .env("REDISCLOUD_TEST_PROGRESS_INTERVAL_MS", "400");
    w.write_config(&config(
        "progress",
        "AKIAFIRSTHOURPROGRESS",
        "  timeouts {\n    create = \"5m\"\n  }\n",
    ));
    w.apply().assert_success();
    let log = log_of(&w);
    let progress = Regex::new(
        r"\[INFO\]  provider\.terraform-provider-rediscloud: still waiting for cloud account \d+ to become active: status pending after \d+(ms|s); deadline in 4m5\ds",
    )
    .unwrap();
    let seen = progress.find_iter(&log).count();
    // Every 400 ms of a 2.5 s wait: at most one per interval, and more than one.
    assert!((2..=7).contains(&seen), "{seen} progress lines in:\n{log}");
    assert!(
        log.contains("[INFO]  provider.terraform-provider-rediscloud: poll saw cloud account"),
        "no status line in:\n{log}"
    );
    w.destroy().assert_success();
}

/// The requests the emulator received for the account list, outside `/admin`.
fn list_requests(emulator: &Emulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| {
            r.get("method").and_then(|m| m.as_str()) == Some("GET")
                && r.get("path").and_then(|p| p.as_str()) == Some("/v1/cloud-accounts")
        })
        .count()
}

#[test]
fn a_wrong_secret_key_fails_the_plan_on_the_provider_block_before_anything_is_sent() {
    let emulator = Emulator::start(&[]);
    let w = workdir("first_hour_wrong_secret", &emulator, "OFF")
        .env("REDISCLOUD_SECRET_KEY", "not-the-secret");
    w.write_config(&config("wrong-secret", "AKIAFIRSTHOURWRONG", ""));
    // A plan of a new account needs no API call of its own: only the provider's check can catch it.
    let out = w.plan();
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    for phrase in [
        "Error: Redis Cloud Rejected the API Keys",
        "with provider[\"registry.terraform.io/redislabs/rediscloud\"]",
        "the REDISCLOUD_ACCESS_KEY environment variable",
        "the REDISCLOUD_SECRET_KEY environment variable",
        "Nothing was planned or changed.",
    ] {
        assert!(text.contains(phrase), "no `{phrase}` in: {text}");
    }
    assert!(!text.contains("rediscloud_cloud_account.a"), "{text}");
    assert!(!text.contains("UNAUTHORIZED - UNAUTHORIZED"), "{text}");
    assert_eq!(list_requests(&emulator), 1, "{:?}", emulator.requests());
    assert_eq!(emulator.writes_count(), 0);
}

#[test]
fn a_url_without_v1_fails_the_plan_on_the_url_attribute() {
    let emulator = Emulator::start(&[]);
    let wrong = emulator.api_url().trim_end_matches("/v1").to_owned();
    let w = workdir("first_hour_no_v1_plan", &emulator, "OFF");
    w.write_config(&format!(
        "provider \"rediscloud\" {{\n  url = \"{wrong}\"\n}}\n{}",
        config("no-v1-plan", "AKIAFIRSTHOURNOV1PLAN", "")
    ));
    let out = w.plan();
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    for phrase in [
        "Error: Not the Redis Cloud API".to_owned(),
        format!("GET {wrong}/cloud-accounts answered HTTP 404"),
        "The URL comes from `url` in the provider block.".to_owned(),
        "in provider \"rediscloud\"".to_owned(),
        "url = \"".to_owned(),
    ] {
        assert!(text.contains(&phrase), "no `{phrase}` in: {text}");
    }
    assert_eq!(emulator.writes_count(), 0);
}

#[test]
fn the_provider_s_check_is_the_refresh_s_list_a_plan_of_existing_accounts_sends_one_request() {
    let emulator = Emulator::start(&[]);
    let w = workdir("first_hour_one_list", &emulator, "OFF");
    let mut cfg = config("one-list-0", "AKIAONELIST0", "");
    for i in 1..4 {
        cfg.push_str(
            &config(&format!("one-list-{i}"), &format!("AKIAONELIST{i}"), "")
                .split("resource ")
                .nth(1)
                .map(|r| format!("resource {}", r.replacen("\"a\"", &format!("\"a{i}\""), 1)))
                .expect("a resource block"),
        );
    }
    w.write_config(&cfg);
    w.apply().assert_success();
    let before = list_requests(&emulator);
    let requests_before = emulator.requests().len();
    let out = w.plan_detailed();
    assert_eq!(out.status, Some(0), "{out}");
    assert_eq!(
        list_requests(&emulator) - before,
        1,
        "a plan refreshing 4 accounts: one list, the provider's check, served the refreshes: {:?}",
        &emulator.requests()[requests_before..]
    );
    assert_eq!(emulator.requests().len() - requests_before, 1);
}

#[test]
fn a_delete_that_runs_out_of_time_names_its_deadline_its_task_and_what_the_next_run_does() {
    let emulator = Emulator::start(&[]);
    let w = workdir("first_hour_delete_deadline", &emulator, "OFF");
    w.write_config(&config(
        "delete-deadline",
        "AKIAFIRSTHOURDELETE",
        "  timeouts {\n    delete = \"2s\"\n  }\n",
    ));
    w.apply().assert_success();
    // Every task now takes a minute in each stage: the delete's task cannot finish in 2 s.
    emulator.config(serde_json::json!({"task_stage_ms": 60_000}));
    let out = w.destroy();
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    let task = Regex::new(r"timed out waiting for task ([0-9a-f-]+) to finish")
        .expect("regex")
        .captures(&text)
        .map(|c| c[1].to_owned())
        .unwrap_or_else(|| panic!("no task named in: {text}"));
    for phrase in [
        "Error: Unable to Delete Cloud Account".to_owned(),
        "The deadline `delete = \"2s\"` in this resource's `timeouts` block ran out. If Redis Cloud needs longer, raise it.".to_owned(),
        "last status".to_owned(),
        "Redis Cloud may still be deleting cloud account".to_owned(),
        "The next run finds it gone, or waits for it.".to_owned(),
    ] {
        assert!(text.contains(&phrase), "no `{phrase}` in: {text}");
    }
    let tasks = emulator.state().to_string();
    assert!(
        tasks.contains(&task),
        "the task named is not the emulator's: {task}"
    );
}

#[test]
fn a_name_another_account_holds_fails_the_plan_with_its_import_command() {
    let emulator = Emulator::start(&[]);
    let holder = emulator.create_account("taken-at-plan", "AWS", "AKIASOMEONEELSE");
    let w = workdir("first_hour_name_at_plan", &emulator, "OFF");
    w.write_config(&config("taken-at-plan", "AKIAFIRSTHOURTAKEN", ""));
    let writes = emulator.writes_count();
    let out = w.plan();
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    for phrase in [
        "Error: Cloud Account Name Already Taken".to_owned(),
        format!("Cloud account {holder} (\"taken-at-plan\", status active) already has this name"),
        format!("`terraform import <resource address> {holder}`"),
        "name = \"taken-at-plan\"".to_owned(),
    ] {
        assert!(text.contains(&phrase), "no `{phrase}` in: {text}");
    }
    assert_eq!(emulator.writes_count(), writes, "a plan writes nothing");
}

#[test]
fn a_replacement_keeps_its_own_name_without_a_collision() {
    let emulator = Emulator::start(&[]);
    let w = workdir("first_hour_replace_same_name", &emulator, "OFF");
    let aws = config("replaced-same-name", "AKIAFIRSTHOURREPL", "");
    w.write_config(&aws);
    w.apply().assert_success();
    // provider_type forces a replacement, under the same name the old account holds until then.
    w.write_config(&aws.replace("provider_type     = \"AWS\"", "provider_type     = \"GCP\""));
    let out = w.plan();
    assert!(out.success(), "{out}");
    assert!(
        squashed(&out).contains("must be replaced"),
        "{}",
        squashed(&out)
    );
}

#[test]
fn a_name_taken_between_plan_and_apply_is_told_apart_from_one_taken_before() {
    let emulator = Emulator::start(&[]);
    let w = workdir("first_hour_name_since_plan", &emulator, "OFF");
    w.write_config(&config("taken-since-plan", "AKIAFIRSTHOURSINCE", ""));
    w.plan_out("tfplan").assert_success();
    // Another client registers the name just before our create reaches the API: after every
    // plan, so only what the plan recorded (its private state, handed to apply) can tell.
    emulator.fault(serde_json::json!({
        "interpose": {"name": "taken-since-plan", "access_key_id": "AKIAANOTHERCLIENT", "provider": "AWS"},
        "when": "before", "method": "POST", "path_prefix": "/v1/cloud-accounts", "count": 1
    }));
    let out = w.apply_plan("tfplan");
    assert!(!out.success(), "{out}");
    let text = squashed(&out);
    for phrase in [
        "Error: Cloud Account Name Already Taken",
        "(\"taken-since-plan\", status",
        "The name was free when this plan was made, at ",
        "UTC: the account was registered since",
    ] {
        assert!(text.contains(phrase), "no `{phrase}` in: {text}");
    }
    // A name taken before the plan is the plan's error, without that sentence.
    let again = w.plan();
    assert!(!again.success(), "{again}");
    let text = squashed(&again);
    assert!(text.contains("so this plan cannot be applied"), "{text}");
    assert!(!text.contains("free when this plan was made"), "{text}");
}

#[test]
fn importing_an_account_this_state_already_manages_is_warned_of() {
    let emulator = Emulator::start(&[]);
    let w = workdir("first_hour_managed_twice", &emulator, "OFF");
    let managed = config("managed-twice", "AKIAFIRSTHOURTWICE", "");
    w.write_config(&managed);
    w.apply().assert_success();
    let id = emulator.live_account_ids()[1];
    // What a query's generated configuration does when its filter also matches this account.
    let twin = managed
        .split("resource ")
        .nth(1)
        .map(|r| format!("resource {}", r.replacen("\"a\"", "\"twin\"", 1)))
        .expect("a resource block");
    w.write_config(&format!(
        "{managed}\n{twin}\nimport {{\n  to = rediscloud_cloud_account.twin\n  id = \"{id}\"\n}}\n"
    ));
    let out = w.plan();
    let text = squashed(&out);
    for phrase in [
        "Warning: Cloud Account Managed Twice".to_owned(),
        format!("Cloud account {id} was just read for another resource of this state too"),
        "terraform state rm <resource address>".to_owned(),
    ] {
        assert!(text.contains(&phrase), "no `{phrase}` in: {text}");
    }
}

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

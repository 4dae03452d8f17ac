//! One API key, many runs: the rate window is shared by every client of the key and counted by
//! the API alone. A run that starts with the window nearly spent by another (an earlier
//! `apply`, another workspace) must use what is left, then notice the window start over from
//! the API's own count, instead of waiting out a whole window it assumed.

use std::time::{Duration, Instant};

use super::support::{Emulator, Workdir};

fn accounts(n: usize) -> String {
    let mut hcl = String::from(
        "terraform {\n  required_providers {\n    rediscloud = {\n      source = \"redislabs/rediscloud\"\n    }\n  }\n}\n",
    );
    for i in 0..n {
        hcl.push_str(&format!(
            "\nresource \"rediscloud_cloud_account\" \"a{i}\" {{\n  name              = \"window-{i}\"\n  provider_type     = \"AWS\"\n  access_key_id     = \"AKIAWINDOW{i:04}\"\n  access_secret_key = \"secret-{i}\"\n  console_username  = \"console\"\n  console_password  = \"password\"\n  sign_in_login_url = \"https://123456789012.signin.aws.amazon.com/console\"\n}}\n"
        ));
    }
    hcl
}

/// The API's window here is 4 s long and opens at a key's first request; 60 requests fit in it.
/// The provider's own pacing assumes the real API's minute: only the API's count can tell it
/// when a window ended, and it asks, rather than waiting the minute out.
#[test]
fn a_window_spent_by_another_run_is_used_up_and_its_reset_noticed_without_waiting_a_minute() {
    let emulator = Emulator::start(&[
        "--rate-limit",
        "60",
        "--rate-window-ms",
        "4000",
        "--rate-window-start",
        "first_request",
        "--task-stage-ms",
        "10",
        "--activation-ms",
        "20",
        "--delete-ms",
        "10",
    ]);
    let mut w = Workdir::new("rate_window_back_to_back");
    for (k, v) in emulator.provider_env() {
        w = w.env(&k, &v);
    }
    w.write_config(&accounts(4));
    // Another run has just spent all but 5 of the window.
    assert_eq!(emulator.spend_rate(55), 5);
    let started = Instant::now();
    w.apply().assert_success();
    let apply = started.elapsed();
    // Right after, the destroy, in a window the apply left spent.
    let started = Instant::now();
    w.destroy().assert_success();
    let destroy = started.elapsed();
    assert_eq!(emulator.live_account_ids(), [1]);
    // Each run needs a few windows of 4 s; waiting out a minute once would take 60 s.
    for (what, took) in [("apply", apply), ("destroy", destroy)] {
        assert!(
            took < Duration::from_secs(40),
            "{what} took {took:?}: it waited for a window the API had already started over"
        );
    }
    eprintln!("rate window: apply {apply:?}, destroy {destroy:?}");
}

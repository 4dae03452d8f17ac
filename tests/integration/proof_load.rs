//! Load: one apply creates 100 cloud accounts at `-parallelism=20` against an emulator enforcing the
//! real limits (400 requests per minute per key, one task at a time), then one destroy removes them.
//!
//! 100 creates take about 300 requests and 100 deletes about 400, so the run crosses the
//! emulator's fixed one-minute window once (its length is not configurable): expect about a
//! minute of waiting for the window, and a few 429s that the client absorbs with the server's
//! retry-after. `PROOF_LOAD_ACCOUNTS=<n>` changes the count for a quicker local run.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::proof_faults::{assert_agreement, live_accounts, state_accounts, workdir_for};
use super::support::Emulator;

fn config(count: usize) -> String {
    format!(
        r#"
resource "rediscloud_cloud_account" "load" {{
  count             = {count}
  name              = "load-${{count.index}}"
  provider_type     = "AWS"
  access_key_id     = "AKIALOAD${{count.index}}"
  access_secret_key = "load-not-a-secret"
  console_username  = "load-console"
  console_password  = "load-not-a-password"
  sign_in_login_url = "https://123456789012.signin.aws.amazon.com/console"
}}
"#
    )
}

/// `(requests, 429s)` in a slice of the emulator's request log.
fn tally(requests: &[Value]) -> (usize, usize) {
    (
        requests.len(),
        requests.iter().filter(|r| r["status"] == 429).count(),
    )
}

#[test]
fn many_accounts_in_one_apply_then_one_destroy() {
    let count: usize = std::env::var("PROOF_LOAD_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let emulator = Emulator::start(&["--rate-limit", "400"]);
    // Generous: a run may wait out one or two server rate-limit windows.
    let workdir = workdir_for("proof_load", &emulator).timeout(Duration::from_secs(600));
    workdir.write_config(&config(count));

    let started = Instant::now();
    let apply = workdir.run(&[
        "apply",
        "-input=false",
        "-no-color",
        "-auto-approve",
        "-parallelism=20",
    ]);
    let apply_time = started.elapsed();
    assert!(apply.success(), "the load apply failed:\n{apply}");
    assert!(
        apply.stdout.contains(&format!(
            "Apply complete! Resources: {count} added, 0 changed, 0 destroyed."
        )),
        "{apply}"
    );
    let after_apply = emulator.requests();
    assert_eq!(state_accounts(&workdir).len(), count);
    assert_eq!(live_accounts(&emulator).len(), count);
    assert!(
        emulator
            .accounts()
            .iter()
            .filter(|a| a["id"] != 1)
            .all(|a| a["status"] == "active")
    );
    assert_agreement(&workdir, &emulator, true, "after the load apply");

    let started = Instant::now();
    let destroy = workdir.run(&[
        "destroy",
        "-input=false",
        "-no-color",
        "-auto-approve",
        "-parallelism=20",
    ]);
    let destroy_time = started.elapsed();
    assert!(destroy.success(), "the load destroy failed:\n{destroy}");
    assert!(
        destroy
            .stdout
            .contains(&format!("Destroy complete! Resources: {count} destroyed.")),
        "{destroy}"
    );
    assert!(state_accounts(&workdir).is_empty());
    assert!(
        live_accounts(&emulator).is_empty(),
        "accounts left: {:?}",
        live_accounts(&emulator)
    );

    let all = emulator.requests();
    let (apply_requests, apply_429) = tally(&after_apply);
    let (destroy_requests, destroy_429) = tally(&all[after_apply.len().min(all.len())..]);
    eprintln!(
        "proof_load: {count} accounts at -parallelism=20, 400 requests/min: \
         apply {apply_requests} requests ({apply_429} x 429) in {apply_time:.1?}; \
         destroy {destroy_requests} requests ({destroy_429} x 429) in {destroy_time:.1?}"
    );
    // The client paces itself below the server's limit: a 429 storm would show up here.
    let total_429 = apply_429 + destroy_429;
    assert!(
        total_429 * 20 <= apply_requests + destroy_requests,
        "too many 429s: {total_429}"
    );
}

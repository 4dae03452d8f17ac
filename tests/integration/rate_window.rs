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

/// An emulator whose windows of `length_ms` open at a key's first request and hold `limit`
/// requests, with millisecond task stages, and the flags in `more`.
fn small_windows_and(limit: &str, length_ms: &str, more: &[&str]) -> Emulator {
    let mut args = vec![
        "--rate-limit",
        limit,
        "--rate-window-ms",
        length_ms,
        "--rate-window-start",
        "first_request",
        "--task-stage-ms",
        "10",
        "--activation-ms",
        "20",
        "--delete-ms",
        "10",
    ];
    args.extend_from_slice(more);
    Emulator::start(&args)
}

fn small_windows(limit: &str, length_ms: &str) -> Emulator {
    small_windows_and(limit, length_ms, &[])
}

/// A working directory whose provider talks to `emulator`.
fn workdir_on(emulator: &Emulator, name: &str) -> Workdir {
    emulator
        .provider_env()
        .into_iter()
        .fold(Workdir::new(name), |w, (k, v)| w.env(&k, &v))
}

/// The API's window here is 4 s long and opens at a key's first request; 60 requests fit in it.
/// The provider's own pacing assumes the real API's minute: only the API's count can tell it
/// when a window ended, and it asks, rather than waiting the minute out.
#[test]
fn a_window_spent_by_another_run_is_used_up_and_its_reset_noticed_without_waiting_a_minute() {
    let emulator = small_windows("60", "4000");
    let w = workdir_on(&emulator, "rate_window_back_to_back");
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

/// Two workspaces apply at the same moment on one key whose window cannot hold both at once,
/// each two accounts at a time (`-parallelism=2`), so that each needs several windows. They
/// share nothing but the API's count, and each must keep creating while the other does:
/// neither may take the windows for itself until it is done, nor wait out a minute it assumed.
#[test]
fn two_workspaces_writing_on_one_key_at_once_both_make_progress() {
    let emulator = small_windows("30", "3000");
    let workspaces: Vec<(&str, Workdir)> = ["alpha", "beta"]
        .into_iter()
        .map(|name| {
            let w = workdir_on(&emulator, &format!("rate_window_{name}"))
                .env("TF_APPEND_USER_AGENT", &format!("workspace/{name}"));
            w.write_config(&named_accounts(name, 4));
            (name, w)
        })
        .collect();
    // Another client has spent part of the window.
    emulator.spend_rate(10);
    let started = Instant::now();
    let took: Vec<Duration> = std::thread::scope(|s| {
        let runs: Vec<_> = workspaces
            .iter()
            .map(|(_, w)| {
                s.spawn(move || {
                    w.run(&[
                        "apply",
                        "-input=false",
                        "-no-color",
                        "-auto-approve",
                        "-parallelism=2",
                    ])
                    .assert_success();
                    started.elapsed()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    // Creation order, from the API's account IDs: whose each account is.
    let mut created: Vec<(u64, String)> = emulator
        .accounts()
        .iter()
        .filter_map(|a| {
            let name = a.get("name")?.as_str()?;
            let workspace = ["alpha", "beta"]
                .into_iter()
                .find(|w| name.starts_with(w))?;
            Some((a.get("id")?.as_u64()?, workspace.to_owned()))
        })
        .collect();
    created.sort();
    let order: Vec<&str> = created.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(order.len(), 8, "accounts created: {order:?}");
    for (name, _) in &workspaces {
        let last_of_other = order.iter().rposition(|w| w != name).unwrap();
        let before = order[..last_of_other].iter().filter(|w| *w == name).count();
        assert!(
            before >= 2,
            "{name} created only {before} accounts before the other workspace's last one: it waited \
             for the other to finish ({order:?})"
        );
    }
    for t in &took {
        assert!(
            *t < Duration::from_secs(40),
            "an apply took {t:?}: it waited for a window the API had already started over"
        );
    }
    // Each workspace's requests carry its own User-Agent, and none was sent again before a 429's
    // retry-after had passed (within 100 ms of the 429's answer it was already on its way).
    let log = emulator.requests();
    let mut throttled = 0;
    for (name, _) in &workspaces {
        let tag = format!(" workspace/{name}");
        let mine = sent(&log, |r| {
            r["userAgent"].as_str().is_some_and(|ua| ua.ends_with(&tag))
        });
        assert!(
            mine.iter()
                .filter(|(.., s, _)| *s == 201 || *s == 202)
                .count()
                >= 4,
            "{name}'s creates are not in the log under its User-Agent: {:?}",
            log.iter()
                .filter_map(|r| r["userAgent"].as_str())
                .collect::<std::collections::BTreeSet<_>>()
        );
        throttled += every_429_honoured(name, &mine);
    }
    std::thread::scope(|s| {
        for (_, w) in &workspaces {
            s.spawn(move || {
                w.destroy().assert_success();
            });
        }
    });
    assert_eq!(emulator.live_account_ids(), [1]);
    eprintln!(
        "two workspaces at once: applies took {took:?}; creation order {order:?}; {throttled} × 429"
    );
}

/// One client's requests from the emulator's log: sent and answered (ms), status, retry-after.
type Sent = (u64, u64, u64, Option<u64>);

fn sent(log: &[serde_json::Value], of: impl Fn(&serde_json::Value) -> bool) -> Vec<Sent> {
    log.iter()
        .filter(|r| of(r))
        .map(|r| {
            let at = r["timeMs"].as_u64().unwrap();
            let answered = at + r["durationMs"].as_u64().unwrap_or(0);
            let status = r["status"].as_u64().unwrap_or(0);
            (at, answered, status, r["retryAfterMs"].as_u64())
        })
        .collect()
}

/// Asserts that `who` sent nothing after a 429 before its retry-after had passed (within 100 ms
/// of the 429's answer a request was already on its way); returns how many 429s it met.
fn every_429_honoured(who: &str, mine: &[Sent]) -> usize {
    let mut throttled = 0;
    for (_, answered, status, retry_after) in mine {
        if *status != 429 {
            continue;
        }
        throttled += 1;
        let until = answered + retry_after.expect("a 429 without retry-after");
        let early: Vec<u64> = mine
            .iter()
            .map(|(at, ..)| *at)
            .filter(|at| *at > answered + 100 && *at < until)
            .collect();
        assert!(
            early.is_empty(),
            "{who} sent again at {early:?} ms, before the retry-after of the 429 answered at \
             {answered} ms had passed ({until} ms)"
        );
    }
    throttled
}

/// The API may not send `X-Rate-Limit-Remaining` at all (the header is inferred, not
/// documented). Then a run paces itself by its own count, meets the API's 429s when the key
/// allows less than it assumed, honours every retry-after, and still finishes.
#[test]
fn without_the_remaining_count_a_run_works_from_429s_and_honours_every_retry_after() {
    let emulator = small_windows_and("8", "2000", &["--omit-rate-limit-remaining"]);
    let w = workdir_on(&emulator, "rate_window_no_header");
    w.write_config(&accounts(3));
    let started = Instant::now();
    w.apply().assert_success();
    w.destroy().assert_success();
    let took = started.elapsed();
    assert_eq!(emulator.live_account_ids(), [1]);
    let log = emulator.requests();
    let throttled = every_429_honoured("the run", &sent(&log, |_| true));
    assert!(
        throttled > 0,
        "no 429 at all: the key's 8 requests per 2 s never bound this run"
    );
    assert!(
        took < Duration::from_secs(60),
        "apply and destroy took {took:?}"
    );
    eprintln!("without the remaining count: {took:?}, {throttled} × 429, all honoured");
}

/// `n` accounts of their own for workspace `name`: names and access key IDs no other shares.
fn named_accounts(name: &str, n: usize) -> String {
    accounts(n)
        .replace("window-", &format!("{name}-"))
        .replace("AKIAWINDOW", &format!("AKIA{}", name.to_uppercase()))
}

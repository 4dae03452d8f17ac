//! Acceptance-test harness: drives the real `terraform` CLI against the built provider and a local emulator
//! (or the real API), in the style of terraform-plugin-testing.
//!
//! A typical test:
//!
//! ```ignore
//! let target = Target::from_env();
//! let workdir = Workdir::for_target("cloud_account_basic", &target);
//! run_steps(&target, &workdir, vec![
//!     Step::new(CONFIG).state_check(StateCheck::known_value("rediscloud_cloud_account.test", "status", json!("active"))),
//! ]);
//! ```

// Not every test module uses every helper or re-export.
#![allow(dead_code, unused_imports)]

mod emulator;
#[path = "../../../xtask/src/files.rs"]
pub mod files;
mod http;
#[path = "../../../xtask/src/emulator.rs"]
mod launcher;
mod shell;
mod steps;
mod target;
mod terraform;
#[path = "../../../xtask/src/tf_version.rs"]
mod tf_version;
pub mod tfcore;
mod workdir;

pub use emulator::{Emulator, emulator_bin};
pub use shell::Sandbox;
pub use steps::{
    CheckDestroy, CompareValue, ImportVerify, JsonCheck, PlanCheck, StateCheck, Step, TestCase,
    find_resource_values, no_accounts_left, resource_addresses, resource_changes, resource_values,
    run_steps, value_at,
};
pub use target::{RealApi, Target};
pub use terraform::{
    DEFAULT_TIMEOUT, MIN_TERRAFORM, TfOutput, run_command, strip_ansi, terraform,
    terraform_version, version_at_least,
};
pub use workdir::{PLAN_FILE, PROVIDER_BIN, Workdir};

/// Removes a test's scratch directory, or keeps it (and says where) when the test failed.
fn remove_unless_panicking(dir: &std::path::Path, what: &str) {
    if std::thread::panicking() {
        eprintln!("kept {what} for inspection: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! A scratch Terraform working directory per test, wired to the freshly built provider via `dev_overrides`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::target::Target;
use super::terraform::{DEFAULT_TIMEOUT, TfOutput, run_command, terraform};

/// The provider binary Cargo built for this test run.
pub const PROVIDER_BIN: &str = env!("CARGO_BIN_EXE_terraform-provider-rediscloud");

/// Name of the saved plan `run_steps` applies.
pub const PLAN_FILE: &str = "tfplan";

/// Variables from the caller's environment that must not reach Terraform or the provider: they could point the
/// run at another config, state or API account. `TF_LOG*` is kept so a developer can debug a failing test.
fn is_isolated_var(name: &str) -> bool {
    (name.starts_with("TF_") && !name.starts_with("TF_LOG")) || name.starts_with("REDISCLOUD_")
}

/// A fresh directory with its own CLI config; every Terraform command runs inside it.
///
/// The directory is removed on drop unless the test is failing, so its files can be inspected.
#[derive(Debug)]
pub struct Workdir {
    dir: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    /// Another Terraform than the one under test (the version matrix).
    terraform: Option<PathBuf>,
}

impl Workdir {
    /// A new empty directory named after `name` (usually the test name), without any provider environment.
    #[track_caller]
    pub fn new(name: &str) -> Workdir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("acc")
            .join(format!("{name}-{}-{unique}", std::process::id()));
        // A leftover from an earlier run with a recycled pid would otherwise leak state into this test.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
        let workdir = Workdir {
            dir,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            terraform: None,
        };
        workdir.write_file("cli.tfrc", &cli_config());
        workdir
    }

    /// A new directory whose provider environment points at `target`.
    #[track_caller]
    pub fn for_target(name: &str, target: &Target) -> Workdir {
        let mut workdir = Workdir::new(name);
        workdir.env.extend(target.provider_env());
        workdir
    }

    /// Adds an environment variable for every command (e.g. `TF_LOG=debug`).
    pub fn env(mut self, key: &str, value: &str) -> Workdir {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs every command with this Terraform binary instead of the one under test.
    pub fn with_terraform(mut self, terraform: &Path) -> Workdir {
        self.terraform = Some(terraform.to_owned());
        self
    }

    /// Replaces the per-command hard timeout.
    pub fn timeout(mut self, timeout: Duration) -> Workdir {
        self.timeout = timeout;
        self
    }

    /// Another fresh directory with the same environment (used for import verification).
    #[track_caller]
    pub fn sibling(&self, name: &str) -> Workdir {
        let mut other = Workdir::new(name);
        other.env = self.env.clone();
        other.timeout = self.timeout;
        other.terraform = self.terraform.clone();
        other
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes the configuration as `main.tf`.
    #[track_caller]
    pub fn write_config(&self, hcl: &str) {
        self.write_file("main.tf", hcl);
    }

    #[track_caller]
    pub fn write_file(&self, relative: &str, contents: &str) {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|err| panic!("creating {}: {err}", parent.display()));
        }
        fs::write(&path, contents)
            .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    }

    /// Runs `terraform <args>` here and returns what happened, without judging the exit code.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> TfOutput {
        let mut cmd = Command::new(self.terraform.as_deref().unwrap_or_else(|| terraform()));
        cmd.args(args).current_dir(&self.dir);
        for (key, _) in std::env::vars_os() {
            if is_isolated_var(&key.to_string_lossy()) {
                cmd.env_remove(key);
            }
        }
        cmd.env("TF_CLI_CONFIG_FILE", self.dir.join("cli.tfrc"))
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        run_command(&mut cmd, self.timeout)
    }

    /// `terraform init`. Not needed for the dev-overridden provider alone, but required for modules or other providers.
    #[track_caller]
    pub fn init(&self) -> TfOutput {
        self.run(&["init", "-input=false", "-no-color"])
    }

    #[track_caller]
    pub fn validate(&self) -> TfOutput {
        self.run(&["validate", "-no-color"])
    }

    /// `terraform plan` (exit 0 on success whether or not there are changes).
    #[track_caller]
    pub fn plan(&self) -> TfOutput {
        self.run(&["plan", "-input=false", "-no-color"])
    }

    /// `terraform plan -detailed-exitcode`: exit 0 = no changes, 2 = changes, 1 = error.
    #[track_caller]
    pub fn plan_detailed(&self) -> TfOutput {
        self.run(&["plan", "-input=false", "-no-color", "-detailed-exitcode"])
    }

    /// `terraform plan -out=<planfile>`.
    #[track_caller]
    pub fn plan_out(&self, planfile: &str) -> TfOutput {
        self.run(&[
            "plan",
            "-input=false",
            "-no-color",
            &format!("-out={planfile}"),
        ])
    }

    /// `terraform apply -auto-approve` (plans and applies in one go).
    #[track_caller]
    pub fn apply(&self) -> TfOutput {
        self.run(&["apply", "-input=false", "-no-color", "-auto-approve"])
    }

    /// Applies a plan saved by [`Workdir::plan_out`].
    #[track_caller]
    pub fn apply_plan(&self, planfile: &str) -> TfOutput {
        self.run(&[
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            planfile,
        ])
    }

    /// `terraform apply -refresh-only -auto-approve`: accept drift into state.
    #[track_caller]
    pub fn refresh(&self) -> TfOutput {
        self.run(&[
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            "-refresh-only",
        ])
    }

    #[track_caller]
    pub fn destroy(&self) -> TfOutput {
        self.run(&["destroy", "-input=false", "-no-color", "-auto-approve"])
    }

    /// `terraform import <address> <id>`.
    #[track_caller]
    pub fn import(&self, address: &str, id: &str) -> TfOutput {
        self.run(&["import", "-input=false", "-no-color", address, id])
    }

    /// The current state as `terraform show -json` prints it. Panics if the command fails.
    #[track_caller]
    pub fn show_json(&self) -> Value {
        parse_json(self.run(&["show", "-json", "-no-color"]))
    }

    /// A saved plan as `terraform show -json <planfile>` prints it. Panics if the command fails.
    #[track_caller]
    pub fn show_plan_json(&self, planfile: &str) -> Value {
        parse_json(self.run(&["show", "-json", "-no-color", planfile]))
    }

    /// `terraform output -json`. Panics if the command fails.
    #[track_caller]
    pub fn output_json(&self) -> Value {
        parse_json(self.run(&["output", "-json", "-no-color"]))
    }

    /// Raw text of `terraform.tfstate`, or `None` before the first apply (e.g. to check what is stored on disk).
    pub fn state_file(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("terraform.tfstate")).ok()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        super::remove_unless_panicking(&self.dir, "Terraform work directory");
    }
}

#[track_caller]
fn parse_json(output: TfOutput) -> Value {
    output.assert_success();
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("`{}` printed invalid JSON: {err}\n{output}", output.command))
}

/// CLI configuration that makes Terraform use the provider binary Cargo just built, with no registry lookup.
fn cli_config() -> String {
    let provider_dir = Path::new(PROVIDER_BIN).parent().unwrap_or(Path::new("."));
    let provider_dir = serde_json::to_string(&provider_dir.to_string_lossy()).unwrap_or_default();
    format!(
        "provider_installation {{\n  dev_overrides {{\n    \"redislabs/rediscloud\" = {provider_dir}\n  }}\n  direct {{}}\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_config_points_dev_overrides_at_the_built_provider() {
        let config = cli_config();
        let dir = Path::new(PROVIDER_BIN)
            .parent()
            .expect("provider binary has a directory");
        assert!(
            config.contains(&format!("\"redislabs/rediscloud\" = \"{}\"", dir.display())),
            "{config}"
        );
        assert!(config.contains("direct {}"), "{config}");
    }

    #[test]
    fn workdirs_are_unique_and_removed_on_drop() {
        let a = Workdir::new("unique");
        let b = a.sibling("unique");
        assert_ne!(a.path(), b.path());
        assert!(a.path().join("cli.tfrc").is_file());
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn caller_terraform_and_api_settings_are_isolated() {
        assert!(is_isolated_var("TF_CLI_CONFIG_FILE"));
        assert!(is_isolated_var("REDISCLOUD_SECRET_KEY"));
        assert!(!is_isolated_var("TF_LOG"));
        assert!(!is_isolated_var("TF_LOG_PROVIDER"));
        assert!(!is_isolated_var("PATH"));
    }
}

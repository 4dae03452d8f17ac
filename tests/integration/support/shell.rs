//! Runs documentation shell snippets as a reader would: bash in a fresh directory, with the Terraform under
//! test, the built provider and the emulator first on PATH, none of the caller's Terraform or Redis Cloud
//! settings, and a check that the snippet leaves no process running.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::emulator::emulator_bin;
use super::files::copy_tree;
use super::terraform::{TfOutput, drain, join, strip_ansi, terraform};
use super::workdir::PROVIDER_BIN;

/// Hard limit for one snippet: it may run several Terraform commands.
const SNIPPET_TIMEOUT: Duration = Duration::from_secs(240);

/// How long a snippet's background processes get to exit after the script itself has ended.
const LINGER: Duration = Duration::from_secs(3);

/// A scratch area: `work/` is the (initially empty) directory snippets run in; `bin/` holds `terraform`,
/// `terraform-provider-rediscloud` and `rediscloud-emulator`; `tmp/` is the snippets' `TMPDIR`. Removed on
/// drop unless the test is failing.
#[derive(Debug)]
pub struct Sandbox {
    root: PathBuf,
    env: Vec<(String, String)>,
}

impl Sandbox {
    #[track_caller]
    pub fn new(name: &str) -> Sandbox {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("snippets")
            .join(format!("{name}-{}-{unique}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for dir in ["work", "bin", "tmp"] {
            fs::create_dir_all(root.join(dir))
                .unwrap_or_else(|err| panic!("creating {}: {err}", root.join(dir).display()));
        }
        for (link, target) in [
            ("terraform", terraform()),
            ("terraform-provider-rediscloud", Path::new(PROVIDER_BIN)),
            ("rediscloud-emulator", emulator_bin()),
        ] {
            let target = fs::canonicalize(target)
                .unwrap_or_else(|err| panic!("resolving {}: {err}", target.display()));
            std::os::unix::fs::symlink(&target, root.join("bin").join(link))
                .unwrap_or_else(|err| panic!("linking {link}: {err}"));
        }
        Sandbox {
            root,
            env: Vec::new(),
        }
    }

    /// The directory snippets run in.
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// Sets an environment variable for every snippet (what the reader's shell is assumed to have).
    pub fn env(mut self, key: &str, value: &str) -> Sandbox {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Points Terraform at the built provider through `dev_overrides`, in a CLI configuration outside `work/`
    /// (what the README's "Running the emulator in a module's own CI" snippet sets up by itself).
    pub fn with_dev_overrides(self) -> Sandbox {
        let config = self.root.join("cli.tfrc");
        let bin =
            serde_json::to_string(&self.root.join("bin").to_string_lossy()).unwrap_or_default();
        fs::write(
            &config,
            format!(
                "provider_installation {{\n  dev_overrides {{\n    \"redislabs/rediscloud\" = {bin}\n  }}\n  direct {{}}\n}}\n"
            ),
        )
        .unwrap_or_else(|err| panic!("writing {}: {err}", config.display()));
        let config = config.to_string_lossy().into_owned();
        self.env("TF_CLI_CONFIG_FILE", &config)
    }

    /// Writes a file under `work/`.
    #[track_caller]
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.work().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|err| panic!("creating {}: {err}", parent.display()));
        }
        fs::write(&path, contents)
            .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    }

    /// Copies the repository's `examples/` to `work/examples`, as in a fresh clone.
    #[track_caller]
    pub fn copy_examples(&self) {
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
            &self.work().join("examples"),
        )
        .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Runs `script` with `bash --noprofile --norc -eo pipefail` (what GitHub Actions runs a `shell: bash` step
    /// with: a failing command fails the snippet) in `work/<dir>`, feeding it `stdin` (the answers a reader would
    /// type). Panics if it outlives [`SNIPPET_TIMEOUT`] or leaves a process running once it has ended.
    #[track_caller]
    pub fn run(&self, dir: &str, script: &str, stdin: &str) -> TfOutput {
        let file = self.root.join(format!(
            "snippet-{}.sh",
            COUNTER_RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        fs::write(&file, script).unwrap_or_else(|err| panic!("writing {}: {err}", file.display()));
        let cwd = self.work().join(dir);
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(&cwd);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("TF_") || key.starts_with("REDISCLOUD_") {
                cmd.env_remove(&*key);
            }
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.root.join("bin")];
        dirs.extend(std::env::split_paths(&path));
        cmd.env(
            "PATH",
            std::env::join_paths(dirs).unwrap_or_else(|err| panic!("PATH: {err}")),
        )
        .env("TMPDIR", self.root.join("tmp"))
        .env("CHECKPOINT_DISABLE", "1");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let command = format!(
            "bash {} (in {})\n{}",
            file.display(),
            cwd.display(),
            script.trim_end()
        );
        run_script(cmd, command, stdin)
    }
}

static COUNTER_RUNS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Sandbox {
    fn drop(&mut self) {
        super::remove_unless_panicking(&self.root, "snippet sandbox");
    }
}

#[track_caller]
fn run_script(mut cmd: Command, command: String, stdin: &str) -> TfOutput {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group: whatever the snippet starts in the background can be found and stopped.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|err| panic!("could not start `{command}`: {err}"));
    if let Some(mut pipe) = child.stdin.take() {
        // A snippet that never reads its input closes the pipe early; that is not an error.
        let _ = pipe.write_all(stdin.as_bytes());
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = started + SNIPPET_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(err) => panic!("waiting for `{command}`: {err}"),
        }
    };
    let group = child.id();
    let lingering = status.is_some() && !group_gone_within(group, LINGER);
    if status.is_none() || lingering {
        kill_group(&mut child, group);
    }
    let output = TfOutput {
        command,
        status: status.and_then(|s| s.code()),
        stdout: strip_ansi(&join(stdout)),
        stderr: strip_ansi(&join(stderr)),
        elapsed: started.elapsed(),
    };
    assert!(
        status.is_some(),
        "snippet timed out after {SNIPPET_TIMEOUT:?} and was killed:\n{output}"
    );
    assert!(
        !lingering,
        "the snippet left a process running (killed now); it must stop what it starts:\n{output}"
    );
    output
}

/// True once no process of the group is left (polled for at most `within`).
fn group_gone_within(group: u32, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        let alive = Command::new("kill")
            .args(["-0", "--", &format!("-{group}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !alive {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn kill_group(child: &mut Child, group: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_that_leaves_a_process_behind_fails() {
        let sandbox = Sandbox::new("shell_lingering");
        let result = std::panic::catch_unwind(|| sandbox.run("", "sleep 30 &\necho started\n", ""));
        let message = result
            .err()
            .and_then(|p| p.downcast::<String>().ok())
            .expect("a lingering-process panic");
        assert!(message.contains("left a process running"), "{message}");
        assert!(message.contains("started"), "{message}");
    }

    #[test]
    fn snippets_see_the_tools_first_on_path_and_no_caller_settings() {
        let sandbox = Sandbox::new("shell_path").env("GREETING", "hi");
        let out = sandbox.run(
            "",
            "command -v terraform rediscloud-emulator terraform-provider-rediscloud\necho \"$GREETING ${REDISCLOUD_URL:-unset} $PWD\"\nfalse\necho never\n",
            "",
        );
        assert_eq!(out.status, Some(1), "{out}");
        let bin = sandbox.root.join("bin");
        assert_eq!(
            out.stdout.lines().take(3).collect::<Vec<_>>(),
            [
                bin.join("terraform").to_string_lossy(),
                bin.join("rediscloud-emulator").to_string_lossy(),
                bin.join("terraform-provider-rediscloud").to_string_lossy()
            ]
        );
        assert!(
            out.stdout
                .contains(&format!("hi unset {}", sandbox.work().display())),
            "{out}"
        );
        assert!(
            !out.stdout.contains("never"),
            "-e stops at the first failure"
        );
    }
}

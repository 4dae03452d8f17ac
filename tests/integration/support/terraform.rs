//! Finding the real `terraform` binary and running it with a hard timeout, capturing its output.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use regex::Regex;

use super::tf_version::version_from_json;
pub use super::tf_version::{MIN_TERRAFORM, version_at_least};

/// Default hard limit for one Terraform command; generous because 2-core CI machines run tests in parallel.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The Terraform binary under test: `TF_ACC_TERRAFORM`, else `terraform` on PATH.
///
/// Panics (failing the calling test) when neither is a usable Terraform >= 1.14: these tests must never pass
/// silently without Terraform.
pub fn terraform() -> &'static Path {
    static FOUND: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    match FOUND.get_or_init(locate) {
        Ok((path, _)) => path,
        Err(why) => panic!(
            "{why}\nThese tests drive the real Terraform CLI. Run them with `cargo xtask test`, which installs a \
             suitable Terraform when needed, or set TF_ACC_TERRAFORM to a Terraform >= {}.{} binary.",
            MIN_TERRAFORM.0, MIN_TERRAFORM.1
        ),
    }
}

/// The `terraform_version` reported by [`terraform()`].
pub fn terraform_version() -> String {
    let output = run_command(
        Command::new(terraform())
            .args(["version", "-json"])
            .env("CHECKPOINT_DISABLE", "1"),
        DEFAULT_TIMEOUT,
    );
    output.assert_success();
    version_from_json(&output.stdout).unwrap_or_else(|| panic!("no version in {output}"))
}

fn locate() -> Result<(PathBuf, String), String> {
    let (path, origin) = match std::env::var_os("TF_ACC_TERRAFORM").filter(|p| !p.is_empty()) {
        Some(path) => (PathBuf::from(path), "TF_ACC_TERRAFORM"),
        None => (PathBuf::from("terraform"), "PATH"),
    };
    let output = Command::new(&path)
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| {
            format!(
                "No usable Terraform: running `{}` (from {origin}) failed: {err}.",
                path.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let version = version_from_json(&stdout)
        .filter(|_| output.status.success())
        .ok_or_else(|| {
            format!(
                "No usable Terraform: `{} version -json` (from {origin}) printed no version.",
                path.display()
            )
        })?;
    if !version_at_least(&version, MIN_TERRAFORM) {
        return Err(format!(
            "Terraform {version} at `{}` (from {origin}) is older than {}.{}.",
            path.display(),
            MIN_TERRAFORM.0,
            MIN_TERRAFORM.1
        ));
    }
    Ok((path, version))
}

/// What one command printed and how it ended. Output is stored with ANSI escapes removed.
#[derive(Debug, Clone)]
pub struct TfOutput {
    /// The command line, for failure messages.
    pub command: String,
    /// Exit code; `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Wall time, shown in failure messages to spot slow commands.
    pub elapsed: Duration,
}

impl TfOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// stdout then stderr, the text `expect_error` patterns are matched against.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded:\n{self}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.status, Some(code), "unexpected exit code:\n{self}");
        self
    }

    /// Asserts that stdout or stderr matches `pattern` (a regex).
    #[track_caller]
    pub fn assert_matches(&self, pattern: &str) -> &Self {
        let re = Regex::new(pattern).unwrap_or_else(|err| panic!("bad regex {pattern:?}: {err}"));
        assert!(
            re.is_match(&self.combined()),
            "output does not match /{pattern}/:\n{self}"
        );
        self
    }
}

impl std::fmt::Display for TfOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self
            .status
            .map_or_else(|| "killed".to_owned(), |c| c.to_string());
        writeln!(
            f,
            "$ {}  (exit {status}, {:.2?})",
            self.command, self.elapsed
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// Runs `cmd` to completion or until `timeout`, then kills it (and its process group) and panics with what it printed.
#[track_caller]
pub fn run_command(cmd: &mut Command, timeout: Duration) -> TfOutput {
    let command = describe(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Own process group, so a timeout also kills the provider plugins Terraform started.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|err| panic!("could not start `{command}`: {err}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let started = Instant::now();
    let deadline = started + timeout;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(err) => panic!("waiting for `{command}`: {err}"),
        }
    };
    let timed_out = status.is_none();
    if timed_out {
        kill_group(&mut child);
    }
    let output = TfOutput {
        command,
        status: status.and_then(|s| s.code()),
        stdout: strip_ansi(&join(stdout)),
        stderr: strip_ansi(&join(stderr)),
        elapsed: started.elapsed(),
    };
    if std::env::var_os("TF_ACC_TIMINGS").is_some() {
        eprintln!("[{:>6.2?}] {}", output.elapsed, output.command);
    }
    assert!(
        !timed_out,
        "command timed out after {timeout:?} and was killed:\n{output}"
    );
    output
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

pub(super) fn drain(
    pipe: Option<impl Read + Send + 'static>,
) -> Option<thread::JoinHandle<String>> {
    let mut pipe = pipe?;
    Some(thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error only truncates the captured text; the exit status still decides the outcome.
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }))
}

pub(super) fn join(handle: Option<thread::JoinHandle<String>>) -> String {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL|ST`, and two-byte escapes).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_ansi_removes_color_and_osc_sequences() {
        assert_eq!(
            strip_ansi("\u{1b}[1m\u{1b}[31mError:\u{1b}[0m bad"),
            "Error: bad"
        );
        assert_eq!(
            strip_ansi("a\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\b"),
            "alinkb"
        );
        assert_eq!(strip_ansi("plain ✓"), "plain ✓");
    }

    #[test]
    fn timeout_kills_the_command_and_reports_output() {
        let result = std::panic::catch_unwind(|| {
            run_command(
                Command::new("sh").args(["-c", "echo started; sleep 5"]),
                Duration::from_millis(200),
            )
        });
        let message = result
            .err()
            .and_then(|p| p.downcast::<String>().ok())
            .expect("a timeout panic");
        assert!(message.contains("timed out"), "{message}");
        assert!(message.contains("started"), "{message}");
    }
}

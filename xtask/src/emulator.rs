//! The one launcher of a `rediscloud-emulator` process: spawn it, relay its output, wait for its
//! start-up banner, kill it when dropped. xtask's bench and demo use it, and the integration
//! tests' harness includes this file (`#[path]`), so it needs nothing beyond std.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long an emulator may take to print its banner: generous, for loaded 2-core machines.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// What the emulator prints once it is listening: where, and the keys it accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Banner {
    /// `127.0.0.1:<port>`: the API under `/v1`, the admin API under `/admin`.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>/v1`, what `REDISCLOUD_URL` is set to.
    pub api_url: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for Banner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of Debug output even though they are the emulator's own throwaway ones.
        f.debug_struct("Banner")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl Banner {
    /// The provider environment pointing at this emulator: `REDISCLOUD_URL` and the two keys.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        vec![
            ("REDISCLOUD_URL".to_owned(), self.api_url.clone()),
            ("REDISCLOUD_ACCESS_KEY".to_owned(), self.access_key.clone()),
            ("REDISCLOUD_SECRET_KEY".to_owned(), self.secret_key.clone()),
        ]
    }
}

/// The banner as read so far, line by line.
#[derive(Default)]
struct BannerLines {
    addr: Option<SocketAddr>,
    api_url: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
    admin_seen: bool,
}

impl BannerLines {
    fn read(&mut self, line: &str) {
        let line = line.trim();
        if let Some(url) = line.strip_prefix("rediscloud-emulator listening on http://") {
            self.addr = url.trim_end_matches('/').parse().ok();
        } else if let Some(url) = line.strip_prefix("export REDISCLOUD_URL=") {
            self.api_url = Some(url.to_owned());
        } else if let Some(key) = line.strip_prefix("export REDISCLOUD_ACCESS_KEY=") {
            self.access_key = Some(key.to_owned());
        } else if let Some(key) = line.strip_prefix("export REDISCLOUD_SECRET_KEY=") {
            self.secret_key = Some(key.to_owned());
        } else if line.starts_with("admin API: http://") {
            self.admin_seen = true;
        }
    }

    /// The banner, once its last line (the admin API's address) has been read.
    fn complete(&self) -> Option<Banner> {
        if !self.admin_seen {
            return None;
        }
        Some(Banner {
            addr: self.addr?,
            api_url: self.api_url.clone()?,
            access_key: self.access_key.clone()?,
            secret_key: self.secret_key.clone()?,
        })
    }
}

/// A running emulator; killed and reaped when dropped. Started with a piped stdin and
/// `--exit-with-stdin`, it also exits by itself when its parent dies.
pub struct EmulatorProcess {
    child: Child,
    banner: Banner,
}

impl EmulatorProcess {
    /// Spawns `command`, whose stdout this takes over: every stdout line goes to `on_stdout`
    /// (the banner's too), and every stderr line to `on_stderr` when the command pipes stderr.
    /// Returns once the banner is complete; an emulator that exits first, or prints no banner
    /// within `timeout`, is killed, and the error says which.
    pub fn spawn(
        command: &mut Command,
        timeout: Duration,
        on_stdout: impl FnMut(String) + Send + 'static,
        on_stderr: impl FnMut(String) + Send + 'static,
    ) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {command:?}: {e}"))?;
        let (tx, rx) = mpsc::channel();
        relay_lines(child.stdout.take(), on_stdout, Some(tx));
        relay_lines(child.stderr.take(), on_stderr, None);
        let deadline = Instant::now() + timeout;
        let mut lines = BannerLines::default();
        let failure = loop {
            if let Some(banner) = lines.complete() {
                return Ok(EmulatorProcess { child, banner });
            }
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => lines.read(&line),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    break format!("printed no start-up banner within {timeout:?}");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break "exited before printing its start-up banner".to_owned();
                }
            }
        };
        let _ = child.kill();
        let status = child.wait();
        Err(format!(
            "the emulator {command:?} {failure} ({})",
            status.map_or_else(|e| e.to_string(), |s| s.to_string())
        ))
    }

    pub fn banner(&self) -> &Banner {
        &self.banner
    }

    /// Kills the process and waits for it, so that its port is free on return.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads lines until EOF on a thread of their own, so that the emulator never blocks on a full
/// pipe; each goes to `sink`, then (so that the sink has the whole banner when `spawn` returns)
/// to `tx` while someone listens.
fn relay_lines(
    pipe: Option<impl Read + Send + 'static>,
    mut sink: impl FnMut(String) + Send + 'static,
    tx: Option<mpsc::Sender<String>>,
) {
    let Some(pipe) = pipe else { return };
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink(line.clone());
            if let Some(tx) = &tx {
                let _ = tx.send(line);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_is_complete_only_with_every_line() {
        let mut lines = BannerLines::default();
        for line in [
            "rediscloud-emulator listening on http://127.0.0.1:4321",
            "export REDISCLOUD_URL=http://127.0.0.1:4321/v1",
            "export REDISCLOUD_ACCESS_KEY=ak",
            "export REDISCLOUD_SECRET_KEY=sk",
        ] {
            lines.read(line);
            assert!(lines.complete().is_none());
        }
        lines.read("admin API: http://127.0.0.1:4321/admin");
        let banner = lines.complete().expect("complete banner");
        assert_eq!(banner.addr.port(), 4321);
        assert_eq!(banner.api_url, "http://127.0.0.1:4321/v1");
        assert_eq!(
            banner.provider_env()[1..],
            [
                ("REDISCLOUD_ACCESS_KEY".to_owned(), "ak".to_owned()),
                ("REDISCLOUD_SECRET_KEY".to_owned(), "sk".to_owned())
            ]
        );
        assert!(!format!("{banner:?}").contains("sk"));
    }

    #[test]
    fn a_process_that_prints_no_banner_is_an_error() {
        let err = EmulatorProcess::spawn(
            Command::new("sh").args(["-c", "echo not an emulator"]),
            Duration::from_secs(10),
            |_| {},
            |_| {},
        )
        .err()
        .expect("no banner");
        assert!(err.contains("exited before printing"), "{err}");
    }
}

//! A running `rediscloud-emulator` process per test: startup handshake, admin API helpers, restart, kill on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http;
use super::launcher::{EmulatorProcess, STARTUP_TIMEOUT};

/// The emulator's binary, built from this checkout.
///
/// The emulator is a crate of its own, so Cargo builds its binary for this test run only with
/// the whole workspace (`cargo test --workspace`, which `cargo xtask test` runs): that binary,
/// next to this test's own directory, is used when it is newer than every source file of the
/// emulator. Otherwise (`cargo test -p terraform-provider-rediscloud` alone) it is built once
/// into a target directory of its own: the build directory of this run stays locked by the
/// Cargo that runs these tests.
pub fn emulator_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = format!("rediscloud-emulator{}", std::env::consts::EXE_SUFFIX);
        let test_exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/integration-… → target/<profile>
        let profile_dir = test_exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps");
        let built = profile_dir.join(&exe);
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/rediscloud-emulator");
        if is_newer_than_sources(&built, &sources) {
            return built;
        }
        let own_target = profile_dir.join("emulator-for-tests");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--quiet", "-p", "rediscloud-emulator", "--bin"])
            .arg("rediscloud-emulator")
            .arg("--target-dir")
            .arg(&own_target);
        if release {
            cargo.arg("--release");
        }
        let status = cargo
            .status()
            .expect("running cargo build -p rediscloud-emulator");
        assert!(
            status.success(),
            "cargo build -p rediscloud-emulator failed: {status}"
        );
        own_target
            .join(if release { "release" } else { "debug" })
            .join(exe)
    })
}

/// Whether `bin` exists and is newer than every file under `sources` and the lock file.
fn is_newer_than_sources(bin: &Path, sources: &Path) -> bool {
    fn modified(path: &Path) -> Option<std::time::SystemTime> {
        std::fs::metadata(path).and_then(|m| m.modified()).ok()
    }
    fn newest_under(dir: &Path) -> Option<std::time::SystemTime> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                if path.is_dir() {
                    newest_under(&path)
                } else {
                    modified(&path)
                }
            })
            .max()
    }
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    match (modified(bin), newest_under(sources).max(modified(&lock))) {
        (Some(built), Some(newest)) => built >= newest,
        _ => false,
    }
}

/// Millisecond latencies keep every asynchronous task visible to the provider while the suite stays fast.
const DEFAULT_ARGS: &[(&str, &str)] = &[
    ("--port", "0"),
    ("--task-stage-ms", "5"),
    ("--activation-ms", "10"),
    ("--delete-ms", "5"),
];

/// A child emulator process. Its stdout and stderr are collected for assertions; it is killed on drop.
pub struct Emulator {
    process: EmulatorProcess,
    /// Arguments as given to `start`, without the defaults (reapplied on restart).
    args: Vec<String>,
    state_file: Option<PathBuf>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of Debug output even though they are the emulator's own throwaway credentials.
        f.debug_struct("Emulator")
            .field("api_url", &self.api_url())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts an emulator on a free port. `args` are extra flags; a flag given here replaces its default
    /// (`--port 0 --task-stage-ms 5 --activation-ms 10 --delete-ms 5`).
    #[track_caller]
    pub fn start(args: &[&str]) -> Emulator {
        Self::spawn(args.iter().map(|a| (*a).to_owned()).collect(), None, None)
    }

    /// Like [`Emulator::start`], persisting state in `state_file` so that [`Emulator::restart`] keeps it.
    #[track_caller]
    pub fn start_with_state_file(state_file: &Path, args: &[&str]) -> Emulator {
        Self::spawn(
            args.iter().map(|a| (*a).to_owned()).collect(),
            Some(state_file.to_owned()),
            None,
        )
    }

    /// Kills the process and starts a new one on the same port with the same arguments and state file.
    ///
    /// Panics if the new process prints different credentials: the provider environment of existing work
    /// directories would no longer authenticate.
    #[track_caller]
    pub fn restart(&mut self) {
        self.process.kill();
        let next = Self::spawn(
            self.args.clone(),
            self.state_file.clone(),
            Some(self.port()),
        );
        assert!(
            next.access_key() == self.access_key() && next.secret_key() == self.secret_key(),
            "the restarted emulator issued different credentials; with --state-file they must persist"
        );
        *self = next;
    }

    #[track_caller]
    fn spawn(args: Vec<String>, state_file: Option<PathBuf>, port: Option<u16>) -> Emulator {
        let mut full: Vec<String> = Vec::new();
        for (flag, value) in DEFAULT_ARGS {
            if !args
                .iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
            {
                let value = match (*flag, port) {
                    ("--port", Some(port)) => port.to_string(),
                    _ => (*value).to_owned(),
                };
                full.extend([(*flag).to_owned(), value]);
            }
        }
        if let Some(path) = &state_file {
            full.extend([
                "--state-file".to_owned(),
                path.to_string_lossy().into_owned(),
            ]);
        }
        full.extend(args.iter().cloned());

        // A restart may race the old socket's release; retry a few times before giving up.
        let attempts = if port.is_some() { 5 } else { 1 };
        let mut failure = String::new();
        for attempt in 0..attempts {
            match Self::try_spawn(&full) {
                Ok(mut started) => {
                    started.args = args;
                    started.state_file = state_file;
                    return started;
                }
                Err(why) => failure = why,
            }
            thread::sleep(Duration::from_millis(20 * (attempt + 1)));
        }
        panic!("{failure}");
    }

    fn try_spawn(args: &[String]) -> Result<Emulator, String> {
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let collect = |sink: &Arc<Mutex<Vec<String>>>| {
            let sink = Arc::clone(sink);
            move |line| lock(&sink).push(line)
        };
        let started = EmulatorProcess::spawn(
            Command::new(emulator_bin())
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::piped()),
            STARTUP_TIMEOUT,
            collect(&stdout),
            collect(&stderr),
        );
        match started {
            Ok(process) => Ok(Emulator {
                process,
                args: Vec::new(),
                state_file: None,
                stdout,
                stderr,
            }),
            Err(why) => {
                thread::sleep(Duration::from_millis(10)); // let the stderr collector catch the last lines
                Err(format!(
                    "{why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    lock(&stdout).join("\n"),
                    lock(&stderr).join("\n")
                ))
            }
        }
    }

    /// Base URL of the emulated API, `http://127.0.0.1:<port>/v1` (what `REDISCLOUD_URL` is set to).
    pub fn api_url(&self) -> &str {
        &self.process.banner().api_url
    }

    pub fn access_key(&self) -> &str {
        &self.process.banner().access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.process.banner().secret_key
    }

    pub fn port(&self) -> u16 {
        self.process.banner().addr.port()
    }

    /// The provider environment pointing at this emulator.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        let mut env = self.process.banner().provider_env();
        // Longer than any task-404 window the tests configure (at most 2 s).
        env.push((
            "REDISCLOUD_TEST_VISIBILITY_GRACE_MS".to_owned(),
            "2500".to_owned(),
        ));
        env
    }

    /// Every stdout line the emulator printed so far (the banner included).
    pub fn stdout_lines(&self) -> Vec<String> {
        lock(&self.stdout).clone()
    }

    /// Every stderr line (logs) the emulator printed so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        lock(&self.stderr).clone()
    }

    /// `GET /admin/state`: the emulator's whole in-memory state.
    #[track_caller]
    pub fn state(&self) -> Value {
        self.admin("GET", "/admin/state", None)
    }

    /// `GET /admin/requests`: the API requests received, oldest first (`{method, path, status, ...}`; a bare
    /// array or `{"requests": [...]}`).
    #[track_caller]
    pub fn requests(&self) -> Vec<Value> {
        match self.admin("GET", "/admin/requests", None) {
            Value::Array(items) => items,
            Value::Object(mut map) => match map.remove("requests") {
                Some(Value::Array(items)) => items,
                _ => panic!(
                    "GET /admin/requests: no `requests` array in {}",
                    Value::Object(map)
                ),
            },
            other => panic!("GET /admin/requests: expected an array, got {other}"),
        }
    }

    /// Number of API writes (POST/PUT/DELETE outside `/admin`), e.g. to prove a no-op apply wrote nothing.
    #[track_caller]
    pub fn writes_count(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                let method = r.get("method").and_then(Value::as_str).unwrap_or_default();
                let path = r.get("path").and_then(Value::as_str).unwrap_or_default();
                matches!(method, "POST" | "PUT" | "DELETE") && !path.starts_with("/admin")
            })
            .count()
    }

    /// Calls the emulated REST API (`path` under `/v1`) with this emulator's keys, as a script or the Redis
    /// Cloud console would; panics unless it answers 2xx.
    #[track_caller]
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let full = format!("/v1{path}");
        let headers = [
            ("x-api-key", self.access_key()),
            ("x-api-secret-key", self.secret_key()),
        ];
        let response =
            http::request_with_headers(self.process.banner().addr, method, &full, body, &headers)
                .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            (200..300).contains(&response.status),
            "{method} {full} returned {}: {}",
            response.status,
            response.body
        );
        response
            .json()
            .unwrap_or_else(|err| panic!("{method} {full}: {err}"))
    }

    /// Creates a cloud account through the REST API, outside Terraform, and waits until it is `active`;
    /// returns its ID. Each account needs its own `access_key_id`.
    #[track_caller]
    pub fn create_account(&self, name: &str, provider: &str, access_key_id: &str) -> u64 {
        let task = self.api(
            "POST",
            "/cloud-accounts",
            Some(&json!({
                "name": name, "provider": provider, "accessKeyId": access_key_id,
                "accessSecretKey": format!("secret-of-{name}"), "consoleUsername": format!("console-{name}"),
                "consolePassword": format!("password-of-{name}"),
                "signInLoginUrl": "https://123456789012.signin.aws.amazon.com/console",
            })),
        );
        let task_id = task
            .get("taskId")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no taskId in {task}"))
            .to_owned();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            let task = self.api("GET", &format!("/tasks/{task_id}"), None);
            if let Some(id) = task.pointer("/response/resourceId").and_then(as_u64) {
                let account = self.api("GET", &format!("/cloud-accounts/{id}"), None);
                if account.get("status").and_then(Value::as_str) == Some("active") {
                    return id;
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("account {name} (task {task_id}) did not become active");
    }

    /// `PUT /admin/config`: change latencies or behaviour at run time.
    #[track_caller]
    pub fn config(&self, body: Value) -> Value {
        self.admin("PUT", "/admin/config", Some(&body))
    }

    /// `POST /admin/rate/spend`: another client of the key spends `count` requests of its current
    /// rate window; returns what the window has left.
    #[track_caller]
    pub fn spend_rate(&self, count: u32) -> u64 {
        self.admin(
            "POST",
            "/admin/rate/spend",
            Some(&serde_json::json!({"count": count})),
        )["remaining"]
            .as_u64()
            .expect("remaining")
    }

    /// `POST /admin/faults`: inject HTTP faults (e.g. a 429 or 500 for matching requests).
    #[track_caller]
    pub fn fault(&self, body: Value) -> Value {
        self.admin("POST", "/admin/faults", Some(&body))
    }

    /// `POST /admin/task-errors`: make matching asynchronous tasks end in `processing-error`.
    #[track_caller]
    pub fn task_errors(&self, body: Value) -> Value {
        self.admin("POST", "/admin/task-errors", Some(&body))
    }

    /// Another API client deletes account `id` through the REST API (`DELETE /v1/cloud-accounts/{id}`),
    /// as a console user or another workspace does; waits until the emulator has removed it.
    #[track_caller]
    pub fn delete_as_another_client(&self, id: u64) {
        let path = format!("/v1/cloud-accounts/{id}");
        let response = http::request_with_headers(
            self.process.banner().addr,
            "DELETE",
            &path,
            None,
            &[
                ("x-api-key", self.access_key()),
                ("x-api-secret-key", self.secret_key()),
            ],
        )
        .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            (200..300).contains(&response.status),
            "DELETE {path}: HTTP {}: {}",
            response.status,
            response.body
        );
        for _ in 0..500 {
            if !self.live_account_ids().contains(&id) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("account {id} was never deleted");
    }

    /// `POST /admin/accounts/{id}/status`: force an account's status (e.g. `"error"`).
    #[track_caller]
    pub fn set_status(&self, id: u64, status: &str) -> Value {
        self.admin(
            "POST",
            &format!("/admin/accounts/{id}/status"),
            Some(&json!({ "status": status })),
        )
    }

    /// The cloud account objects in [`Emulator::state`] (its `accounts` array), including the internal id 1.
    #[track_caller]
    pub fn accounts(&self) -> Vec<Value> {
        let state = self.state();
        match state.get("accounts") {
            Some(Value::Array(items)) => items.clone(),
            _ => panic!("GET /admin/state has no `accounts` array: {state}"),
        }
    }

    /// IDs of the accounts that still exist: those whose status is not `deleted` (a deleted account stays
    /// listed for `--delete-ms`, as in the real API).
    #[track_caller]
    pub fn live_account_ids(&self) -> Vec<u64> {
        self.accounts()
            .iter()
            .filter(|a| a.get("status").and_then(Value::as_str) != Some("deleted"))
            .map(|a| {
                a.get("id")
                    .and_then(as_u64)
                    .unwrap_or_else(|| panic!("account without a numeric id: {a}"))
            })
            .collect()
    }

    #[track_caller]
    fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let response = http::request(self.process.banner().addr, method, path, body)
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(
            (200..300).contains(&response.status),
            "{method} {path} returned {}: {}",
            response.status,
            response.body
        );
        response
            .json()
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"))
    }
}

/// Numbers may arrive as JSON numbers or numeric strings.
fn as_u64(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_str()?.parse().ok())
}

fn lock(lines: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    // A collector thread cannot panic while holding the lock, but recover the data anyway.
    lines
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

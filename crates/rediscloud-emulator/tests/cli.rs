//! The emulator's command line as module authors run it: it prints where it listens and the
//! provider's environment, and serves the API there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn the_binary_prints_its_url_and_the_provider_environment_then_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rediscloud-emulator"))
        .args(["--port", "0", "--exit-with-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting rediscloud-emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("UTF-8");
    let url = first
        .strip_prefix("rediscloud-emulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let rest: Vec<String> = lines.by_ref().take(3).map(|l| l.expect("UTF-8")).collect();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("export REDISCLOUD_URL=") && l.contains(&url)),
        "{rest:?}"
    );
    for var in ["REDISCLOUD_ACCESS_KEY", "REDISCLOUD_SECRET_KEY"] {
        assert!(
            rest.iter()
                .any(|l| l.starts_with(&format!("export {var}="))),
            "{var} missing from {rest:?}"
        );
    }
    // The API answers there, with the keys it printed.
    let addr = url.strip_prefix("http://").expect("an http URL");
    let mut stream = TcpStream::connect(addr).expect("connecting to the emulator");
    write!(
        stream,
        "GET /v1/cloud-accounts HTTP/1.1\r\nHost: {addr}\r\nx-api-key: emulator-access-key\r\nx-api-secret-key: emulator-secret-key\r\nConnection: close\r\n\r\n"
    )
    .expect("sending a request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reading the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("cloudAccounts"), "{answer}");
    // Closing stdin stops it (`--exit-with-stdin`).
    drop(child.stdin.take());
    let status = child.wait().expect("waiting for the emulator");
    assert!(status.success(), "{status}");
}

//! A minimal blocking HTTP/1.0 client for the emulator's admin API (loopback only, JSON bodies).
//!
//! HTTP/1.0 makes the server close the connection after one response, so the body is simply "read to EOF":
//! no chunked decoding and no extra dependency in the test binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response: status code and raw body text.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    /// The body parsed as JSON; `Value::Null` for an empty body.
    pub fn json(&self) -> Result<Value, String> {
        if self.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.body)
            .map_err(|err| format!("invalid JSON ({err}): {}", self.body))
    }
}

/// Sends one request with an optional JSON body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Response, String> {
    request_with_headers(addr, method, path, body, &[])
}

/// Sends one request with an optional JSON body and extra headers (e.g. API keys).
pub fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let fail =
        |what: &str, err: std::io::Error| format!("{method} http://{addr}{path}: {what}: {err}");
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| fail("connect", e))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| fail("configure", e))?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| fail("configure", e))?;

    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    stream
        .write_all(head.as_bytes())
        .map_err(|e| fail("write", e))?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| fail("read", e))?;
    parse_response(&raw).ok_or_else(|| {
        format!(
            "{method} http://{addr}{path}: malformed response: {}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    Some(Response {
        status,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let response =
            parse_response(b"HTTP/1.0 201 Created\r\ncontent-length: 2\r\n\r\n{}").expect("parsed");
        assert_eq!(response.status, 201);
        assert_eq!(response.json(), Ok(serde_json::json!({})));
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn round_trips_against_a_loopback_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut request = String::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with('}') {
                let n = conn.read(&mut buf).expect("read");
                assert!(n > 0, "client closed early: {request}");
                request.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            conn.write_all(b"HTTP/1.0 200 OK\r\n\r\n{\"ok\":true}")
                .expect("write");
            request
        });
        let response = request(
            addr,
            "PUT",
            "/admin/config",
            Some(&serde_json::json!({"a": 1})),
        )
        .expect("request");
        assert_eq!(response.json(), Ok(serde_json::json!({"ok": true})));
        let seen = server.join().expect("server thread");
        assert!(seen.starts_with("PUT /admin/config HTTP/1.0\r\n"), "{seen}");
        assert!(seen.ends_with("{\"a\":1}"), "{seen}");
    }
}

//! Client errors: one variant per outcome a caller must tell apart, and safe error-body excerpts.

use std::fmt;
use std::time::Duration;

use super::secret::REDACTED;

/// Everything that can go wrong talking to the Redis Cloud API.
///
/// Messages are built from response bodies (shortened, with credentials scrubbed) and never from
/// request bodies, so they cannot leak the secrets a request carried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The API said the entity does not exist: its 404 carried a `*_NOT_FOUND` error type (or a
    /// fresh list lacks it).
    #[error("{resource} was not found ({evidence})")]
    NotFound {
        resource: String,
        /// The API's error type, e.g. `CLOUD_ACCOUNT_NOT_FOUND`.
        error_type: String,
        /// What showed it, naming the request, e.g. `GET https://…/v1/cloud-accounts/7
        /// answered HTTP 404 CLOUD_ACCOUNT_NOT_FOUND`.
        evidence: String,
    },

    /// A 404 that does not say which entity is missing (a wrong base URL, a proxy, or an API
    /// answering without a body), or any 404 on a collection, which a right base URL always
    /// serves. It never proves that an account is gone.
    #[error("{}", unrecognised_not_found(.method, .url, .resource, .excerpt, *.collection))]
    UnrecognisedNotFound {
        method: String,
        /// The full URL, without any user information.
        url: String,
        resource: String,
        excerpt: String,
        /// The request was for a collection (`/cloud-accounts`, `/tasks`).
        collection: bool,
    },

    #[error("the Redis Cloud API rejected the request (HTTP {status}): {message}")]
    Validation { status: u16, message: String },

    #[error("the Redis Cloud API reported a conflict (HTTP 409): {message}")]
    Conflict { message: String },

    #[error(
        "authentication with the Redis Cloud API failed (HTTP 401): {message}; check the API key and secret key"
    )]
    Unauthorized { message: String },

    #[error("the Redis Cloud API denied access (HTTP 403): {message}")]
    Forbidden { message: String },

    #[error("rate limited by the Redis Cloud API (HTTP 429{}): {message}", retry_hint(.retry_after))]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },

    #[error("Redis Cloud API server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },

    #[error("could not reach the Redis Cloud API: {message}")]
    Transport { message: String },

    /// A write whose outcome is unknown: the request was sent and may have been applied
    /// (connection lost, 5xx, 408, or a timeout reading the answer).
    #[error("{method} {url} may or may not have been applied ({message})")]
    Ambiguous {
        method: String,
        /// The full URL, without any user information.
        url: String,
        message: String,
        /// When the request went out (after any rate-limit wait): what a reconciliation's
        /// grace counts from.
        sent_at: tokio::time::Instant,
    },

    #[error("{0}")]
    TaskFailed(Box<TaskFailure>),

    /// The account reached a status from which it will not become active on its own.
    #[error("cloud account {id} reached status \"{status}\"")]
    AccountStatus { id: i64, status: String },

    #[error("timed out waiting for {waiting_for}{}", last_status_hint(.last_status))]
    Timeout {
        waiting_for: String,
        last_status: Option<String>,
    },

    #[error("cancelled while waiting for {waiting_for}")]
    Cancelled { waiting_for: String },

    /// The delete ran, but the account settled in a status other than gone: Redis Cloud did
    /// not remove it.
    #[error(
        "the delete of cloud account {id} ran, but the account is in status \"{status}\": Redis Cloud did not remove it"
    )]
    NotDeleted { id: i64, status: String },

    /// The operation ended (its deadline, or StopProvider) before its write reached the API:
    /// nothing was changed.
    #[error("{0}; it was never sent, so nothing was changed")]
    NotSent(Box<Error>),

    /// A young account the API does not show yet: its absence is the API's lag, not evidence
    /// that it is gone.
    #[error(
        "cloud account {id} was created {age_s} s ago and the Redis Cloud API does not show it yet"
    )]
    NotVisibleYet { id: i64, age_s: u64 },

    #[error("could not decode the Redis Cloud API response: {message}")]
    Decode { message: String },

    #[error("invalid Redis Cloud client configuration: {message}")]
    Config { message: String },
}

impl Error {
    /// When an ambiguous write was sent.
    pub fn sent_at(&self) -> Option<tokio::time::Instant> {
        match self {
            Error::Ambiguous { sent_at, .. } => Some(*sent_at),
            _ => None,
        }
    }

    /// The API itself said the entity does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Any 404, proven or not: only good enough to keep waiting for something new.
    pub fn is_any_not_found(&self) -> bool {
        matches!(
            self,
            Error::NotFound { .. } | Error::UnrecognisedNotFound { .. }
        )
    }

    /// Whether a write that failed with this error was certainly not applied.
    pub fn is_definite(&self) -> bool {
        !matches!(self, Error::Ambiguous { .. })
    }

    /// The failed task's details, when this error is a task failure.
    pub fn task_failure(&self) -> Option<&TaskFailure> {
        match self {
            Error::TaskFailed(f) => Some(f),
            _ => None,
        }
    }

    /// Errors that may clear up on their own; a waiter keeps polling through them.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. } | Error::Server { .. } | Error::Transport { .. }
        )
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry after {:.1}s", d.as_secs_f64()),
        None => String::new(),
    }
}

/// The hint every wrong-URL 404 ends with.
pub(crate) const V1_HINT: &str = "does `url` / `REDISCLOUD_URL` end in `/v1`?";

fn unrecognised_not_found(
    method: &str,
    url: &str,
    resource: &str,
    excerpt: &str,
    collection: bool,
) -> String {
    if collection {
        format!(
            "{method} {url} answered HTTP 404 (response: {excerpt}), but the Redis Cloud API always serves this collection, so this base URL is not the API's; {V1_HINT}"
        )
    } else {
        format!(
            "{method} {url} answered HTTP 404 without saying that {resource} does not exist (response: {excerpt}); {V1_HINT}"
        )
    }
}

fn last_status_hint(last_status: &Option<String>) -> String {
    match last_status {
        Some(s) => format!(" (last status: {s})"),
        None => String::new(),
    }
}

/// A task that ended in `processing-error` (or carried an error), with every detail support needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFailure {
    pub task_id: String,
    pub command_type: Option<String>,
    pub status: String,
    pub description: Option<String>,
    pub error_type: Option<String>,
    pub error_status: Option<String>,
    pub error_description: Option<String>,
    pub additional_info: Option<String>,
    /// The `resourceId` the failed task still names: what it made before failing, if anything.
    pub resource_id: Option<i64>,
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The task ID comes first: Redis support asks for it, and the official provider omits it.
        write!(f, "Redis Cloud task {}", self.task_id)?;
        if let Some(c) = &self.command_type {
            write!(f, " ({c})")?;
        }
        write!(f, " failed with status {}", self.status)?;
        let mut detail = Vec::new();
        if let Some(s) = &self.error_status {
            detail.push(s.clone());
        }
        match (&self.error_type, &self.error_description) {
            (Some(t), Some(d)) => detail.push(format!("{t}: {d}")),
            (Some(t), None) => detail.push(t.clone()),
            (None, Some(d)) => detail.push(d.clone()),
            (None, None) => {}
        }
        if !detail.is_empty() {
            write!(f, ": {}", detail.join(" - "))?;
        }
        if let Some(i) = &self.additional_info {
            write!(f, " (additional info: {i})")?;
        }
        if detail.is_empty()
            && let Some(d) = &self.description
        {
            write!(f, ": {d}")?;
        }
        write!(
            f,
            ". Quote task ID {} when contacting Redis support.",
            self.task_id
        )
    }
}

/// Longest excerpt of a response body kept in an error message.
const EXCERPT_MAX_CHARS: usize = 300;

/// A short, printable summary of an error response body.
///
/// JSON bodies are reduced to their descriptive fields, HTML pages (nginx answers 401 this way)
/// to their title, everything else to collapsed text. Every occurrence of a `redact` value is
/// replaced, so a server echoing a credential cannot leak it into an error message: in the raw
/// body (as written, JSON-escaped or HTML-escaped), in every decoded JSON string, and in the
/// summary (where whitespace is collapsed and JSON is written out again).
pub(crate) fn body_excerpt(body: &[u8], redact: &[&str]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "(empty response body)".to_owned();
    }
    let forms = secret_forms(redact);
    let raw = scrub(trimmed, &forms);
    let summary = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(mut value) => {
            scrub_json(&mut value, &forms);
            json_summary(&value)
        }
        Err(_) if raw.starts_with('<') => html_summary(&raw),
        Err(_) => raw,
    };
    let clean = scrub(&collapse(&summary), &forms);
    truncate_chars(&clean, EXCERPT_MAX_CHARS)
}

/// Every form in which a body may carry one of `secrets`, longest first so that a form never
/// leaves a piece of a longer one behind. Secrets that are only whitespace are skipped.
fn secret_forms(secrets: &[&str]) -> Vec<String> {
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets.iter().filter(|s| !s.trim().is_empty()) {
        let quoted = serde_json::to_string(secret).unwrap_or_default();
        let json = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(&quoted);
        let html = |quote: &str, apostrophe: &str| {
            secret
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', quote)
                .replace('\'', apostrophe)
        };
        for form in [
            secret.to_string(),
            json.to_owned(),
            json.replace('/', "\\/"),
            html("&quot;", "&#39;"),
            html("&#34;", "&#x27;"),
            html("&#x22;", "&apos;"),
            collapse(secret),
        ] {
            if !form.trim().is_empty() && !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

fn scrub(text: &str, forms: &[String]) -> String {
    forms.iter().fold(text.to_owned(), |t, form| {
        t.replace(form.as_str(), REDACTED)
    })
}

fn scrub_json(value: &mut serde_json::Value, forms: &[String]) {
    match value {
        serde_json::Value::String(s) => *s = scrub(s, forms),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, forms)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, forms)),
        _ => {}
    }
}

fn json_summary(value: &serde_json::Value) -> String {
    let serde_json::Value::Object(map) = value else {
        return value.to_string();
    };
    let mut parts = Vec::new();
    for key in [
        "status",
        "type",
        "error",
        "message",
        "description",
        "detail",
    ] {
        match map.get(key) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => parts.push(s.clone()),
            Some(serde_json::Value::Number(n)) => parts.push(n.to_string()),
            Some(serde_json::Value::Object(inner)) => {
                for k in ["status", "type", "description", "message"] {
                    if let Some(serde_json::Value::String(s)) = inner.get(k) {
                        parts.push(s.clone());
                    }
                }
            }
            _ => {}
        }
    }
    // `{"status": "UNAUTHORIZED", "type": "UNAUTHORIZED"}` says it once.
    let mut said: Vec<String> = Vec::new();
    for part in parts {
        if !said.contains(&part) {
            said.push(part);
        }
    }
    if said.is_empty() {
        value.to_string()
    } else {
        said.join(" - ")
    }
}

fn html_summary(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>")) {
        let from = start + "<title>".len();
        if from <= end
            && let Some(title) = html.get(from..end)
        {
            return format!("HTML page: {}", title.trim());
        }
    }
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    format!("HTML page: {}", out.trim())
}

fn collapse(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_of_nginx_html_is_its_title() {
        let body = b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body><center><h1>401</h1></center><hr><center>nginx</center></body></html>";
        assert_eq!(
            body_excerpt(body, &[]),
            "HTML page: 401 Authorization Required"
        );
    }

    #[test]
    fn an_error_type_that_repeats_its_status_is_said_once() {
        let body = br#"{"error":{"type":"UNAUTHORIZED","status":"UNAUTHORIZED","description":"Authentication failed"}}"#;
        assert_eq!(
            body_excerpt(body, &[]),
            "UNAUTHORIZED - Authentication failed"
        );
    }

    #[test]
    fn excerpt_of_json_keeps_descriptive_fields_and_scrubs_credentials() {
        let body = br#"{"error":{"type":"BAD_REQUEST","status":"400 BAD_REQUEST","description":"key sk-123 invalid"}}"#;
        assert_eq!(
            body_excerpt(body, &["sk-123"]),
            "400 BAD_REQUEST - BAD_REQUEST - key *** invalid"
        );
    }

    #[test]
    fn an_echoed_secret_is_scrubbed_whatever_its_characters_and_the_body_s_encoding() {
        let secrets = [
            "pa\"ss",
            "C:\\tmp\\key",
            "two  spaces",
            "tab\there",
            " padded ",
            "a<b>&'c",
            "p/a\u{e9}ss",
        ];
        for secret in secrets {
            let escaped = serde_json::to_string(secret).unwrap();
            let html = secret
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('\'', "&#39;");
            // Forms a server may echo the value in: raw text, a JSON string (in an object the
            // summary does not know, in a known field, with every character \u-escaped and with
            // `/` escaped), and an HTML page.
            let unicode_escaped: String = secret
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect();
            let bodies = [
                format!("invalid password '{secret}'"),
                format!(r#"{{"errors":[{{"field":"consolePassword","value":{escaped}}}]}}"#),
                format!(r#"{{"error":{{"description":{escaped}}}}}"#),
                format!(r#"{{"message":"{unicode_escaped}"}}"#),
                format!(r#"{{"message":{}}}"#, escaped.replace('/', "\\/")),
                format!("<html><body>bad value {html}</body></html>"),
                format!("<html><head><title>{html}</title></head></html>"),
            ];
            for body in bodies {
                let got = body_excerpt(body.as_bytes(), &[secret]);
                let collapsed = collapse(secret);
                let inner = escaped.trim_matches('"');
                for form in [secret, collapsed.as_str(), inner, html.as_str()] {
                    assert!(
                        !got.contains(form.trim()) || form.trim().is_empty(),
                        "secret {secret:?} leaked as {form:?} from {body:?}: {got:?}"
                    );
                }
                assert!(got.contains(REDACTED), "{body:?} -> {got:?}");
            }
        }
    }

    #[test]
    fn excerpt_is_bounded_and_handles_empty_and_multibyte() {
        assert_eq!(body_excerpt(b"  ", &[]), "(empty response body)");
        let long = "é".repeat(1000);
        let got = body_excerpt(long.as_bytes(), &[]);
        assert_eq!(got.chars().count(), EXCERPT_MAX_CHARS + 1);
        assert!(got.ends_with('…'));
    }

    #[test]
    fn task_failure_display_names_task_and_error_details() {
        let f = TaskFailure {
            task_id: "e02b40d6-1395-4861-a3b9-ecf829d835fd".into(),
            command_type: Some("cloudAccountCreateRequest".into()),
            status: "processing-error".into(),
            description: Some("Task request failed during processing.".into()),
            error_type: Some("GENERAL_ERROR".into()),
            error_status: Some("500 INTERNAL_SERVER_ERROR".into()),
            error_description: Some("General error occurred".into()),
            additional_info: Some("rcp-cannot-provision-without-plan".into()),
            resource_id: None,
        };
        let s = Error::TaskFailed(Box::new(f)).to_string();
        assert_eq!(
            s,
            "Redis Cloud task e02b40d6-1395-4861-a3b9-ecf829d835fd (cloudAccountCreateRequest) failed with status processing-error: 500 INTERNAL_SERVER_ERROR - GENERAL_ERROR: General error occurred (additional info: rcp-cannot-provision-without-plan). Quote task ID e02b40d6-1395-4861-a3b9-ecf829d835fd when contacting Redis support."
        );
    }
}
